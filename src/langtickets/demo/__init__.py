"""The demo corpus generator: invented language families rendered as Wikipedia dumps and task data.

Related languages descend from a shared proto-lexicon through regular sound changes and share word
order and morphology; unrelated families differ in all of these (see :mod:`.grammar`). One
language-independent meaning (:mod:`.semantics`) rendered in every language (:mod:`.sentences`) gives
parallel text; :mod:`.dump`, :mod:`.tasks` and :mod:`.parallel` write the files; :mod:`.cli` is the
``make-demo`` stage.
"""

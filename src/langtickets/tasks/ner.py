"""NER readers: PAN-X/WikiANN (XTREME), MasakhaNER and other ``token TAG`` files, CoNLL-2003.

Every format yields :class:`TaggedSentence` records with IOB2 tags (``O``, ``B-TYPE``, ``I-TYPE``); one
sentence per blank-line-separated block.

* ``panx``: PAN-X as XTREME distributes it (Rahimi et al.'s files: ``lang:token<TAB>TAG``, e.g.
  ``en:Paris<TAB>B-LOC``) or already stripped (``token TAG``). The ``lang:`` prefix is removed when every
  token line of the file carries the same one (so a plain file whose tokens contain ``:`` is left alone);
  with ``language`` set, a prefixed file must carry that language.
* ``masakhaner`` / ``bio``: ``token TAG`` separated by a space or a tab (MasakhaNER, the demo corpus).
* ``conll2003``: four space-separated columns ``token POS chunk NER`` with ``-DOCSTART-`` lines between
  documents. The original release tags in IOB1 (an entity opens with ``I-``), so by default its tags are
  converted to IOB2, which leaves IOB2 files unchanged.

An ``I-X`` that does not continue an ``X`` entity (after ``O``, after ``B-Y``/``I-Y``, or at the start of a
sentence) is an error naming the line. With ``repair_bio=True`` it is read as ``B-X`` instead -- the way
conlleval and seqeval's default mode read it -- and counted as ``bio_repaired``. The published MasakhaNER
files contain a few such tags where a sentence break cuts an entity, so MasakhaNER needs the option.
``map_to_o`` turns whole entity types into ``O`` (the LT-SFT paper, section 4.3 note 2, maps MasakhaNER's DATE
and CoNLL-2003's MISC to O at train and test time), counted as ``mapped_to_o``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path

from langtickets.errors import InputError
from langtickets.io import open_text
from langtickets.tasks.records import TaggedSentence

NER_FORMATS: tuple[str, ...] = ("panx", "masakhaner", "bio", "conll2003")

_TAG = re.compile(r"^(O|[BI]-\S+)$")
_PREFIX = re.compile(r"^([a-z][a-z-]*):(.+)$", re.DOTALL)
_REPAIR_FIX = "set repair_bio: true (--repair-bio) to read it as B-{kind} (as conlleval does), or fix the tag"

Line = tuple[int, list[str]]  # (line number, columns)


def read_ner(
    path: str | Path,
    format: str = "panx",
    *,
    language: str | None = None,
    repair_bio: bool | None = None,
    map_to_o: Collection[str] = (),
    counts: Counter | None = None,
) -> list[TaggedSentence]:
    """Read an NER file of the given format (see the module docstring) into IOB2 sentences.

    ``repair_bio=None`` takes the format's default: off, except for ``conll2003`` (IOB1 -> IOB2).
    ``counts`` (if given) receives ``sentences``, ``words``, ``bio_repaired`` and ``mapped_to_o``.
    """
    if format not in NER_FORMATS:
        raise ValueError(f"unknown NER format {format!r}; choose one of {', '.join(NER_FORMATS)}")
    path = Path(path)
    counts = Counter() if counts is None else counts
    if format == "conll2003":
        blocks = _conll2003_blocks(path, counts)
    else:
        blocks = _two_column_blocks(path)
        if format == "panx":
            blocks = _strip_language_prefix(path, blocks, language)
    repair = (format == "conll2003") if repair_bio is None else repair_bio
    sentences = [_sentence(path, block, repair, map_to_o, counts) for block in blocks]
    if not sentences:
        raise InputError(path, "the file holds no sentences", "point the dataset at a non-empty NER file")
    counts["sentences"] += len(sentences)
    return sentences


def _read_blocks(path: Path) -> list[list[tuple[int, str]]]:
    if not path.is_file():
        raise InputError(path, "NER file not found", "check the dataset path in the config")
    blocks: list[list[tuple[int, str]]] = [[]]
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                blocks[-1].append((number, line))
            elif blocks[-1]:
                blocks.append([])
    return [block for block in blocks if block]


def _two_column_blocks(path: Path) -> list[list[Line]]:
    blocks = []
    for block in _read_blocks(path):
        lines = []
        for number, line in block:
            columns = line.split("\t") if "\t" in line else line.split()
            if len(columns) != 2 or not columns[0].strip():
                raise InputError(
                    path, f"expected 2 columns 'token TAG', found {len(columns)}",
                    "write one token and its tag per line, separated by a tab or a space", line=number,
                )  # fmt: skip
            lines.append((number, columns))
        blocks.append(lines)
    return blocks


def _conll2003_blocks(path: Path, counts: Counter) -> list[list[Line]]:
    blocks = []
    for block in _read_blocks(path):
        lines = []
        for number, line in block:
            columns = line.split()
            if columns and columns[0] == "-DOCSTART-":
                counts["documents"] += 1
                continue
            if len(columns) != 4:
                raise InputError(
                    path, f"expected 4 space-separated columns 'token POS chunk NER', found {len(columns)}",
                    "use format 'masakhaner' for 'token TAG' files, or fix the line", line=number,
                )  # fmt: skip
            lines.append((number, [columns[0], columns[3]]))
        if lines:
            blocks.append(lines)
    return blocks


def _strip_language_prefix(path: Path, blocks: list[list[Line]], language: str | None) -> list[list[Line]]:
    """Remove PAN-X's ``lang:`` token prefix when every token line carries the same one."""
    matches = [_PREFIX.match(columns[0]) for block in blocks for _, columns in block]
    prefixes = {match.group(1) if match else None for match in matches}
    if len(prefixes) != 1 or None in prefixes:
        return blocks
    prefix = prefixes.pop()
    if language is not None and prefix != language:
        raise InputError(
            path, f"tokens carry the language prefix '{prefix}:' but the dataset is for '{language}'",
            "point the dataset at the right language's file or fix its language", line=blocks[0][0][0],
        )  # fmt: skip
    cut = len(prefix) + 1
    return [[(number, [columns[0][cut:], columns[1]]) for number, columns in block] for block in blocks]


def _sentence(
    path: Path, block: list[Line], repair: bool, map_to_o: Collection[str], counts: Counter
) -> TaggedSentence:
    words = tuple(columns[0] for _, columns in block)
    lines = [number for number, _ in block]
    raw = [columns[1] for _, columns in block]
    tags = check_tags(raw, path, lines, repair=repair, map_to_o=map_to_o, counts=counts)
    counts["words"] += len(words)
    return TaggedSentence(words, tags)


def check_tags(
    tags: Sequence[str],
    path: str | Path,
    lines: Sequence[int],
    *,
    repair: bool = False,
    map_to_o: Collection[str] = (),
    counts: Counter | None = None,
) -> tuple[str, ...]:
    """Validate one sentence's tags as IOB2 (repairing stray ``I-X`` if asked), then map types to ``O``.

    ``lines[i]`` is the line (or row) of tag ``i``, named in the error. Mapping happens after validation, so
    dropping a type never hides an invalid sequence.
    """
    counts = Counter() if counts is None else counts
    result: list[str] = []
    previous = "O"
    for index, tag in enumerate(tags):
        if not _TAG.match(tag):
            raise InputError(
                path, f"tag {tag!r} is not IOB2", "use O, B-TYPE or I-TYPE (convert IOBES/BILOU tags first)",
                line=lines[index],
            )  # fmt: skip
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            if not repair:
                after = f"'{previous}'" if index else "the start of the sentence"
                raise InputError(
                    path, f"'{tag}' follows {after}: an IOB2 entity opens with B-{tag[2:]}",
                    _REPAIR_FIX.format(kind=tag[2:]), line=lines[index],
                )  # fmt: skip
            tag = "B-" + tag[2:]
            counts["bio_repaired"] += 1
        result.append(tag)
        previous = tag
    if map_to_o:
        mapped = ["O" if tag != "O" and tag[2:] in map_to_o else tag for tag in result]
        counts["mapped_to_o"] += sum(a != b for a, b in zip(result, mapped))
        result = mapped
    return tuple(result)

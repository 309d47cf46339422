"""One demo language's grammar: its lexicon (proto-forms through sound changes), morphology and syntax.

A language is fully determined by (seed, family, genus, code, script) and the family's position in the
language table: families are numbered in order of first appearance, and the first three get contrasting
typologies (SVO/prepositions/suffixes with articles and contractions; SOV/postpositions/accusative case;
VSO/prepositions/prefixes), later ones draw theirs from the seed. Everything else comes from seeds
derived from the names, so a language is the same whether it is generated alone or with others.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field

from langtickets.demo.lexicon import FamilyLexicon, family_lexicon
from langtickets.demo.phonology import VOWELS, SoundChange, check_script, evolve, make_sound_changes, spell
from langtickets.languages import LanguageTable
from langtickets.seeding import derive_seed

#: sound changes per branch: a genus makes strong (unconditioned) and mild ones, a language mild ones only,
#: so sisters stay closer than cousins
GENUS_STRONG_CHANGES = 2
GENUS_MILD_CHANGES = 1
LANGUAGE_CHANGES = 2
#: share of open-class concepts each language renames (lexical replacement) and the classes it affects
INNOVATION_RATE = 0.08
INNOVATING = ("noun", "person_noun", "verb", "iverb", "adj", "adv")
#: categories written with a capital letter (names)
PROPER = frozenset({"given", "surname", "place", "orgname", "orgtype", "month"})


@dataclass(frozen=True)
class Typology:
    """Word order and morphology shared by a family."""

    order: str  # "SVO" | "SOV" | "VSO"
    adposition: str  # "pre" | "post"
    affixation: str  # "suffix" | "prefix"
    det: str  # determiner "before" | "after" the noun
    definite_article: bool
    adj: str  # adjective "before" | "after" the noun
    case: bool  # accusative affix on the object
    contraction: bool  # preposition + definite article fuse into one word (a UD multiword token)
    neg: str  # negation particle "before" | "after" the verb


_TYPOLOGIES = (
    Typology("SVO", "pre", "suffix", "before", True, "after", False, True, "before"),
    Typology("SOV", "post", "suffix", "before", False, "before", True, False, "after"),
    Typology("VSO", "pre", "prefix", "after", True, "after", False, False, "before"),
)


def make_typology(rng: random.Random, index: int) -> Typology:
    """The typology of the ``index``-th family of the table (0-based)."""
    if index < len(_TYPOLOGIES):
        return _TYPOLOGIES[index]
    order = rng.choice(("SVO", "SOV", "VSO"))
    return Typology(
        order=order,
        adposition="post" if order == "SOV" else "pre",
        affixation=rng.choice(("suffix", "prefix")),
        det=rng.choice(("before", "after")),
        definite_article=rng.random() < 0.6,
        adj=rng.choice(("before", "after")),
        case=rng.random() < 0.5,
        contraction=False,
        neg=rng.choice(("before", "after")),
    )


@dataclass
class Grammar:
    """Surface forms of one language; forms are computed on first use and cached."""

    code: str
    script: str
    typology: Typology
    proto: FamilyLexicon
    changes: tuple[SoundChange, ...]
    innovations: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)
    _function: dict[str, str] = field(default_factory=dict, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def _surface(self, phonemes: str, proper: bool) -> str:
        text = spell(evolve(phonemes, self.changes), self.script)
        return text[:1].upper() + text[1:] if proper else text

    def word(self, category: str, rank: int, affixes: tuple[str, ...] = ()) -> str:
        """The inflected form of a content word or name (``affixes`` names from lexicon.AFFIXES)."""
        key = (category, rank, affixes)
        form = self._cache.get(key)
        if form is None:
            stem = self.innovations.get((category, rank)) or self.proto.words[category][rank]
            morphs = "".join(self.proto.affixes[name] for name in affixes)
            phonemes = stem + morphs if self.typology.affixation == "suffix" else morphs + stem
            form = self._cache[key] = self._surface(phonemes, category in PROPER)
        return form

    def lemma(self, category: str, rank: int) -> str:
        """The citation form (uninflected stem)."""
        return self.word(category, rank)

    def function(self, name: str) -> str:
        """A closed-class word (lexicon.FUNCTION_WORDS), never homophonous with another one."""
        if not self._function:
            self._function.update(self._function_words())
        return self._function[name]

    def _function_words(self) -> dict[str, str]:
        # Sound changes can merge two function words (say negation with a preposition), which would make
        # negation ambiguous. Like real grammatical words that resist a change, the later word keeps its
        # older form, or failing that gets an extra vowel.
        forms: dict[str, str] = {}
        for name, proto in self.proto.function.items():
            form = self._surface(proto, False)
            candidates = [form, spell(proto, self.script)]
            candidates += [form + spell(vowel, self.script) for vowel in self.proto.phonotactics.vowels]
            forms[name] = next((c for c in candidates if c not in forms.values()), form + form)
        return forms

    def contraction(self, first: str, second: str) -> str:
        """The fused form of two function words (e.g. preposition + article, like French 'du')."""
        key = ("fused", first, second)
        form = self._cache.get(key)
        if form is None:
            a, b = self.proto.function[first], self.proto.function[second]
            # Drop the vowel where the words meet, then let the language's sound changes act on it.
            fused = a[:-1] + b if a[-1] in VOWELS and len(a) > 2 else a + b[-1]
            form = self._cache[key] = self._surface(fused, False)
        return form


def family_index(table: LanguageTable, family: str) -> int:
    """Position of ``family`` among the table's families, in order of first appearance."""
    families: list[str] = []
    for row in table:
        if row.family not in families:
            families.append(row.family)
    return families.index(family)


def _proto_words(lexicon: FamilyLexicon) -> list[str]:
    return [word for forms in lexicon.words.values() for word in forms] + list(lexicon.function.values())


def genus_changes(seed: int, lexicon: FamilyLexicon, genus: str) -> tuple[SoundChange, ...]:
    """The ordered sound changes from the family's proto-language to ``genus``'s proto-language."""
    rng = random.Random(derive_seed(seed, "demo-genus", lexicon.family, genus))
    words = _proto_words(lexicon)
    strong = make_sound_changes(rng, words, GENUS_STRONG_CHANGES, strong=True)
    evolved = [evolve(word, strong) for word in words]
    return strong + make_sound_changes(rng, evolved, GENUS_MILD_CHANGES, strong=False, exclude=strong)


def language_changes(seed: int, lexicon: FamilyLexicon, genus: str, code: str) -> tuple[SoundChange, ...]:
    """The genus's changes followed by the language's own (mild, conditioned ones)."""
    inherited = genus_changes(seed, lexicon, genus)
    rng = random.Random(derive_seed(seed, "demo-language", lexicon.family, genus, code))
    evolved = [evolve(word, inherited) for word in _proto_words(lexicon)]
    return inherited + make_sound_changes(rng, evolved, LANGUAGE_CHANGES, strong=False, exclude=inherited)


def lexical_innovations(seed: int, lexicon: FamilyLexicon, genus: str, code: str) -> dict[tuple[str, int], str]:
    """Concepts for which the language coined a new word instead of inheriting the proto-form.

    Replacement hits open-class words only (names are stable) and guarantees that sister languages
    differ even where their sound changes happen to coincide.
    """
    rng = random.Random(derive_seed(seed, "demo-innovations", lexicon.family, genus, code))
    taken = set(_proto_words(lexicon))
    new: dict[tuple[str, int], str] = {}
    for category in INNOVATING:
        for rank in range(len(lexicon.words[category])):
            if rng.random() < INNOVATION_RATE:
                word = lexicon.phonotactics.word(rng, 2)
                if word not in taken:
                    taken.add(word)
                    new[category, rank] = word
    return new


@functools.lru_cache(maxsize=64)
def _grammar(seed: int, code: str, family: str, genus: str, script: str, index: int) -> Grammar:
    typology = make_typology(random.Random(derive_seed(seed, "demo-typology", family)), index)
    lexicon = family_lexicon(seed, family, index if index < len(_TYPOLOGIES) else None)
    changes = language_changes(seed, lexicon, genus, code)
    return Grammar(code, script, typology, lexicon, changes, lexical_innovations(seed, lexicon, genus, code))


def build_grammar(table: LanguageTable, code: str, seed: int) -> Grammar:
    """The grammar of language ``code`` of ``table`` (an unknown code is a ConfigError naming the table)."""
    row = table[code]
    check_script(row.script, f"{table.path} (language '{code}')")
    return _grammar(seed, row.code, row.family, row.genus, row.script, family_index(table, row.family))

"""Concepts every demo language can name, and each family's proto-lexicon of them.

The concept inventory is language-independent: a concept is a category plus a frequency rank (0 = the
most frequent), so one semantic representation can be rendered in every language. Each family draws a
proto-form for every concept from its own phonotactics, seeded by (seed, family) alone, so a family's
words never depend on which other languages are generated. Frequent words get shorter proto-forms
(Zipf's law of abbreviation).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from langtickets.demo.phonology import Phonotactics, make_phonotactics
from langtickets.seeding import derive_seed

#: open classes and name stems: category -> number of concepts (indices are frequency ranks)
CATEGORIES: dict[str, int] = {
    "noun": 320,  # common nouns (things, places, abstract)
    "person_noun": 48,  # nouns for people (agents): teacher, farmer ...
    "verb": 110,  # transitive verbs
    "iverb": 30,  # intransitive verbs
    "adj": 90,
    "adv": 24,
    "given": 96,  # given names (PER)
    "surname": 120,  # family names (PER)
    "place": 160,  # place names (LOC)
    "orgname": 64,  # organisation name stems (ORG, with an organisation-type noun)
    "orgtype": 12,  # company, union, university ...
    "month": 12,  # month names (DATE)
}

#: closed-class words; every family has a proto-form for each, even where its syntax leaves one unused
FUNCTION_WORDS: tuple[str, ...] = (
    "DEF", "INDEF", "IN", "DURING", "NEG", "AND", "BUT",
    "NUM2", "NUM3", "NUM4", "NUM5", "NUM6", "NUM7", "NUM8", "NUM9",
)

#: inflectional affixes every family has (PRES may come out empty, like English present tense)
AFFIXES: tuple[str, ...] = ("PLUR", "ACC", "PAST", "PRES", "FUT")


@dataclass(frozen=True)
class FamilyLexicon:
    """A family's proto-language: a proto-form per concept, function word and affix."""

    family: str
    phonotactics: Phonotactics
    words: dict[str, tuple[str, ...]]  # category -> proto-forms by rank
    function: dict[str, str]
    affixes: dict[str, str]


def _syllables(category: str, rank: int, rng: random.Random) -> int:
    if category in {"given", "orgtype"}:
        return 2
    if category in {"surname", "place", "orgname", "month"}:
        return rng.choice((2, 2, 3))
    if rank < 12:
        return rng.choice((1, 2))
    if rank < 80:
        return 2
    return rng.choice((2, 3, 3))


def _unique_word(rng: random.Random, phon: Phonotactics, syllables: int, taken: set[str]) -> str:
    # Retry with one more syllable after a few collisions, so tiny inventories still terminate.
    for attempt in range(40):
        word = phon.word(rng, syllables + attempt // 10)
        if word not in taken and len(word) >= 2:
            taken.add(word)
            return word
    raise RuntimeError(f"could not draw a fresh word of {syllables} syllables")  # pragma: no cover


def _affix(rng: random.Random, phon: Phonotactics, taken: set[str]) -> str:
    # Affixes are a consonant plus a vowel (or the reverse for suffixes starting with a vowel), so they
    # attach without creating impossible clusters and stay distinct from each other.
    while True:
        consonant = rng.choice(phon.consonants)
        vowel = rng.choice(phon.vowels)
        affix = consonant + vowel if rng.random() < 0.6 else vowel + consonant
        if affix not in taken:
            taken.add(affix)
            return affix


@functools.lru_cache(maxsize=32)
def family_lexicon(seed: int, family: str, profile: int | None) -> FamilyLexicon:
    """The proto-lexicon of ``family`` (cached: the languages of a family share it)."""
    rng = random.Random(derive_seed(seed, "demo-family", family))
    phon = make_phonotactics(rng, profile)
    taken: set[str] = set()
    function = {name: _unique_word(rng, phon, 1, taken) for name in FUNCTION_WORDS}
    words = {
        category: tuple(_unique_word(rng, phon, _syllables(category, rank, rng), taken) for rank in range(size))
        for category, size in CATEGORIES.items()
    }
    affix_taken: set[str] = set()
    affixes = {name: _affix(rng, phon, affix_taken) for name in AFFIXES}
    if rng.random() < 0.5:
        affixes["PRES"] = ""
    return FamilyLexicon(family, phon, words, function, affixes)

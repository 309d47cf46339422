"""Sounds of the demo languages: phonotactics, word shapes, regular sound changes and spelling.

Words are handled as strings of one-character phoneme symbols (``c`` is /ts/, ``š`` /sh/, ``ŋ`` /ng/ ...)
so that sound changes are plain regular-expression rewrites; spelling into Latin or Cyrillic letters
happens only at the very end (:func:`spell`). Every family gets its own consonant and vowel inventory and
syllable shapes, so unrelated families differ in phonotactics; related languages descend from one
proto-form through ordered, regular rules (one list per genus, one per language), which keeps cognates
recognisable within a genus and less so across the family.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from langtickets.errors import ConfigError

VOWELS = "aeiouəyɛɔ"
FRONT_VOWELS = "eiyɛ"
STOPS_VOICELESS = "ptk"
STOPS_VOICED = "bdg"
LIQUIDS = "lr"
NASALS = "mnŋ"
CONSONANTS = "ptkbdgmnŋfvszšžxhlrjwčc"

#: phoneme -> letters, per ISO 15924 script code
SPELLING: dict[str, dict[str, str]] = {
    "Latn": {
        "a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "ə": "ë", "y": "ü", "ɛ": "é", "ɔ": "ó",
        "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "g", "m": "m", "n": "n", "ŋ": "ng",
        "f": "f", "v": "v", "s": "s", "z": "z", "š": "sh", "ž": "zh", "x": "kh", "h": "h", "l": "l",
        "r": "r", "j": "j", "w": "w", "č": "ch", "c": "ts",
    },
    "Cyrl": {
        "a": "а", "e": "е", "i": "и", "o": "о", "u": "у", "ə": "ы", "y": "ю", "ɛ": "э", "ɔ": "ё",
        "p": "п", "t": "т", "k": "к", "b": "б", "d": "д", "g": "г", "m": "м", "n": "н", "ŋ": "нг",
        "f": "ф", "v": "в", "s": "с", "z": "з", "š": "ш", "ž": "ж", "x": "х", "h": "һ", "l": "л",
        "r": "р", "j": "й", "w": "ў", "č": "ч", "c": "ц",
    },
}

# Three contrasting phonotactic profiles; the first families of a table get them in turn so the demo's
# families are guaranteed to differ (later families draw a profile from their seed).
_PROFILES: tuple[dict, ...] = (
    {  # open syllables, liquids, few clusters
        "core_consonants": "ptkmnlrsv",
        "extra_consonants": "bdgfjhw",
        "vowels": "aeiou",
        "extra_vowels": "ə",
        "shapes": {"CV": 6, "CVC": 2, "V": 1, "CCV": 1},
        "codas": "nlrs",
    },
    {  # heavy codas, sibilants and affricates
        "core_consonants": "tkdgmnrzšžčx",
        "extra_consonants": "pbvslcj",
        "vowels": "aeiuoə",
        "extra_vowels": "y",
        "shapes": {"CVC": 5, "CV": 3, "CCVC": 1, "VC": 1},
        "codas": "tkrnmšxz",
    },
    {  # vowel-rich, no codas but nasals
        "core_consonants": "pthmnlw",
        "extra_consonants": "kfrsj",
        "vowels": "aiouɛɔ",
        "extra_vowels": "e",
        "shapes": {"CV": 6, "V": 2, "CVV": 2, "CVN": 1},
        "codas": "n",
    },
)


@dataclass(frozen=True)
class Phonotactics:
    """A family's sound inventory and syllable shapes (C consonant, V vowel, N nasal coda)."""

    consonants: str
    vowels: str
    codas: str
    shapes: tuple[str, ...]
    shape_weights: tuple[float, ...]

    def syllable(self, rng: random.Random, first: bool) -> str:
        """One syllable; vowel-initial shapes only start a word, so vowels never clash inside it."""
        shape = rng.choices(self.shapes, weights=self.shape_weights)[0]
        while not first and shape[0] == "V":
            shape = rng.choices(self.shapes, weights=self.shape_weights)[0]
        onset = len(shape) - len(shape.lstrip("C"))
        rest = shape[onset:]
        nucleus = len(rest) - len(rest.lstrip("V"))
        out = []
        if onset == 2:  # obstruent + liquid, the commonest onset cluster type across languages
            out.append(rng.choice([c for c in self.consonants if c not in LIQUIDS + NASALS] or ["t"]))
            out.append(rng.choice([c for c in self.consonants if c in LIQUIDS] or ["r"]))
        elif onset == 1:
            out.append(rng.choice(self.consonants))
        out.extend(rng.sample(self.vowels, k=nucleus))  # distinct vowels: no long-vowel digraphs
        coda = rest[nucleus:]
        if coda == "N":
            out.append("n")
        elif coda:
            out.append(rng.choice(self.codas))
        return "".join(out)

    def word(self, rng: random.Random, syllables: int) -> str:
        """A word of ``syllables`` syllables following the family's phonotactics."""
        return "".join(self.syllable(rng, index == 0) for index in range(syllables))


def make_phonotactics(rng: random.Random, profile: int | None) -> Phonotactics:
    """Draw a family's phonotactics: a fixed contrasting profile (when given) plus seeded extras."""
    base = _PROFILES[profile % len(_PROFILES)] if profile is not None else rng.choice(_PROFILES)
    extras = rng.sample(base["extra_consonants"], k=rng.randint(2, 4))
    consonants = "".join(sorted(set(base["core_consonants"]) | set(extras)))
    vowels = base["vowels"] + (base["extra_vowels"] if rng.random() < 0.5 else "")
    shapes = tuple(base["shapes"])
    weights = tuple(weight * rng.uniform(0.8, 1.25) for weight in base["shapes"].values())
    return Phonotactics(consonants, vowels, base["codas"], shapes, weights)


# --- sound changes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoundChange:
    """One regular sound change: ``pattern`` rewritten to ``replacement`` everywhere it matches."""

    name: str
    pattern: str
    replacement: str
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    def apply(self, word: str) -> str:
        new = self.regex.sub(self.replacement, word)
        if new == word:
            return word
        # A change never empties a word or strips all its vowels (that would merge too many words).
        if len(new) < 2 or not any(ch in VOWELS for ch in new):
            return word
        return new


_V = f"[{VOWELS}]"


def _candidates(phonemes: str) -> list[SoundChange]:
    """Every change whose input occurs in ``phonemes`` (the family inventory): the pool rules come from."""
    present = set(phonemes)
    rules: list[SoundChange] = []
    for voiceless, voiced in zip(STOPS_VOICELESS + "sf", STOPS_VOICED + "zv"):
        if voiceless in present:
            rules.append(SoundChange(f"lenition {voiceless}>{voiced}", f"(?<={_V}){voiceless}(?={_V})", voiced))
        if voiced in present:
            rules.append(SoundChange(f"final devoicing {voiced}>{voiceless}", f"{voiced}$", voiceless))
    for source, target in (("k", "č"), ("t", "c"), ("g", "ž"), ("s", "š")):
        if source in present:
            rules.append(SoundChange(f"palatalisation {source}>{target}", f"{source}(?=[{FRONT_VOWELS}])", target))
    for source, target in (("p", "f"), ("k", "x"), ("b", "v"), ("t", "s"), ("d", "l"), ("r", "l"), ("m", "n")):
        if source in present:
            rules.append(SoundChange(f"shift {source}>{target}", source, target))
    for source, target in (("a", "o"), ("o", "u"), ("e", "i"), ("u", "o"), ("i", "e"), ("a", "e"), ("ə", "a")):
        if source in present:
            rules.append(SoundChange(f"vowel shift {source}>{target}", source, target))
    rules.append(SoundChange("apocope", f"(?<=[{CONSONANTS}])(?<={_V}.){_V}$", ""))
    rules.append(SoundChange("h-loss", "h", ""))
    rules.append(SoundChange("nasal assimilation", "n(?=[pb])", "m"))
    rules.append(SoundChange("degemination", f"([{CONSONANTS}])\\1", r"\1"))
    return rules


def is_strong(change: SoundChange) -> bool:
    """Whether ``change`` is unconditioned (it alters most words containing its input)."""
    return change.name.split(" ")[0] in {"vowel", "shift", "apocope"}


def make_sound_changes(
    rng: random.Random,
    words: Sequence[str],
    count: int,
    strong: bool,
    exclude: Sequence[SoundChange] = (),
) -> tuple[SoundChange, ...]:
    """Draw ``count`` distinct ordered sound changes that alter at least 3% of ``words``.

    ``strong`` picks unconditioned changes (used between genera, so branches drift apart) or
    conditioned ones (used between sister languages, which stay close); ``exclude`` holds changes an
    ancestor already made. ``words`` is the ancestor's lexicon (changes that would not fire are useless).
    """
    phonemes = "".join(sorted(set("".join(words))))
    pool = [
        rule
        for rule in _candidates(phonemes)
        if is_strong(rule) == strong and rule not in exclude and _reach(rule, words) >= 0.03
    ]
    chosen: list[SoundChange] = []
    while len(chosen) < min(count, len(pool)):
        rule = rng.choice(pool)
        if rule not in chosen:
            chosen.append(rule)
    return tuple(chosen)


def _reach(change: SoundChange, words: Sequence[str]) -> float:
    """Share of ``words`` that ``change`` alters."""
    return sum(change.apply(word) != word for word in words) / max(1, len(words))


def evolve(word: str, changes: Sequence[SoundChange]) -> str:
    """Apply ``changes`` to ``word`` in order (each rule sees the output of the previous one)."""
    for change in changes:
        word = change.apply(word)
    return word


def spell(word: str, script: str) -> str:
    """Write a phoneme string in ``script`` ('Latn' or 'Cyrl')."""
    table = SPELLING[script]
    return "".join(table.get(ch, ch) for ch in word)


def check_script(script: str, where: str) -> None:
    """Raise a ConfigError unless the demo can write ``script``."""
    if script not in SPELLING:
        raise ConfigError(
            f"{where}: script '{script}' is not supported by the demo generator; "
            f"set the 'script' column to one of {', '.join(sorted(SPELLING))}"
        )

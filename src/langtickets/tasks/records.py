"""Record types shared by every task loader, head and metric, and the fixed label inventories.

Records are frozen dataclasses of tuples, so they hash, compare and never change under a caller. Loaders
validate their input and raise :class:`~langtickets.errors.InputError` naming the file and line; the
constructors here only check the invariants that any code building a record must keep (equal lengths).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from langtickets.errors import ConfigError

#: The 17 universal part-of-speech tags of UD v2, in the order of the UD documentation.
UPOS_TAGS: tuple[str, ...] = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip

#: The 37 universal dependency relations of UD v2 (subtypes such as ``nmod:poss`` reduce to these).
UD_RELATIONS: tuple[str, ...] = (
    "acl", "advcl", "advmod", "amod", "appos", "aux", "case", "cc", "ccomp", "clf", "compound", "conj",
    "cop", "csubj", "dep", "det", "discourse", "dislocated", "expl", "fixed", "flat", "goeswith", "iobj",
    "list", "mark", "nmod", "nsubj", "nummod", "obj", "obl", "orphan", "parataxis", "punct", "reparandum",
    "root", "vocative", "xcomp",
)  # fmt: skip

#: NLI labels in the order the Hugging Face ``xnli``/``multi_nli``/``americas_nli`` ClassLabels use.
NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")

#: The task names a dataset spec or head can name.
TASKS: tuple[str, ...] = ("pos", "dep", "ner", "nli")


def universal_relation(deprel: str) -> str:
    """The universal part of a UD relation: ``nmod:poss`` -> ``nmod`` (CoNLL 2018 LAS compares only this)."""
    return deprel.split(":", 1)[0]


def _as_tuples(record: object, *names: str) -> None:
    """Store sequence fields as tuples, so records built from lists still hash and compare equal."""
    for name in names:
        value = getattr(record, name)
        if not isinstance(value, tuple):
            object.__setattr__(record, name, tuple(value))


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence of words with one tag per word (UPOS for POS, IOB2 for NER)."""

    words: tuple[str, ...]
    tags: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuples(self, "words", "tags")
        if len(self.words) != len(self.tags):
            raise ValueError(f"{len(self.words)} words but {len(self.tags)} tags")


@dataclass(frozen=True)
class MultiwordToken:
    """A CoNLL-U multiword token line ``first-last form``: one surface token over words first..last (1-based)."""

    first: int
    last: int
    form: str


@dataclass(frozen=True)
class ParsedSentence:
    """A UD sentence over its syntactic words.

    ``heads[i]`` is the 1-based index of word ``i+1``'s head, 0 for the root. ``multiword`` keeps the surface
    tokens that span several words (French ``du`` = ``de le``) so the CoNLL 2018 alignment can use them.
    """

    words: tuple[str, ...]
    upos: tuple[str, ...]
    heads: tuple[int, ...]
    deprels: tuple[str, ...]
    multiword: tuple[MultiwordToken, ...] = ()

    def __post_init__(self) -> None:
        _as_tuples(self, "words", "upos", "heads", "deprels", "multiword")
        lengths = {len(self.words), len(self.upos), len(self.heads), len(self.deprels)}
        if len(lengths) != 1:
            raise ValueError(
                f"words, upos, heads and deprels differ in length: {len(self.words)}, {len(self.upos)}, "
                f"{len(self.heads)}, {len(self.deprels)}"
            )

    def tagged(self) -> TaggedSentence:
        """The POS view of this sentence: words with their UPOS tags."""
        return TaggedSentence(self.words, self.upos)

    def surface_tokens(self) -> list[tuple[str, int, int]]:
        """``(form, first, last)`` for every surface token in order; a plain word is its own token."""
        starts = {token.first: token for token in self.multiword}
        tokens: list[tuple[str, int, int]] = []
        index = 1
        while index <= len(self.words):
            token = starts.get(index)
            if token is not None:
                tokens.append((token.form, token.first, token.last))
                index = token.last + 1
            else:
                tokens.append((self.words[index - 1], index, index))
                index += 1
        return tokens


@dataclass(frozen=True)
class NliPair:
    """A premise-hypothesis pair with its label, one of :data:`NLI_LABELS`."""

    premise: str
    hypothesis: str
    label: str

    def __post_init__(self) -> None:
        if self.label not in NLI_LABELS:
            raise ValueError(f"NLI label must be one of {', '.join(NLI_LABELS)}, got {self.label!r}")


class LabelSet:
    """An ordered label inventory that maps names to class ids and back.

    Class ids are positions in ``names``; a head is built with ``len(labels)`` outputs.
    """

    def __init__(self, names: Iterable[str]):
        self.names: tuple[str, ...] = tuple(names)
        self._ids = {name: i for i, name in enumerate(self.names)}
        if len(self._ids) != len(self.names):
            raise ConfigError(f"label set has repeated names: {', '.join(self.names)}; list each label once")

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._ids

    def __repr__(self) -> str:
        return f"LabelSet({list(self.names)!r})"

    def id(self, name: str) -> int:
        """The class id of ``name``; an unknown label is a :class:`ConfigError` saying how to fix it."""
        try:
            return self._ids[name]
        except KeyError:
            shown = ", ".join(self.names[:12]) + (", ..." if len(self.names) > 12 else "")
            raise ConfigError(
                f"label {name!r} is not in the label set ({shown}); build the label set from all splits "
                "(ner_labels) or map the entity type to O (map_to_o)"
            ) from None

    def encode(self, names: Sequence[str]) -> list[int]:
        return [self.id(name) for name in names]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.names[i] for i in ids]


def ner_labels(*datasets: Iterable[TaggedSentence]) -> LabelSet:
    """The IOB2 label set of some NER datasets: ``O`` first, then ``B-``/``I-`` of each type, types sorted.

    Pass every split (train, dev, test) so a type seen only at test time still has a class.
    """
    types = sorted({tag[2:] for data in datasets for sentence in data for tag in sentence.tags if tag != "O"})
    return LabelSet(["O", *(f"{prefix}-{kind}" for kind in types for prefix in ("B", "I"))])


def upos_labels() -> LabelSet:
    return LabelSet(UPOS_TAGS)


def relation_labels() -> LabelSet:
    return LabelSet(UD_RELATIONS)


def nli_labels() -> LabelSet:
    return LabelSet(NLI_LABELS)

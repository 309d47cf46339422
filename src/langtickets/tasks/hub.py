"""Task records from Hugging Face ``datasets`` (the paper config's sources), validated like local files.

A source string ``hf:<dataset>/<config>:<split>`` names a Hub dataset, one of its configurations and a split,
e.g. ``hf:google/xtreme/PAN-X.de:train``, ``hf:google/xtreme/udpos.English:validation``,
``hf:masakhane/masakhaner/hau:test``, ``hf:nyu-mll/multi_nli/default:train``, ``hf:facebook/xnli/en:test``,
``hf:americas_nli/aym:validation``. The configuration is the last ``/`` component (write ``default`` for a
dataset without configurations), the split follows the last ``:``.

Rows are converted by task, from the columns those datasets use: ``tokens`` with ``ner_tags`` (NER), with
``pos_tags`` or ``upos`` (POS), with ``upos``/``head``/``deprel`` (dependency parsing); ``premise``,
``hypothesis`` and ``label`` (NLI). ClassLabel ids become their names; the same checks as for files apply
(IOB2, trees, labels) and errors name the source and the row index (``dataset[i]``). In full UD conversions,
multiword-token rows (UPOS ``_`` and no head) are dropped and counted, so records hold the syntactic words
without their surface tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from langtickets.errors import InputError
from langtickets.tasks.ner import check_tags
from langtickets.tasks.nli import nli_pair
from langtickets.tasks.records import UD_RELATIONS, UPOS_TAGS, ParsedSentence, TaggedSentence, universal_relation
from langtickets.tasks.ud import check_tree

PREFIX = "hf:"


@dataclass(frozen=True)
class HubSource:
    """One split of one configuration of a Hub dataset."""

    dataset: str
    config: str
    split: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.dataset}/{self.config}:{self.split}"


def is_hub_source(source: str) -> bool:
    return source.startswith(PREFIX)


def parse_hub_source(source: str) -> HubSource:
    """Split ``hf:<dataset>/<config>:<split>``; a malformed string is an :class:`InputError` saying the form."""
    body = source[len(PREFIX):] if is_hub_source(source) else ""
    name, _, split = body.rpartition(":")
    dataset, _, config = name.rpartition("/")
    if not (dataset and config and split):
        raise InputError(
            source, "not a Hugging Face source",
            "write hf:<dataset>/<config>:<split>, e.g. hf:google/xtreme/PAN-X.de:train ('default' as config "
            "for a dataset without configurations)",
        )  # fmt: skip
    return HubSource(dataset, config, split)


def load_hub_dataset(source: HubSource, load_dataset: Callable[..., Any] | None = None) -> Any:
    """Load one split with ``datasets.load_dataset`` (or the given stand-in, for tests and mirrors)."""
    if load_dataset is None:
        from datasets import load_dataset
    try:
        return load_dataset(source.dataset, source.config, split=source.split)
    except Exception as error:  # datasets raises many types (network, missing config, missing split)
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(
            str(source), f"cannot load the dataset ({first_line})",
            "check the dataset, config and split names, or download it once with network access "
            "(HF_DATASETS_OFFLINE unset) so the cache has it",
        ) from None


def class_names(features: Mapping[str, Any]) -> dict[str, list[str]]:
    """Column -> label names for every ClassLabel column (also inside a List/Sequence)."""
    names: dict[str, list[str]] = {}
    for column, feature in features.items():
        while not hasattr(feature, "names") and hasattr(feature, "feature"):
            feature = feature.feature
        if hasattr(feature, "names"):
            names[column] = list(feature.names)
    return names


def read_hub(
    source: str | HubSource,
    task: str,
    *,
    repair_bio: bool = False,
    map_to_o: Collection[str] = (),
    counts: Counter | None = None,
    load_dataset: Callable[..., Any] | None = None,
) -> list:
    """Records of ``task`` (pos, dep, ner, nli) from one Hub split; see the module docstring."""
    source = parse_hub_source(source) if isinstance(source, str) else source
    counts = Counter() if counts is None else counts
    dataset = load_hub_dataset(source, load_dataset)
    rows = _Rows(str(source), class_names(getattr(dataset, "features", None) or {}))
    records = []
    for index, row in enumerate(dataset):
        if task == "nli":
            record = nli_pair(rows.named(row, index), str(source), index, allow_unlabeled=True)
            if record is None:
                counts["skipped_no_gold_label"] += 1
                continue
        elif task == "ner":
            record = rows.tagged(row, index, "ner_tags", repair_bio, map_to_o, counts)
        elif task == "pos" and "head" in row:  # a full UD conversion: read it as a tree, keep the tags
            record = rows.parsed(row, index, counts).tagged()
        elif task == "pos":
            record = rows.tagged(row, index, "pos_tags" if "pos_tags" in row else "upos", False, (), counts)
        elif task == "dep":
            record = rows.parsed(row, index, counts)
        else:
            raise ValueError(f"unknown task {task!r}")
        records.append(record)
    if not records:
        raise InputError(str(source), "the split holds no usable rows", "check the split name")
    counts["sentences" if task != "nli" else "pairs"] += len(records)
    return records


class _Rows:
    """Converts rows of one dataset, turning ClassLabel ids into names."""

    def __init__(self, source: str, names: dict[str, list[str]]):
        self.source = source
        self.names = names

    def column(self, row: Mapping[str, Any], column: str, index: int) -> Any:
        if column not in row:
            raise InputError(
                self.source, f"the row has no '{column}' column (columns: {', '.join(row)})",
                "pick a dataset and config that provide this task's columns", line=index,
            )  # fmt: skip
        value = row[column]
        labels = self.names.get(column)
        if labels is None:
            return value
        if isinstance(value, list):
            return [labels[v] if isinstance(v, int) and v >= 0 else str(v) for v in value]
        return labels[value] if isinstance(value, int) and value >= 0 else str(value)

    def named(self, row: Mapping[str, Any], index: int) -> dict[str, Any]:
        return {key: self.column(row, key, index) for key in row}

    def tagged(
        self, row: Mapping[str, Any], index: int, column: str, repair: bool, map_to_o: Collection[str], counts: Counter
    ) -> TaggedSentence:
        words = tuple(str(w) for w in self.column(row, "tokens", index))
        tags = [str(t) for t in self.column(row, column, index)]
        if len(tags) != len(words) or not words:
            raise InputError(self.source, f"{len(words)} tokens but {len(tags)} tags", "fix the row", line=index)
        if column == "ner_tags":
            tags = check_tags(tags, self.source, [index] * len(tags), repair=repair, map_to_o=map_to_o, counts=counts)
        elif any(tag not in UPOS_TAGS for tag in tags):
            bad = next(tag for tag in tags if tag not in UPOS_TAGS)
            raise InputError(self.source, f"UPOS {bad!r} is not one of the 17 UD tags", "fix the row", line=index)
        counts["words"] += len(words)
        return TaggedSentence(words, tuple(tags))

    def parsed(self, row: Mapping[str, Any], index: int, counts: Counter) -> ParsedSentence:
        columns = [list(self.column(row, name, index)) for name in ("tokens", "upos", "head", "deprel")]
        if len({len(column) for column in columns}) != 1 or not columns[0]:
            raise InputError(self.source, "tokens, upos, heads and deprels differ in length", "fix the row", line=index)
        # Rows converted from CoNLL-U may keep multiword-token lines (UPOS '_', no head); the syntactic words
        # follow them, so they are dropped (their surface form is not needed when predictions keep the words).
        rows = [values for values in zip(*columns) if not (values[1] == "_" and str(values[2]) in ("None", "_"))]
        if not rows:
            raise InputError(self.source, "the row has no syntactic words", "fix the row", line=index)
        counts["multiword_tokens"] += len(columns[0]) - len(rows)
        words, upos, raw_heads, deprels = (tuple(str(v) for v in column) for column in zip(*rows))
        try:
            heads = tuple(int(head) for head in raw_heads)
        except ValueError:
            raise InputError(self.source, "a head is not an integer", "fix the row", line=index) from None
        bad_tag = next((tag for tag in upos if tag not in UPOS_TAGS), None)
        if bad_tag is not None:
            raise InputError(self.source, f"UPOS {bad_tag!r} is not one of the 17 UD tags", "fix the row", line=index)
        bad = [d for d in deprels if universal_relation(d) not in UD_RELATIONS]
        if bad:
            raise InputError(self.source, f"DEPREL {bad[0]!r} is not a UD relation", "fix the row", line=index)
        check_tree(heads, self.source, [index] * len(heads))
        counts["words"] += len(words)
        return ParsedSentence(words, upos, heads, deprels)

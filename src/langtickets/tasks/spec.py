"""Dataset specs: how a config names one task's data for one language, and the one call that loads a split.

A :class:`DatasetSpec` says which task (pos, dep, ner, nli), which format and, per split, where the data is:
a local path or ``hf:<dataset>/<config>:<split>`` (see :mod:`langtickets.tasks.hub`). In the workflow config
an entry looks like this (``{data_dir}``, ``{lang}`` and ``{split}`` are filled in; ``overrides`` replaces
keys for single languages, e.g. a treebank's file names)::

    ner:
      format: masakhaner
      pattern: "{data_dir}/masakhaner/{lang}/{split}.txt"
      splits: [train, dev, test]
      repair_bio: true
      map_to_o: [DATE]
    dep:
      format: conllu
      splits: {test: "hf:universal_dependencies/{lang}_ewt:test"}
      overrides:
        hsb: {splits: {test: "{data_dir}/ud/UD_Upper_Sorbian-UFAL/hsb_ufal-ud-test.conllu"}}

The demo corpus writes the same formats, so :func:`demo_specs` describes a demo language's folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langtickets.errors import ConfigError
from langtickets.tasks.hub import is_hub_source, read_hub
from langtickets.tasks.ner import NER_FORMATS, read_ner
from langtickets.tasks.nli import NLI_FORMATS, read_nli
from langtickets.tasks.records import TASKS
from langtickets.tasks.ud import read_conllu

#: format -> the tasks it can feed
FORMAT_TASKS: dict[str, tuple[str, ...]] = {
    "conllu": ("pos", "dep"),
    **{name: ("ner",) for name in NER_FORMATS},
    **{name: ("nli",) for name in NLI_FORMATS},
}
_ENTRY_KEYS = {"format", "splits", "pattern", "repair_bio", "map_to_o", "language", "overrides"}


@dataclass(frozen=True)
class DatasetSpec:
    """One task's data for one language: format, per-split sources and the reading options."""

    task: str
    format: str
    splits: Mapping[str, str] = field(hash=False)
    repair_bio: bool | None = None
    map_to_o: tuple[str, ...] = ()
    language: str | None = None
    name: str = field(default="", compare=False)  # where the spec came from, for error messages

    def __post_init__(self) -> None:
        where = f" in {self.name}" if self.name else ""
        if self.task not in TASKS:
            raise ConfigError(f"unknown task '{self.task}'{where}; choose one of {', '.join(TASKS)}")
        if self.format not in FORMAT_TASKS:
            raise ConfigError(f"unknown format '{self.format}'{where}; choose one of {', '.join(FORMAT_TASKS)}")
        if self.task not in FORMAT_TASKS[self.format]:
            raise ConfigError(
                f"format '{self.format}' cannot feed task '{self.task}'{where}; it feeds "
                f"{', '.join(FORMAT_TASKS[self.format])}"
            )
        if not self.splits:
            raise ConfigError(f"dataset for task '{self.task}'{where} names no splits; add e.g. splits: {{test: PATH}}")
        if (self.map_to_o or self.repair_bio) and self.task != "ner":
            raise ConfigError(f"map_to_o and repair_bio apply to NER only{where}; remove them")

    def source(self, split: str) -> str:
        if split not in self.splits:
            where = f" in {self.name}" if self.name else ""
            raise ConfigError(
                f"dataset for task '{self.task}'{where} has no split '{split}' (it has: {', '.join(self.splits)}); "
                "add it under 'splits'"
            )
        return self.splits[split]


def load_split(
    spec: DatasetSpec,
    split: str,
    *,
    counts: Counter | None = None,
    load_dataset: Callable[..., Any] | None = None,
) -> list:
    """Load one split as records of the spec's task.

    pos -> :class:`TaggedSentence` (UPOS tags), dep -> :class:`ParsedSentence`, ner -> :class:`TaggedSentence`
    (IOB2), nli -> :class:`NliPair`. ``counts`` receives the reader's counters; ``load_dataset`` replaces
    ``datasets.load_dataset`` for ``hf:`` sources (tests, local mirrors).
    """
    source = spec.source(split)
    counts = Counter() if counts is None else counts
    if is_hub_source(source):
        return read_hub(source, spec.task, repair_bio=bool(spec.repair_bio), map_to_o=spec.map_to_o,
                        counts=counts, load_dataset=load_dataset)  # fmt: skip
    if spec.format == "conllu":
        sentences = read_conllu(source, counts=counts)
        return [sentence.tagged() for sentence in sentences] if spec.task == "pos" else sentences
    if spec.format in NER_FORMATS:
        return read_ner(source, spec.format, language=spec.language, repair_bio=spec.repair_bio,
                        map_to_o=spec.map_to_o, counts=counts)  # fmt: skip
    return read_nli(source, spec.format, language=spec.language, counts=counts)


def spec_from_config(
    task: str,
    entry: Mapping[str, Any],
    *,
    lang: str,
    fields: Mapping[str, str] | None = None,
    where: str = "the config",
) -> DatasetSpec:
    """Build the spec for ``lang`` from a config entry (see the module docstring for its shape).

    ``fields`` fills placeholders besides ``{lang}`` and ``{split}`` (e.g. ``data_dir``); an unknown key or
    placeholder is a :class:`ConfigError` naming ``where``.
    """
    name = f"{where} (tasks.{task}, language {lang})"
    merged = _merge_override(entry, lang, name)
    values = {**(fields or {}), "lang": lang}
    splits = merged.get("splits")
    if isinstance(splits, list):
        if "pattern" not in merged:
            raise ConfigError(
                f"{name}: a list of splits needs a 'pattern' with {{split}}; or map split names to sources"
            )
        splits = {split: merged["pattern"] for split in splits}
    if not isinstance(splits, Mapping):
        raise ConfigError(f"{name}: 'splits' must map split names to sources or list split names")
    return DatasetSpec(
        task=task,
        format=str(merged.get("format", "")),
        splits={split: _fill(str(source), {**values, "split": split}, name) for split, source in splits.items()},
        repair_bio=merged.get("repair_bio"),
        map_to_o=tuple(merged.get("map_to_o", ())),
        language=_fill(str(merged["language"]), values, name) if merged.get("language") else None,
        name=name,
    )


def _merge_override(entry: Mapping[str, Any], lang: str, name: str) -> dict[str, Any]:
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(
            f"{name}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_ENTRY_KEYS))}"
        )
    override = dict((entry.get("overrides") or {}).get(lang) or {})
    bad = set(override) - (_ENTRY_KEYS - {"overrides"})
    if bad:
        raise ConfigError(f"{name}: unknown key(s) in overrides.{lang}: {', '.join(sorted(bad))}")
    return {**{k: v for k, v in entry.items() if k != "overrides"}, **override}


def _fill(template: str, values: Mapping[str, str], name: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as error:
        raise ConfigError(
            f"{name}: cannot fill {template!r} ({error}); placeholders available: "
            f"{', '.join('{' + key + '}' for key in values)}"
        ) from None


def demo_specs(folder: str | Path, splits: tuple[str, ...] = ("train", "dev", "test")) -> dict[str, DatasetSpec]:
    """Specs for a demo language's folder: ``ud-{split}.conllu``, ``ner-{split}.txt``, ``nli-{split}.tsv``."""
    folder = Path(folder)

    def files(pattern: str) -> dict[str, str]:
        return {split: str(folder / pattern.format(split=split)) for split in splits}

    return {
        "pos": DatasetSpec("pos", "conllu", files("ud-{split}.conllu"), name=str(folder)),
        "dep": DatasetSpec("dep", "conllu", files("ud-{split}.conllu"), name=str(folder)),
        "ner": DatasetSpec("ner", "bio", files("ner-{split}.txt"), name=str(folder)),
        "nli": DatasetSpec("nli", "americasnli", files("nli-{split}.tsv"), name=str(folder)),
    }

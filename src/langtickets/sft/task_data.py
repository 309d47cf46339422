"""The data side of task SFTs: source languages' featurised splits and language SFTs, and the order of
(multi-source) training batches (Ansell et al., §3.2, §4.4)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from langtickets.errors import ConfigError
from langtickets.sft.sparse import SparseFineTuning
from langtickets.sft.taskmodel import load_language_sft
from langtickets.tasks.encoders import Pretrained
from langtickets.tasks.evaluate import Featurized, featurize, task_labels
from langtickets.tasks.features import collate
from langtickets.tasks.protocols import check_length, read_split
from langtickets.tasks.records import LabelSet
from langtickets.tasks.spec import DatasetSpec


@dataclass
class Source:
    """One source language: its featurised splits and (task-model named) language SFT."""

    lang: str
    train: Featurized
    dev: Featurized | None
    sft: SparseFineTuning | None
    sft_path: str | None = None


@dataclass
class SourceSet:
    """The pretrained model, the label set and every source of a task-SFT job."""

    pretrained: Pretrained
    labels: LabelSet
    sources: dict[str, Source]

    @property
    def multi(self) -> bool:
        return len(self.sources) > 1


def check_language_sfts(specs: Mapping[str, DatasetSpec], language_sfts: Mapping[str, str]) -> None:
    """Language SFTs are given for every source or for none (multi-source training applies each)."""
    unknown = sorted(set(language_sfts) - set(specs))
    if unknown:
        raise ConfigError(f"--language-sft names {unknown}, which are not --source languages")
    if language_sfts and len(language_sfts) != len(specs):
        raise ConfigError(f"give a language SFT for every source or for none; missing for "
                          f"{sorted(set(specs) - set(language_sfts))}")  # fmt: skip


def prepare_sources(pretrained: Pretrained, task: str, specs: Mapping[str, DatasetSpec],
                    language_sfts: Mapping[str, str], max_length: int, device: torch.device) -> SourceSet:  # fmt: skip
    """Read every source's train (and dev) split, build the label set over all of them, featurise, and load the
    language SFTs (checked against the pretrained model)."""
    check_language_sfts(specs, language_sfts)
    records = {lang: {split: read_split(spec, split) for split in ("train", "dev") if split in spec.splits}
               for lang, spec in specs.items()}  # fmt: skip
    check_length(pretrained.encoder, max_length)
    labels = task_labels(task, [row for splits in records.values() for row in splits["train"]])
    sources = {}
    for lang, splits in records.items():
        data = {split: featurize(task, pretrained.tokenizer, rows, labels, max_length, where=specs[lang].source(split))
                for split, rows in splits.items()}  # fmt: skip
        sft = load_language_sft(language_sfts[lang]) if lang in language_sfts else None
        if sft is not None:
            sft.verify_base(pretrained.encoder)
            sft = sft.to(device)
        sources[lang] = Source(lang, data["train"], data.get("dev"), sft, language_sfts.get(lang))
    return SourceSet(pretrained, labels, sources)


def source_batch_order(sizes: Mapping[str, int], batch_size: int, steps: int, seed: int) -> list[tuple[str, list[int]]]:
    """``steps`` batches of one language each: every epoch cuts a fresh permutation of each source's examples
    into batches and shuffles all of them together (§4.4; one source is the ordinary single-source order)."""
    if not sizes or min(sizes.values()) < 1:
        raise ConfigError("a source has no training examples; check its training split")
    rng = np.random.default_rng(seed)
    order: list[tuple[str, list[int]]] = []
    while len(order) < steps:
        epoch = []
        for lang, size in sizes.items():
            perm = rng.permutation(size).tolist()
            epoch += [(lang, perm[start:start + batch_size]) for start in range(0, size, batch_size)]
        order += [epoch[i] for i in rng.permutation(len(epoch))]
    return order[:steps]


class TaskBatches:
    """Re-iterable ``(lang, batch)`` items in a fixed order (both LT-SFT phases start from its beginning)."""

    def __init__(self, order: list[tuple[str, list[int]]], sources: Mapping[str, Source], pad_id: int) -> None:
        self.order, self.sources, self.pad_id = order, sources, pad_id

    def __iter__(self) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
        for lang, indices in self.order:
            features = self.sources[lang].train.features
            yield lang, collate([features[i] for i in indices], self.pad_id)

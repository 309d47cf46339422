"""The evaluation protocols: in-language fine-tuning, zero-shot cross-lingual transfer, and few-shot transfer.

* **in-language** (multilingual-tickets paper, section 4.1; XTREME's NER/POS protocol): fine-tune on a
  language's training split, pick the checkpoint on its dev split, score its test split. With a ticketed
  model the language's own ticket is worn throughout.
* **zero-shot** (LT-SFT paper, section 3.2 and Table 1, with full fine-tuning in place of composed SFTs):
  :func:`train_source` fine-tunes once on the source language (English by default in the workflow; the
  checkpoint is picked on the *source* dev split, since zero-shot means no target data) and saves each run's
  task model; :func:`zero_shot` scores the saved models on every target's test split, each target wearing
  its own ticket, so adding a target never retrains.
* **few-shot**: :func:`few_shot` continues each saved zero-shot model on exactly ``k`` training examples of
  the target (drawn with a seeded RNG) for exactly ``updates`` updates, wearing the target's ticket, and
  scores the target's test split with the final state (there is no target dev set to choose with).

Every run ``r`` takes its seeds from ``derive_seed(seed, "finetune", r)``: the head's initialisation, the
data order and dropout (and for few-shot the choice of the k examples), so on CPU a rerun writes
byte-identical metrics files. Wall-clock times go to a separate timing file, never into the metrics.

Under ``accelerate launch`` every process runs the protocol with the same seeds and trains data-parallel
(:func:`langtickets.tasks.finetune.train`); only the main process writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from langtickets.errors import ConfigError, InputError
from langtickets.io import write_json
from langtickets.masks import TicketMasks, apply_masks
from langtickets.parallel import is_main_process, stage_device
from langtickets.seeding import derive_seed
from langtickets.tasks.encoders import (
    Pretrained,
    load_pretrained,
    load_task_model,
    mask_language,
    new_task_model,
    save_task_model,
)
from langtickets.tasks.evaluate import Featurized, evaluate, featurize, task_labels
from langtickets.tasks.finetune import TrainConfig, train
from langtickets.tasks.records import LabelSet
from langtickets.tasks.spec import DatasetSpec, load_split

PROTOCOLS = ("in-language", "zero-shot", "few-shot")


@dataclass(frozen=True)
class RunSettings:
    """What every protocol shares: names for the results, runs and seeds, and the training recipe."""

    model_name: str
    task: str
    runs: tuple[int, ...]
    seed: int
    train: TrainConfig = field(default_factory=TrainConfig)
    max_length: int = 128
    head_options: Mapping[str, Any] = field(default_factory=dict)
    dense: bool = False
    mask_fallback: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.runs or len(set(self.runs)) != len(self.runs) or min(self.runs) < 0:
            raise ConfigError(f"--runs must list distinct non-negative run numbers, got {list(self.runs)}")

    def run_seed(self, run: int) -> int:
        return derive_seed(self.seed, "finetune", run)

    @property
    def torch_device(self) -> torch.device:
        """``device`` resolved ('auto': a GPU when present); under a launcher, this process's device."""
        return stage_device(self.device)

    def describe(self) -> dict[str, Any]:
        return {"train": self.train.to_dict(), "max_length": self.max_length,
                "head_options": dict(self.head_options)}  # fmt: skip


def read_split(spec: DatasetSpec, split: str) -> list:
    """Records of one split; a missing or empty split is a one-line error naming the dataset."""
    records = load_split(spec, split)
    if not records:
        raise InputError(spec.source(split), f"the {split} split holds no examples", "check the dataset's files")
    return records


def check_length(encoder: nn.Module, max_length: int) -> None:
    positions = getattr(getattr(encoder, "config", None), "max_position_embeddings", None)
    if positions is not None and max_length > positions:
        raise ConfigError(f"--max-length {max_length} exceeds the model's {positions} positions; lower it")


@contextlib.contextmanager
def wearing(model: nn.Module, masks: TicketMasks | None, lang: str | None) -> Iterator[None]:
    """Run the block with ``lang``'s ticket on ``model`` (no masks when ``lang`` is None)."""
    if masks is None or lang is None:
        yield
        return
    with apply_masks(model, masks, lang):
        yield


def _fit(model: nn.Module, train_data: Featurized, dev: Featurized | None, labels: LabelSet, config: TrainConfig,
         seed: int, settings: RunSettings, pad_id: int, desc: str) -> dict[str, Any]:  # fmt: skip
    """Train in place (dev-selected when ``dev`` is given) and return the JSON record of the run."""
    device = settings.torch_device

    def dev_score() -> float:
        return evaluate(model, dev, labels, pad_token_id=pad_id, batch_size=config.eval_batch_size,
                        device=device)["score"]  # fmt: skip

    result = train(model, train_data.features, config, seed=seed, pad_token_id=pad_id,
                   dev_score=dev_score if dev is not None else None, device=device, desc=desc)  # fmt: skip
    return {**result.summary(), "data": train_data.counts()}


def _record(settings: RunSettings, protocol: str, lang: str, run: int, scores: dict[str, Any],
            train_record: dict[str, Any], masks: dict[str, str | None], described: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    """The metrics file's content: scores, data counts, the training record, tickets worn, and the settings
    (``described``, by default those of ``settings``); ``extra`` adds keys."""
    return {
        "model": settings.model_name, "task": settings.task, "protocol": protocol, "lang": lang,
        "run": run, "seed": settings.seed, "metric": scores["metric"], "score": scores["score"],
        "metrics": scores["metrics"], "test": scores["data"], "train": train_record, "mask": masks,
        "settings": settings.describe() if described is None else described, **extra,
    }  # fmt: skip


def _score(model: nn.Module, data: Featurized, labels: LabelSet, settings: RunSettings, pad_id: int) -> dict:
    return evaluate(model, data, labels, pad_token_id=pad_id, batch_size=settings.train.eval_batch_size,
                    device=settings.torch_device)  # fmt: skip


@dataclass
class _Prepared:
    """A pretrained model and one language's splits, featurised for it."""

    pretrained: Pretrained
    labels: LabelSet
    train: Featurized
    dev: Featurized | None
    test: Featurized | None


def _prepare(pretrained: Pretrained | str | Path, spec: DatasetSpec, settings: RunSettings, test: bool) -> _Prepared:
    """Read the splits (before loading the model, so bad data fails fast), load the model, featurise."""
    if test and "test" not in spec.splits:
        raise ConfigError(f"{spec.name or 'the dataset'} has no test split; add one to score the language")
    wanted = ["train", *(split for split in ("dev", "test") if split in spec.splits and (test or split != "test"))]
    records = {split: read_split(spec, split) for split in wanted}
    if not isinstance(pretrained, Pretrained):
        pretrained = load_pretrained(pretrained)
    check_length(pretrained.encoder, settings.max_length)
    labels = task_labels(settings.task, records["train"])
    data = {split: featurize(settings.task, pretrained.tokenizer, rows, labels, settings.max_length,
                             where=spec.source(split)) for split, rows in records.items()}  # fmt: skip
    return _Prepared(pretrained, labels, data["train"], data.get("dev"), data.get("test"))


def _train_one(data: _Prepared, mask: str | None, settings: RunSettings, run: int, lang: str) -> tuple[nn.Module, dict]:
    """A fresh copy of the pretrained encoder with a new head, fine-tuned wearing ``mask``; and its record."""
    pretrained = data.pretrained
    model = new_task_model(pretrained.fresh_encoder(), settings.task, data.labels, settings.run_seed(run),
                           dict(settings.head_options)).to(settings.torch_device)  # fmt: skip
    with wearing(model, pretrained.masks, mask):
        record = _fit(model, data.train, data.dev, data.labels, settings.train, settings.run_seed(run), settings,
                      pretrained.tokenizer.pad_token_id, f"{settings.task} {lang} run {run}")  # fmt: skip
    return model, {**record, "lang": lang}


def _timing(run: int, lang: str, started: float, trained: float) -> dict[str, Any]:
    now = time.perf_counter()
    return {"run": run, "lang": lang, "train_seconds": round(trained - started, 3),
            "eval_seconds": round(now - trained, 3)}  # fmt: skip


def in_language(pretrained: Pretrained | str | Path, spec: DatasetSpec, lang: str, settings: RunSettings,
                out_dir: str | Path) -> list[dict[str, Any]]:  # fmt: skip
    """Fine-tune and score on ``lang`` for every run; writes ``out_dir/seed{run}.json``, returns timings.

    ``pretrained`` is a loaded model, or a folder or hub name loaded once the data has been read.
    """
    data = _prepare(pretrained, spec, settings, test=True)
    masks, pad_id = data.pretrained.masks, data.pretrained.tokenizer.pad_token_id
    mask = mask_language(masks, lang, dense=settings.dense, fallback=settings.mask_fallback)
    timings = []
    for run in settings.runs:
        started = time.perf_counter()
        model, train_record = _train_one(data, mask, settings, run, lang)
        trained = time.perf_counter()
        with wearing(model, masks, mask):
            scores = _score(model, data.test, data.labels, settings, pad_id)
        record = _record(settings, "in-language", lang, run, scores, train_record, {"train": mask, "eval": mask},
                         pretrained=data.pretrained.source)  # fmt: skip
        if is_main_process():
            write_json(Path(out_dir) / f"seed{run}.json", record)
        timings.append(_timing(run, lang, started, trained))
    return timings


def train_source(pretrained: Pretrained | str | Path, spec: DatasetSpec, source: str, settings: RunSettings,
                 out_dir: str | Path) -> list[dict[str, Any]]:  # fmt: skip
    """Fine-tune on the source language once per run; saves ``out_dir/seed{run}/`` (a task model folder)."""
    data = _prepare(pretrained, spec, settings, test=False)
    masks = data.pretrained.masks
    mask = mask_language(masks, source, dense=settings.dense, fallback=settings.mask_fallback)
    timings = []
    for run in settings.runs:
        started = time.perf_counter()
        model, train_record = _train_one(data, mask, settings, run, source)
        record = {
            "task": settings.task, "labels": list(data.labels.names), "head_options": dict(settings.head_options),
            "model": settings.model_name, "pretrained": data.pretrained.source, "source_lang": source,
            "mask_lang": mask, "run": run, "seed": settings.seed, "train": train_record,
            "settings": settings.describe(),
        }  # fmt: skip
        if is_main_process():
            save_task_model(Path(out_dir) / f"seed{run}", model.cpu(), data.pretrained.tokenizer, masks, record)
        timings.append(_timing(run, source, started, time.perf_counter()))
    return timings


def _saved_runs(models: Mapping[int, str | Path], settings: RunSettings) -> Iterator[tuple[int, Any]]:
    for run in settings.runs:
        if run not in models:
            raise ConfigError(f"no task model given for run {run}; pass --task-models with one folder per run")
        saved = load_task_model(models[run])
        if saved.record["task"] != settings.task:
            raise InputError(models[run], f"is a '{saved.record['task']}' model, not '{settings.task}'",
                             "pass the task models of the same task")  # fmt: skip
        check_length(saved.model.encoder, settings.max_length)
        yield run, saved


def zero_shot(models: Mapping[int, str | Path], targets: Mapping[str, DatasetSpec], settings: RunSettings,
              out_dir: str | Path) -> list[dict[str, Any]]:  # fmt: skip
    """Score each run's saved source model on every target's test split; writes ``out_dir/{lang}/seed{run}.json``."""
    timings: list[dict[str, Any]] = []
    tests = {lang: read_split(spec, "test") for lang, spec in targets.items()}
    featurized: dict[tuple[str, tuple[str, ...]], Featurized] = {}  # runs share tokenizer and (usually) labels
    for run, saved in _saved_runs(models, settings):
        model = saved.model.to(settings.torch_device)
        pad_id = saved.tokenizer.pad_token_id
        for lang, records in tests.items():
            started = time.perf_counter()
            mask = mask_language(saved.masks, lang, dense=settings.dense, fallback=settings.mask_fallback)
            key = (lang, saved.labels.names)
            if key not in featurized:
                featurized[key] = featurize(settings.task, saved.tokenizer, records, saved.labels,
                                            settings.max_length, where=targets[lang].source("test"))  # fmt: skip
            with wearing(model, saved.masks, mask):
                scores = _score(model, featurized[key], saved.labels, settings, pad_id)
            described = {"source": saved.record["settings"], "max_length": settings.max_length}
            record = _record(settings, "zero-shot", lang, run, scores, saved.record["train"],
                             {"train": saved.record["mask_lang"], "eval": mask}, described,
                             pretrained=saved.record["pretrained"])  # fmt: skip
            if is_main_process():
                write_json(Path(out_dir) / lang / f"seed{run}.json", record)
            timings.append({"run": run, "lang": lang, "eval_seconds": round(time.perf_counter() - started, 3)})
    return timings


def _check_k(available: int, k: int) -> None:
    if not 1 <= k <= available:
        raise ConfigError(f"few-shot k={k} exceeds the {available} training examples of the target; lower k")


def choose_examples(available: int, k: int, seed: int) -> list[int]:
    """``k`` distinct example indices out of ``available``, in increasing order, from a seeded RNG."""
    _check_k(available, k)
    return sorted(np.random.default_rng(seed).choice(available, size=k, replace=False).tolist())


def few_shot(models: Mapping[int, str | Path], spec: DatasetSpec, lang: str, k: int, updates: int,
             settings: RunSettings, out_dir: str | Path) -> list[dict[str, Any]]:  # fmt: skip
    """Continue each saved source model on ``k`` target examples for ``updates`` updates, then score the target.

    Writes ``out_dir/seed{run}.json``; the record lists the chosen example indices.
    """
    if k < 1 or updates < 1:
        raise ConfigError(f"few-shot needs k >= 1 and updates >= 1, got k={k}, updates={updates}")
    pool, test_records = read_split(spec, "train"), read_split(spec, "test")
    _check_k(len(pool), k)  # before any model is loaded
    config = dataclasses.replace(settings.train, updates=updates, batch_size=min(settings.train.batch_size, k))
    timings = []
    for run, saved in _saved_runs(models, settings):
        started = time.perf_counter()
        seed = derive_seed(settings.run_seed(run), "few-shot", lang)
        chosen = choose_examples(len(pool), k, seed)
        shots = featurize(settings.task, saved.tokenizer, [pool[i] for i in chosen], saved.labels,
                          settings.max_length, where=spec.source("train"))  # fmt: skip
        test = featurize(settings.task, saved.tokenizer, test_records, saved.labels, settings.max_length,
                         where=spec.source("test"))  # fmt: skip
        mask = mask_language(saved.masks, lang, dense=settings.dense, fallback=settings.mask_fallback)
        model, pad_id = saved.model.to(settings.torch_device), saved.tokenizer.pad_token_id
        with wearing(model, saved.masks, mask):
            train_record = _fit(model, shots, None, saved.labels, config, seed, settings, pad_id,
                                f"{settings.task} {lang} {k}-shot run {run}")  # fmt: skip
            trained = time.perf_counter()
            scores = _score(model, test, saved.labels, settings, pad_id)
        train_record = {**train_record, "lang": lang, "k": k, "chosen": chosen, "source": saved.record["train"]}
        described = {**settings.describe(), "train": config.to_dict(), "source": saved.record["settings"]}
        record = _record(settings, "few-shot", lang, run, scores, train_record,
                         {"train": mask, "eval": mask, "source": saved.record["mask_lang"]},
                         pretrained=saved.record["pretrained"], described=described)  # fmt: skip
        if is_main_process():
            write_json(Path(out_dir) / f"seed{run}.json", record)
        timings.append(_timing(run, lang, started, trained))
    return timings


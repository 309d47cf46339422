"""Task models and SFT files as the SFT stages use them (Ansell et al., §3.2).

A language SFT is trained on the pretrained MLM (``BertForMaskedLM``: parameters ``bert.*`` plus the MLM head
``cls.*``; XLM-R: ``roberta.*`` and ``lm_head.*``; the SFT notes its ``base_model_prefix``); task SFTs and transfer run on a task model (:class:`~langtickets.tasks.heads.TaskModel`:
``encoder.*`` plus ``head.*``). :func:`load_language_sft` reads a language SFT and renames its encoder
entries into the task model's namespace, dropping the MLM-head entries (optional ones: a tagger has no MLM
head), so ``theta0 + phi_T + phi_L`` is a plain composition on one model.

:class:`SftTaskModel` is a :class:`TaskModel` with the three Hugging Face hooks the SFT library reads:
``base_model`` (the encoder: the head is "every parameter outside it", trained densely in both phases),
``config`` and ``get_input_embeddings`` (so a task model and the MLM it came from share one base
fingerprint, and an SFT from another pretrained model is refused).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from langtickets.errors import InputError
from langtickets.sft.sparse import SparseFineTuning
from langtickets.tasks.encoders import new_task_model
from langtickets.tasks.heads import TaskModel
from langtickets.tasks.records import LabelSet

#: prefix of the encoder's parameters in a task model
TASK_ENCODER_PREFIX = "encoder."


class SftTaskModel(TaskModel):
    """A task model the SFT library can plan, fingerprint and compose on."""

    @property
    def base_model(self) -> nn.Module:
        return self.encoder

    @property
    def config(self) -> Any:
        return self.encoder.config

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()


def sft_task_model(encoder: nn.Module, task: str, labels: LabelSet, seed: int, head_options: dict) -> SftTaskModel:
    """``encoder`` with a head seeded exactly like the tasks stage's (:func:`new_task_model`)."""
    model = new_task_model(encoder, task, labels, seed, head_options)
    return SftTaskModel(model.encoder, model.head)


def _read(path: str | Path, kind: str, stage: str) -> SparseFineTuning:
    sft = SparseFineTuning.load(path)
    if sft.info.kind != kind:
        raise InputError(path, f"is a '{sft.info.kind}' SFT, not a {kind} SFT",
                         f"pass a file written by `langtickets {stage}`")  # fmt: skip
    return sft


def load_language_sft(path: str | Path) -> SparseFineTuning:
    """A language SFT with its encoder entries renamed for a task model (MLM-head entries and whole MLM-head
    tensors dropped: a task model has no MLM head)."""
    sft = _read(path, "language", "language-sft")
    prefix = sft.info.notes.get("encoder_prefix", "bert.")
    diffs = {}
    for name, diff in sft.diffs.items():
        if name.startswith(prefix):
            diffs[TASK_ENCODER_PREFIX + name[len(prefix):]] = replace(diff, optional=False)
        elif not diff.optional:
            raise InputError(path, f"entry '{name}' lies outside the encoder ('{prefix}*')",
                             "pass a language SFT written by `langtickets language-sft`")  # fmt: skip
    return SparseFineTuning(diffs, {}, sft.info, source=path)


def load_task_sft(path: str | Path, task: str) -> SparseFineTuning:
    """A task SFT of ``task`` (its notes carry the labels and head options that rebuild the head)."""
    sft = _read(path, "task", "task-sft")
    if sft.info.notes.get("task") != task:
        raise InputError(path, f"is a task SFT for '{sft.info.notes.get('task')}', not '{task}'",
                         "pass the task SFTs of the same task")  # fmt: skip
    return sft


def head_of(sft: SparseFineTuning) -> tuple[LabelSet, dict]:
    """The label set and head options a task SFT was trained with."""
    try:
        return LabelSet(json.loads(sft.info.notes["labels"])), json.loads(sft.info.notes["head_options"])
    except (KeyError, ValueError) as error:
        raise InputError(sft.source or "<task SFT>", f"lacks its head description ({error})",
                         "retrain it with `langtickets task-sft`") from None  # fmt: skip


def sft_summary(sft: SparseFineTuning, path: str | Path | None = None) -> dict[str, Any]:
    """What a metrics or info file records about an SFT: method, K, density, non-zero differences."""
    nonzero = sum(int((diff.values != 0).sum()) for diff in sft.diffs.values())
    summary = {"method": sft.info.method, "k": sft.k, "nonzero": nonzero, "n_maskable": sft.info.n_maskable,
               "density": round(sft.density, 8) if sft.info.n_maskable else None}  # fmt: skip
    if path is not None:
        summary["path"] = str(path)
    return summary

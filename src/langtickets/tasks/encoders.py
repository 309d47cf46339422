"""Pretrained encoders in, fine-tuned task models out: loading, ticket masks, and the task-model folder.

A pretrained model is named by a local folder in the Hugging Face layout (what the pretraining stage writes
to ``results/pretrain/{variant}/model``: ``config.json``, ``model.safetensors``, tokenizer files, and
``masks.safetensors`` for ticketed variants) or by a Hugging Face hub name such as
``bert-base-multilingual-cased`` (needs a network or a filled cache). Only the encoder is kept: an MLM head
in the checkpoint is ignored, and the pooler is left out (no head here reads it).

A fine-tuned **task model folder** holds everything evaluation needs, so a zero-shot model trained once is
evaluated on many targets without retraining (LT-SFT section 3.2's setup, with full fine-tuning):

* ``model.safetensors`` -- the encoder and head weights (keys ``encoder.*``, ``head.*``);
* ``config.json`` and the tokenizer files -- to rebuild the encoder and featurise text;
* ``task.json`` -- task, label names, head options, where the encoder came from, and the training record;
* ``masks.safetensors`` -- the ticket masks, when the pretrained model had them.

Which ticket a run wears: by default the data's language (in-language: the language itself; zero-shot: the
source language while training and each target's while evaluating, since every language has its own
ticket). :func:`mask_language` resolves a language without a ticket: an error, unless the caller asked for
the dense model (``--dense``) or named a fallback (``--mask-fallback LANG`` or ``dense``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, read_json, write_json
from langtickets.masks import TicketMasks
from langtickets.seeding import derive_seed
from langtickets.tasks.heads import TaskModel, build_head, hidden_size_of
from langtickets.tasks.records import LabelSet

MASKS_FILE = "masks.safetensors"
TASK_FILE = "task.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class Pretrained:
    """A pretrained encoder with its tokenizer and (for ticketed variants) its ticket masks."""

    encoder: nn.Module
    tokenizer: Any
    masks: TicketMasks | None
    source: str

    def fresh_encoder(self) -> nn.Module:
        """An independent copy of the pretrained encoder (fine-tuning changes its weights)."""
        return copy.deepcopy(self.encoder)


def _encoder_from_pretrained(source: str, local: bool) -> nn.Module:
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(source, add_pooling_layer=False, local_files_only=local, use_safetensors=True)
    except TypeError:  # an architecture without a pooler switch
        return AutoModel.from_pretrained(source, local_files_only=local, use_safetensors=True)


def load_tokenizer(source: str | Path) -> Any:
    """The fast tokenizer saved with a model (folder) or published under a hub name."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(source), use_fast=True)
    except (OSError, ValueError) as error:
        raise InputError(source, f"cannot load a tokenizer ({str(error).splitlines()[0]})",
                         "save the tokenizer files next to the model or give a hub name") from None  # fmt: skip


def _load_from(source: str | Path, what: str, load) -> tuple[nn.Module, bool]:
    """``load(name, local)`` for a model folder (offline) or a hub name (network or a filled HF_HOME cache),
    in eval mode, with one-line errors; returns the model and whether ``source`` is a local folder."""
    path = Path(source)
    local = path.exists()
    if local and not (path / "config.json").is_file():
        raise InputError(path, "not a model folder (no config.json)",
                         "pass results/pretrain/VARIANT/model or a Hugging Face model name")  # fmt: skip
    try:
        model = load(str(source), local)
    except (OSError, ValueError) as error:  # ValueError: not a valid hub name either (e.g. a missing folder)
        raise ConfigError(
            f"cannot load {what} '{source}' ({str(error).splitlines()[0]}); give a local model folder, or a hub "
            "name with a network or a filled HF_HOME cache"
        ) from None
    model.eval()
    return model, local


def load_pretrained(source: str | Path) -> Pretrained:
    """Load the encoder, tokenizer and (if present) ticket masks from a folder or a hub name."""
    encoder, local = _load_from(source, "model", _encoder_from_pretrained)
    masks = None
    if local and (Path(source) / MASKS_FILE).is_file():
        masks = TicketMasks.load(Path(source) / MASKS_FILE)
        masks.check_model(encoder)
    return Pretrained(encoder, load_tokenizer(source), masks, str(source))


def load_masked_lm(source: str | Path) -> nn.Module:
    """A pretrained masked LM (``AutoModelForMaskedLM``: BERT, XLM-R, ...) from a folder (offline) or a hub name
    (needs a network or a filled HF_HOME cache), in eval mode; the language SFTs train on it."""
    from transformers import AutoModelForMaskedLM

    def load(name: str, local: bool) -> nn.Module:
        return AutoModelForMaskedLM.from_pretrained(name, local_files_only=local, use_safetensors=True)

    return _load_from(source, "masked LM", load)[0]


def mask_language(
    masks: TicketMasks | None, lang: str, *, dense: bool = False, fallback: str | None = None
) -> str | None:
    """The ticket to wear for ``lang``: ``lang`` itself, the fallback, or ``None`` (the dense model).

    A dense model, or ``dense=True``, gives ``None``. A language without a ticket is a :class:`ConfigError`
    unless ``fallback`` is ``"dense"`` or a language the masks have.
    """
    if masks is None or dense:
        return None
    if lang in masks.languages:
        return lang
    if fallback is None:
        raise ConfigError(
            f"language '{lang}' has no ticket in {masks.source} (tickets: {', '.join(masks.languages)}); pass "
            "--dense to use the dense model, or --mask-fallback LANG|dense (config tasks.mask_fallback)"
        )
    if fallback == "dense":
        return None
    masks.index(fallback)
    return fallback


def new_task_model(encoder: nn.Module, task: str, labels: LabelSet, seed: int, head_options: dict) -> TaskModel:
    """The encoder with a freshly initialised head; ``seed`` alone fixes the head's initial weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "head", task))
        head = build_head(task, hidden_size_of(encoder), len(labels), **head_options)
    return TaskModel(encoder, head)


def save_task_model(
    out: str | Path, model: TaskModel, tokenizer: Any, masks: TicketMasks | None, record: dict[str, Any]
) -> None:
    """Write a task model folder (see the module docstring) atomically; ``record`` becomes ``task.json``."""
    from safetensors.torch import save_file

    for key in ("task", "labels", "head_options"):
        if key not in record:
            raise ValueError(f"task record lacks '{key}'")
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(out) as tmp:
        tmp.mkdir()
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        model.encoder.config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if masks is not None:
            masks.save(tmp / MASKS_FILE)
        write_json(tmp / TASK_FILE, record)


@dataclass
class SavedTaskModel:
    """A task model folder loaded back: the model, its labels, tokenizer, masks and training record."""

    model: TaskModel
    labels: LabelSet
    tokenizer: Any
    masks: TicketMasks | None
    record: dict[str, Any]


def load_task_model(folder: str | Path) -> SavedTaskModel:
    """Rebuild a task model saved by :func:`save_task_model`."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    folder = Path(folder)
    if not (folder / TASK_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise InputError(folder, f"not a task model folder (needs {TASK_FILE} and {WEIGHTS_FILE})",
                         "pass a folder written by `langtickets finetune source`")  # fmt: skip
    record = read_json(folder / TASK_FILE)
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    try:
        encoder = AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        encoder = AutoModel.from_config(config)
    labels = LabelSet(record["labels"])
    head = build_head(record["task"], hidden_size_of(encoder), len(labels), **record["head_options"])
    model = TaskModel(encoder, head)
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)), strict=True)
    model.eval()
    masks = TicketMasks.load(folder / MASKS_FILE) if (folder / MASKS_FILE).is_file() else None
    return SavedTaskModel(model, labels, load_tokenizer(folder), masks, record)

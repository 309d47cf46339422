"""The fine-tuning loop shared by every protocol: AdamW, linear warm-up and decay, dev-based checkpoint choice.

The recipe is XTREME's as the multilingual-tickets paper uses it (Lee & Hwang, section 4.1): batch size 32,
learning rate 2e-5, two epochs, and for NER at least 2500 updates (some languages' training sets are
tiny); every number is a :class:`TrainConfig` field, so the demo can shrink it.

* **Schedule.** ``total = max(ceil(epochs * batches_per_epoch), min_updates)`` updates, or exactly
  ``updates`` when that is set (few-shot). The learning rate rises linearly over the first
  ``warmup_ratio * total`` updates and falls linearly to zero at the end
  (``transformers.get_linear_schedule_with_warmup``).
* **Data order.** Each epoch is a fresh permutation of the training examples; the last batch of an epoch may
  be smaller. When ``total`` outlasts the epochs, more epochs follow.
* **Checkpoint choice.** With a dev set, the model is scored on it every ``eval_every`` updates (by default
  at the end of every epoch) and after the last update; the best-scoring state is kept in memory and
  restored at the end (ties go to the earlier state). The selection metric is the task's report metric
  (POS accuracy, NER F1, DP LAS, NLI accuracy), as in LT-SFT section 4.3. Without a dev set the final
  state is used; either way the choice is recorded.
* **Seeds.** One seed fixes the head's initialisation (drawn by the caller), the data order and dropout:
  the loop runs under a forked torch RNG seeded from it, so on CPU the same seed gives the same weights.
* **Processes.** Under ``accelerate launch`` each process trains on its rows of every global batch, with the
  loss rescaled so the update is the single-process one (:mod:`langtickets.parallel`); dev scores are the
  main process's. One process runs exactly as without a launcher.
* **Weight decay** defaults to 0 (the Hugging Face and XTREME default). With ticket masks on, masked units
  get exactly zero gradient, so with no decay AdamW leaves their weights untouched.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from langtickets.errors import ConfigError
from langtickets.parallel import Replicas
from langtickets.seeding import derive_seed
from langtickets.tasks.features import collate

#: points in the loss curve kept in the metrics file (means over equal chunks of the updates)
CURVE_POINTS = 20


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one fine-tuning run (defaults: the paper's XTREME recipe)."""

    batch_size: int = 32
    lr: float = 2e-5
    epochs: float = 2.0
    min_updates: int = 0
    max_updates: int = 0  # cap on updates (0 = none); keeps demo runs short
    updates: int = 0  # exact number of updates, overriding epochs/min/max (few-shot)
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # 0 = no clipping
    adam_eps: float = 1e-8
    eval_every: int = 0  # updates between dev evaluations; 0 = at the end of every epoch
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("min_updates", "max_updates", "updates", "eval_every", "weight_decay", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")
        if self.lr <= 0 or self.epochs <= 0:
            raise ConfigError(f"--lr and --epochs must be positive, got {self.lr} and {self.epochs}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")

    def batches_per_epoch(self, examples: int) -> int:
        return math.ceil(examples / self.batch_size)

    def total_updates(self, examples: int) -> int:
        """Number of optimiser updates for a training set of ``examples``."""
        if self.updates:
            return self.updates
        total = max(math.ceil(self.epochs * self.batches_per_epoch(examples)), self.min_updates)
        return min(total, self.max_updates) if self.max_updates else total

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """What a run did: updates, the loss of every update, dev scores, and which state was kept."""

    examples: int
    updates: int
    epochs: float
    losses: list[float] = field(default_factory=list)
    dev_curve: list[tuple[int, float]] = field(default_factory=list)
    selected_update: int = 0
    selection: str = "last"

    def summary(self) -> dict[str, Any]:
        """The JSON-ready record of the run (the loss curve summarised to :data:`CURVE_POINTS` means)."""
        return {
            "examples": self.examples,
            "updates": self.updates,
            "epochs": round(self.epochs, 4),
            "selection": self.selection,
            "selected_update": self.selected_update,
            "dev_curve": [[update, round(score, 6)] for update, score in self.dev_curve],
            "loss": loss_summary(self.losses),
        }


def loss_summary(losses: Sequence[float]) -> dict[str, Any]:
    """First, last, lowest loss and the curve as means over up to :data:`CURVE_POINTS` equal chunks."""
    if not losses:
        return {"first": None, "last": None, "min": None, "curve": []}
    chunks = np.array_split(np.asarray(losses, dtype=np.float64), min(CURVE_POINTS, len(losses)))
    return {
        "first": round(float(losses[0]), 6),
        "last": round(float(losses[-1]), 6),
        "min": round(float(min(losses)), 6),
        "curve": [round(float(chunk.mean()), 6) for chunk in chunks],
    }


def batch_order(examples: int, batch_size: int, updates: int, seed: int) -> list[list[int]]:
    """Example indices of each update: a new seeded permutation per epoch, cut into batches."""
    if examples < 1:
        raise ConfigError("no training examples to fine-tune on; check the training split")
    rng = np.random.default_rng(seed)
    batches: list[list[int]] = []
    while len(batches) < updates:
        order = rng.permutation(examples).tolist()
        batches += [order[start:start + batch_size] for start in range(0, examples, batch_size)]
    return batches[:updates]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay (when set) spares biases and LayerNorm weights, as BERT fine-tuning does."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            exempt = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
            (no_decay if exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, eps=config.adam_eps)


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items()}


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _eval_points(config: TrainConfig, examples: int, total: int) -> set[int]:
    every = config.eval_every or config.batches_per_epoch(examples)
    return {*range(every, total + 1, every), total}


def train(
    model: nn.Module,
    features: Sequence[Mapping[str, Any]],
    config: TrainConfig,
    *,
    seed: int,
    pad_token_id: int,
    dev_score: Callable[[], float] | None = None,
    device: torch.device | str = "cpu",
    desc: str = "fine-tune",
) -> TrainResult:
    """Fine-tune ``model`` (a :class:`~langtickets.tasks.heads.TaskModel`) on ``features`` in place.

    ``dev_score`` scores the current model on the dev set (higher is better; it may switch the model to
    eval mode, the loop switches back). The best-scoring state is loaded at the end; without ``dev_score``
    the final state stays. ``seed`` fixes the data order and dropout. Under a data-parallel launcher every
    process calls this with the same arguments and trains on its rows of each batch.
    """
    device = torch.device(device)
    total = config.total_updates(len(features))
    batches = batch_order(len(features), config.batch_size, total, derive_seed(seed, "order"))
    result = TrainResult(len(features), total, total / config.batches_per_epoch(len(features)))
    optimizer = build_optimizer(model, config)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    evaluate_at = _eval_points(config, len(features), total) if dev_score is not None else set()
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    replicas = Replicas.for_device(device)
    trained, optimizer = replicas.prepare(model, optimizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(replicas.seed(derive_seed(seed, "dropout")))
        model.train()
        progress = tqdm(batches, desc=desc, unit="upd", file=sys.stderr, disable=not replicas.is_main)
        for update, indices in enumerate(progress, start=1):
            batch, factor = replicas.split(collate([features[i] for i in indices], pad_token_id))
            loss = trained(_to_device(batch, device)).loss
            optimizer.zero_grad(set_to_none=True)
            replicas.backward(replicas.scale(loss, factor, model))
            if config.max_grad_norm:
                replicas.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            result.losses.append(replicas.mean_loss(loss, factor))
            if update in evaluate_at:
                score = replicas.agree(float(dev_score()))
                result.dev_curve.append((update, score))
                if best is None or score > best[0]:
                    best, result.selected_update = (score, _snapshot(model)), update
                model.train()
    replicas.release()
    model.eval()
    if best is not None:
        model.load_state_dict(best[1])
        result.selection = "dev"
    else:
        result.selected_update = total
    return result

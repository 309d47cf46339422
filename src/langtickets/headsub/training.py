"""Training with language subnetworks (Choenni et al., sections 4.2 and 4.4, Algorithm 1, Appendix A).

* **Non-episodic** (:func:`train_nonepisodic`, section 4.2): every iteration takes one batch from each
  language, each forward pass restricted to that language's subnetwork, and updates the model with the mean
  of the languages' losses. Stage 1 is the same loop on the source language alone without masks; the
  per-language fine-tuning that precedes pruning (section 4.3.1) too.
* **Meta-learning** (:func:`train_maml`, section 4.4, Algorithm 1): per episode and language, a learner
  starts from theta, takes ``inner_steps`` SGD steps on a support set of N examples under the language's
  mask, and its gradient on a query set of N other examples is the language's contribution; the
  first-order approximation (note 3) uses the gradient at the adapted parameters. Theta is updated with the
  sum of the contributions (Algorithm 1's meta-update) by the outer optimiser.
* Optimiser (Appendix A): Adam with decoupled weight decay (0.01) and separate learning rates for the
  encoder and the parser head, a cosine schedule with 10% warm-up; dynamic mask weights get their own
  learning rate and no decay. Gradients are clipped to ``max_grad_norm`` (0 = off).
* Every step's per-language gradients over the last ``window`` iterations feed the gradient-conflict
  measure of section 7.2 (:mod:`langtickets.headsub.conflicts`).

Loops run under a forked torch RNG seeded from ``seed`` (dropout), with data orders from seeded numpy
generators, so on CPU a rerun gives the same weights. Call them inside ``use.installed(model)``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from langtickets.errors import ConfigError
from langtickets.headsub.conflicts import ConflictRecorder, flatten
from langtickets.headsub.use import MaskUse
from langtickets.seeding import derive_seed
from langtickets.tasks.features import collate
from langtickets.tasks.finetune import batch_order, loss_summary

Grads = list[torch.Tensor | None]


@dataclass(frozen=True)
class Recipe:
    """Adam's settings (Appendix A: encoder 5e-5, parser 1e-3, weight decay 0.01, 10% warm-up)."""

    batch_size: int = 20
    encoder_lr: float = 5e-5
    head_lr: float = 1e-3
    mask_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or min(self.encoder_lr, self.head_lr, self.mask_lr) <= 0:
            raise ConfigError(f"the recipe needs batch_size >= 1 and positive learning rates, got {self}")
        if not 0 <= self.warmup_ratio < 1 or self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ConfigError(f"the recipe needs 0 <= warmup_ratio < 1 and non-negative decay and clipping: {self}")


@dataclass(frozen=True)
class MetaRecipe:
    """Algorithm 1's settings (section 4.4: 500 episodes, N = 20, k = 20; Table 7's learning rates)."""

    episodes: int = 500
    shots: int = 20
    inner_steps: int = 20
    inner_encoder_lr: float = 1e-5
    inner_head_lr: float = 5e-4
    outer_encoder_lr: float = 1e-4
    outer_head_lr: float = 1e-3

    def __post_init__(self) -> None:
        if min(self.episodes, self.shots, self.inner_steps) < 1:
            raise ConfigError(f"MAML needs episodes, shots and inner_steps >= 1, got {self}")


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def learning_rates(model: nn.Module, encoder_lr: float, head_lr: float) -> list[float]:
    """Per trainable parameter: ``encoder_lr`` for the encoder's, ``head_lr`` for everything else."""
    encoder = {id(p) for p in model.encoder.parameters()}
    return [encoder_lr if id(p) in encoder else head_lr for p in trainable(model)]


def build_optimizer(model: nn.Module, masks: Sequence[nn.Parameter], recipe: Recipe, encoder_lr: float,
                    head_lr: float) -> torch.optim.AdamW:  # fmt: skip
    """AdamW with encoder/head learning rates; biases, LayerNorms and mask weights are not decayed."""
    encoder = {id(p) for p in model.encoder.parameters()}
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            exempt = name.endswith("bias") or "LayerNorm" in name
            lr = encoder_lr if id(param) in encoder else head_lr
            groups.setdefault((lr, 0.0 if exempt else recipe.weight_decay), []).append(param)
    groups.setdefault((recipe.mask_lr, 0.0), []).extend(masks)
    return torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items() if ps])


def cosine_schedule(optimizer: torch.optim.Optimizer, total: int, warmup_ratio: float) -> Any:
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, int(warmup_ratio * total), total)


def _accumulate(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None]) -> None:
    for param, grad in zip(params, grads):
        if grad is not None:
            param.grad = grad.detach().clone() if param.grad is None else param.grad + grad.detach()


def _step(optimizer: torch.optim.Optimizer, scheduler: Any, params: Sequence[torch.Tensor], clip: float) -> None:
    if clip:
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items()}


def masked_loss(model: nn.Module, use: MaskUse, lang: str | None, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The parsing loss of ``batch`` with ``lang``'s subnetwork on."""
    with use.wearing(model, lang):
        return model(batch).loss


def train_nonepisodic(model: nn.Module, features: Mapping[str, Sequence[dict]], use: MaskUse, recipe: Recipe,
                      iterations: int, *, seed: int, pad_id: int, device: torch.device, window: int = 0,
                      desc: str = "non-episodic") -> dict[str, Any]:  # fmt: skip
    """Section 4.2: per iteration one batch per language under its mask, mean loss, one Adam update."""
    langs, params, masks = list(features), trainable(model), use.trainable()
    orders = {lang: batch_order(len(features[lang]), recipe.batch_size, iterations, derive_seed(seed, "order", lang))
              for lang in langs}  # fmt: skip
    optimizer = build_optimizer(model, masks, recipe, recipe.encoder_lr, recipe.head_lr)
    scheduler = cosine_schedule(optimizer, iterations, recipe.warmup_ratio)
    recorder, losses = ConflictRecorder(window, iterations), {lang: [] for lang in langs}
    optimizer.zero_grad(set_to_none=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "dropout"))
        model.train()
        for iteration in tqdm(range(iterations), desc=desc, unit="it", file=sys.stderr):
            vectors = []
            for lang in langs:
                batch = to_device(collate([features[lang][i] for i in orders[lang][iteration]], pad_id), device)
                loss = masked_loss(model, use, lang, batch)
                grads = torch.autograd.grad(loss / len(langs), [*params, *masks], allow_unused=True)
                _accumulate([*params, *masks], grads)
                losses[lang].append(float(loss.detach()))
                if recorder.active(iteration):
                    vectors.append(flatten(grads[: len(params)], params))
            recorder.add(iteration, vectors)
            _step(optimizer, scheduler, [*params, *masks], recipe.max_grad_norm)
    model.eval()
    return {"iterations": iterations, "loss": {lang: loss_summary(v) for lang, v in losses.items()},
            "conflicts": recorder.summary(), "conflict_curve": recorder.per_iteration}  # fmt: skip


def inner_adapt(params: Sequence[torch.Tensor], lrs: Sequence[float], loss_fn: Callable[[], torch.Tensor],
                steps: int) -> list[float]:  # fmt: skip
    """``steps`` plain SGD steps ``p <- p - lr * dL/dp`` in place (the MAML learner; Finn et al.). Returns the
    losses."""
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for param, grad, lr in zip(params, grads, lrs):
                if grad is not None:
                    param.sub_(lr * grad)
        losses.append(float(loss.detach()))
    return losses


def first_order_maml(params: Sequence[torch.Tensor], tasks: Sequence[str], support_loss: Callable[[str], torch.Tensor],
                     query_loss: Callable[[str], torch.Tensor], steps: int, lrs: Sequence[float],
                     extra: Sequence[torch.Tensor] = ()) -> list[tuple[float, Grads]]:  # fmt: skip
    """Algorithm 1's inner loop for every task: adapt a copy of theta (in place, restored afterwards) by
    ``steps`` SGD steps on the support loss, then take the query loss's gradient at the adapted parameters
    (first-order MAML, note 3) with respect to ``params`` and ``extra`` (mask weights). Returns
    ``(query loss, gradients)`` per task; theta is unchanged on return."""
    results = []
    for task in tasks:
        theta = [p.detach().clone() for p in params]
        inner_adapt(params, lrs, lambda task=task: support_loss(task), steps)
        loss = query_loss(task)
        grads = torch.autograd.grad(loss, [*params, *extra], allow_unused=True)
        results.append((float(loss.detach()), [None if g is None else g.detach() for g in grads]))
        with torch.no_grad():
            for param, saved in zip(params, theta):
                param.copy_(saved)
    return results


def meta_update(optimizer: torch.optim.Optimizer, scheduler: Any, params: Sequence[torch.Tensor],
                task_grads: Sequence[Grads], clip: float) -> None:  # fmt: skip
    """Algorithm 1's meta-update: the sum of the tasks' query gradients, one step of the outer optimiser."""
    optimizer.zero_grad(set_to_none=True)
    for grads in task_grads:
        _accumulate(params, grads)
    _step(optimizer, scheduler, params, clip)


def sample_episode(available: int, shots: int, rng: np.random.Generator, lang: str) -> tuple[list[int], list[int]]:
    """Disjoint support and query sets of ``shots`` examples each."""
    if available < 2 * shots:
        raise ConfigError(f"language '{lang}' has {available} training examples; MAML needs 2 x shots "
                          f"({2 * shots}) per episode: lower headsub.meta.shots")  # fmt: skip
    chosen = rng.choice(available, size=2 * shots, replace=False).tolist()
    return chosen[:shots], chosen[shots:]


def train_maml(model: nn.Module, features: Mapping[str, Sequence[dict]], use: MaskUse, recipe: Recipe,
               meta: MetaRecipe, *, seed: int, pad_id: int, device: torch.device, window: int = 0,
               desc: str = "meta-training") -> dict[str, Any]:  # fmt: skip
    """Algorithm 1 with first-order meta-gradients; the outer optimiser is Adam with Table 7's outer rates."""
    langs, params, masks = list(features), trainable(model), use.trainable()
    optimizer = build_optimizer(model, masks, recipe, meta.outer_encoder_lr, meta.outer_head_lr)
    scheduler = cosine_schedule(optimizer, meta.episodes, recipe.warmup_ratio)
    inner_lrs = learning_rates(model, meta.inner_encoder_lr, meta.inner_head_lr)
    rng = np.random.default_rng(derive_seed(seed, "episodes"))
    recorder, losses = ConflictRecorder(window, meta.episodes), {lang: [] for lang in langs}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "dropout"))
        model.train()
        for episode in tqdm(range(meta.episodes), desc=desc, unit="ep", file=sys.stderr):
            batches = {}
            for lang in langs:
                support, query = sample_episode(len(features[lang]), meta.shots, rng, lang)
                batches[lang] = [to_device(collate([features[lang][i] for i in part], pad_id), device)
                                 for part in (support, query)]  # fmt: skip
            results = first_order_maml(params, langs, lambda lang: masked_loss(model, use, lang, batches[lang][0]),
                                       lambda lang: masked_loss(model, use, lang, batches[lang][1]),
                                       meta.inner_steps, inner_lrs, masks)  # fmt: skip
            for lang, (loss, _) in zip(langs, results):
                losses[lang].append(loss)
            if recorder.active(episode):
                recorder.add(episode, [flatten(grads[: len(params)], params) for _, grads in results])
            meta_update(optimizer, scheduler, [*params, *masks], [grads for _, grads in results], recipe.max_grad_norm)
    model.eval()
    return {"episodes": meta.episodes, "query_loss": {lang: loss_summary(v) for lang, v in losses.items()},
            "conflicts": recorder.summary(), "conflict_curve": recorder.per_iteration}  # fmt: skip


def updates_for(examples: int, batch_size: int, epochs: float, max_updates: int) -> int:
    """Updates of ``epochs`` passes over ``examples`` (at least one), capped at ``max_updates`` (0 = no cap)."""
    total = max(1, int(np.ceil(epochs * np.ceil(examples / batch_size))))
    return min(total, max_updates) if max_updates else total


def snapshot(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def restore(params: Sequence[torch.Tensor], saved: Sequence[torch.Tensor]) -> None:
    with torch.no_grad():
        for param, value in zip(params, saved):
            param.copy_(value)

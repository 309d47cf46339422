"""Finding a language's subnetwork by iterative pruning (Choenni et al., section 4.3.1; section 8).

**Heads** (Michel et al. 2019's procedure, as section 4.3.1 applies it): after fine-tuning the full model on
language ``l``, repeatedly remove the 10% of all heads (at least one) with the lowest importance
``HI = E_x |dL(x) / d xi|`` (Eq. 3) among the heads still enabled, recomputing the importance under the
current mask each time (:func:`langtickets.analysis.heads.head_importance`, normalised per layer as Michel
et al. do), and stop as soon as dev LAS falls below 95% of the unpruned model's: the mask before that
step is the result. The last enabled head is never removed. Repeating this with several seeds (fine-tuning
runs) and taking the union of the enabled heads gives the language's subnetwork.

**Magnitude** (section 8, "Unstructured pruning"): the same loop over the attention weights (Q, K, V and
the attention output of every layer; embeddings and MLPs excluded), each step removing another 10% of
them, the lowest-magnitude ones over all attention matrices together.

If the unpruned model scores 0 on the dev set, nothing is pruned (95% of 0 would accept any mask).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from langtickets.analysis.heads import head_gates, head_importance, head_shape, share_count
from langtickets.errors import ConfigError
from langtickets.headsub.masks import LanguageMasks, attention_modules
from langtickets.headsub.use import WeightMaskUse
from langtickets.tasks.features import collate

M = TypeVar("M")


@dataclass(frozen=True)
class PruningSettings:
    """Section 4.3.1: the share of heads removed per step and the dev-LAS threshold; section 8's share of
    attention weights per step; how many training examples estimate the importance (0 = all)."""

    share: float = 0.1
    threshold: float = 0.95
    magnitude_share: float = 0.1
    importance_examples: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1 or not 0 < self.magnitude_share < 1 or not 0 < self.threshold <= 1:
            raise ConfigError(f"pruning needs 0 < share <= 1, 0 < magnitude_share < 1, 0 < threshold <= 1: {self}")
        if self.importance_examples < 0:
            raise ConfigError("importance_examples must not be negative")


@dataclass
class Pruned:
    """The mask the loop settled on, the unpruned score and every step tried."""

    mask: Any
    base: float
    trace: list[dict[str, Any]] = field(default_factory=list)


def prune_until(start: M, propose: Callable[[M], M | None], score: Callable[[M], float], threshold: float,
                disabled: Callable[[M], int]) -> Pruned:  # fmt: skip
    """Prune step by step (``propose`` gives the next mask or ``None`` when nothing is left to remove) while
    the score stays at or above ``threshold`` x the unpruned score; the last mask that did is returned."""
    base = float(score(start))
    trace = [{"disabled": disabled(start), "score": base, "accepted": True}]
    current = start
    while base > 0 and (candidate := propose(current)) is not None:
        value = float(score(candidate))
        accepted = value >= threshold * base
        trace.append({"disabled": disabled(candidate), "score": value, "accepted": accepted})
        if not accepted:
            break
        current = candidate
    return Pruned(current, base, trace)


def lowest_heads(importance: torch.Tensor, mask: torch.Tensor, count: int) -> torch.Tensor | None:
    """``mask`` with ``count`` more heads disabled: the enabled ones of lowest importance (ties by position),
    never the last enabled head; ``None`` when no head can go."""
    enabled = mask.reshape(-1)
    count = min(count, int(enabled.sum()) - 1)
    if count < 1:
        return None
    scores = importance.reshape(-1).double().clone()
    scores[~enabled] = float("inf")
    new = enabled.clone()
    new[torch.sort(scores, stable=True).indices[:count]] = False
    return new.view(mask.shape)


def magnitude_step(weights: Mapping[str, torch.Tensor], share: float) -> Callable[[dict], dict | None]:
    """The proposal of the magnitude loop: level ``r`` disables ``r x share`` of all the weights (by count),
    the lowest |w| over all matrices together; each call moves one level up, ``None`` past the last level
    below 100%."""
    keys = list(weights)
    flat = torch.cat([weights[k].detach().abs().reshape(-1).cpu() for k in keys])
    order = torch.sort(flat, stable=True).indices
    levels = [share_count(r * share, flat.numel()) for r in range(1, int(np.ceil(1 / share - 1e-9)))]

    def propose(mask: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        done = sum(int((~m).sum()) for m in mask.values())
        count = next((level for level in levels if level > done and level < flat.numel()), None)
        if count is None:
            return None
        keep = torch.ones(flat.numel(), dtype=torch.bool)
        keep[order[:count]] = False
        pieces = torch.split(keep, [weights[k].numel() for k in keys])
        return {k: piece.view(weights[k].shape).clone() for k, piece in zip(keys, pieces)}

    return propose


def importance_batches(features: Sequence[dict], count: int, seed: int, pad_id: int,
                       device: torch.device) -> list[dict[str, torch.Tensor]]:  # fmt: skip
    """One-example batches (Eq. 3's per-example expectation) of ``count`` seeded examples (0 = all)."""
    chosen = range(len(features))
    if 0 < count < len(features):
        chosen = sorted(np.random.default_rng(seed).choice(len(features), size=count, replace=False).tolist())
    return [{k: v.to(device) for k, v in collate([features[i]], pad_id).items()} for i in chosen]


def prune_heads(model: nn.Module, batches: Sequence[dict], dev_score: Callable[[], float], settings: PruningSettings,
                device: torch.device) -> Pruned:  # fmt: skip
    """Section 4.3.1's loop on a fine-tuned task model; ``dev_score`` scores the model as it is gated now."""
    shape = head_shape(model)
    step = max(1, share_count(settings.share, shape[0] * shape[1]))

    def importance(mask: torch.Tensor) -> torch.Tensor:
        with head_gates(model, mask.float().to(device)):
            return head_importance(model, batches, lambda m, batch: m(batch).loss)

    def score(mask: torch.Tensor) -> float:
        with torch.no_grad(), head_gates(model, mask.float().to(device)):
            return dev_score()

    def propose(mask: torch.Tensor) -> torch.Tensor | None:
        return lowest_heads(importance(mask), mask, step)

    return prune_until(torch.ones(shape, dtype=torch.bool), propose, score, settings.threshold,
                       lambda mask: int((~mask).sum()))  # fmt: skip


def prune_magnitude(model: nn.Module, dev_score: Callable[[], float], settings: PruningSettings,
                    device: torch.device) -> Pruned:  # fmt: skip
    """Section 8's unstructured loop over the attention weights of a fine-tuned task model."""
    weights = {key: module.weight.detach() for key, module in attention_modules(model).items()}

    def score(mask: dict[str, torch.Tensor]) -> float:
        use = WeightMaskUse("magnitude-static", LanguageMasks("weights", {"x": mask}), None, 0, device)
        with torch.no_grad(), use.installed(model), use.wearing(model, "x"):
            return dev_score()

    start = {key: torch.ones(w.shape, dtype=torch.bool) for key, w in weights.items()}
    return prune_until(start, magnitude_step(weights, settings.magnitude_share), score, settings.threshold,
                       lambda mask: sum(int((~m).sum()) for m in mask.values()))  # fmt: skip

"""Gradient conflicts between languages (Choenni et al., section 7.2 and Table 5; after Yu et al. 2020).

Two languages' gradients *conflict* when their cosine similarity is negative. Over the last iterations of
training (the paper: the last 50 iterations or episodes) every pair of languages' gradients in the same
iteration gives one cosine; the table reports the share of negative ones and their mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F


def flatten(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """One float32 vector of the gradients (``None``, an unused parameter, counts as zeros)."""
    parts = [(g if g is not None else torch.zeros_like(p)).detach().reshape(-1).float() for g, p in zip(grads, like)]
    return torch.cat(parts)


def pairwise_cosines(vectors: Sequence[torch.Tensor]) -> list[float]:
    """Cosine of every pair ``i < j`` of ``vectors`` (a zero vector has cosine 0 with anything)."""
    return [float(F.cosine_similarity(vectors[i], vectors[j], dim=0, eps=1e-12))
            for i in range(len(vectors)) for j in range(i + 1, len(vectors))]  # fmt: skip


def conflict_summary(cosines: Sequence[float]) -> dict[str, Any]:
    """``pairs``, ``conflicts`` (negative cosines), ``conflict_share`` and ``mean_cosine`` (None when empty)."""
    conflicts = sum(value < 0 for value in cosines)
    return {
        "pairs": len(cosines),
        "conflicts": conflicts,
        "conflict_share": conflicts / len(cosines) if cosines else None,
        "mean_cosine": sum(cosines) / len(cosines) if cosines else None,
    }


@dataclass
class ConflictRecorder:
    """Collects the language-pair cosines of the last ``window`` of ``total`` iterations."""

    window: int
    total: int
    cosines: list[float] = field(default_factory=list)
    per_iteration: list[dict[str, Any]] = field(default_factory=list)

    def active(self, iteration: int) -> bool:
        """Whether ``iteration`` (0-based) falls in the window (so gradients are worth flattening)."""
        return self.window > 0 and iteration >= self.total - self.window

    def add(self, iteration: int, vectors: Sequence[torch.Tensor]) -> None:
        if not self.active(iteration) or len(vectors) < 2:
            return
        values = pairwise_cosines(vectors)
        self.cosines += values
        self.per_iteration.append({"iteration": iteration + 1, **conflict_summary(values)})

    def summary(self) -> dict[str, Any]:
        return {**conflict_summary(self.cosines), "window": self.window, "iterations": len(self.per_iteration)}

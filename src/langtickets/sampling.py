"""What each pretraining step draws: its language and its sequence length (Lee & Hwang, §4.1).

Every batch holds one language (§3.3 relies on it to split the updates by language). The language of step
``t`` is drawn with exponential smoothing, ``q_i ∝ p_i^alpha`` where ``p_i`` is language ``i``'s share of
the training tokens (alpha 0.7 over-samples low-resource languages, as for mBERT), from a generator seeded
by ``derive_seed(seed, "language", t)``. The draw is therefore a pure function of ``(seed, t)``: a resumed
run, or a run with any number of data-parallel processes, sees the same language at every step.

The sequence length follows BERT's schedule: ``short`` (128) for the first ``1 - long_fraction`` of the
steps and ``long`` (512) for the rest. :func:`step_batch` draws the step's windows and MLM corruption from a
seed of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from langtickets.errors import ConfigError
from langtickets.mlm import IGNORE_INDEX, mlm_batches
from langtickets.seeding import derive_seed


def smoothed_probabilities(counts: Mapping[str, int], alpha: float) -> dict[str, float]:
    """``q_i = p_i^alpha / sum_j p_j^alpha`` with ``p_i = counts_i / sum_j counts_j`` (exponential smoothing).

    ``alpha = 1`` keeps the natural shares, ``alpha = 0`` samples languages uniformly.
    """
    if not 0 <= alpha <= 1:
        raise ConfigError(f"sampling alpha must lie in [0, 1], got {alpha}")
    if not counts:
        raise ConfigError("no languages to sample from; list at least one language")
    empty = sorted(lang for lang, count in counts.items() if count <= 0)
    if empty:
        raise ConfigError(f"languages {empty} have no training tokens; rebuild their token shards or drop them")
    from langtickets.vocab import smoothed_probabilities as shares_and_probabilities

    return {lang: q for lang, (_p, q) in shares_and_probabilities(counts, alpha).items()}


@dataclass(frozen=True)
class LanguageSampler:
    """Draws one language per step from fixed probabilities; ``language(step)`` depends on nothing else."""

    languages: tuple[str, ...]
    probabilities: tuple[float, ...]
    seed: int

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], alpha: float, seed: int) -> LanguageSampler:
        q = smoothed_probabilities(counts, alpha)
        return cls(tuple(counts), tuple(q[lang] for lang in counts), seed)

    def index(self, step: int) -> int:
        """Index (into ``languages``) of the language of ``step``."""
        u = np.random.default_rng(derive_seed(self.seed, "language", step)).random()
        cumulative = np.cumsum(self.probabilities)
        # Clamp so a float round-off in the last cumulative value can never index past the end.
        return min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), len(self.languages) - 1)

    def language(self, step: int) -> str:
        return self.languages[self.index(step)]

    def schedule(self, steps: Sequence[int]) -> list[str]:
        return [self.language(step) for step in steps]


@dataclass(frozen=True)
class SeqLenSchedule:
    """``short`` tokens per sequence for the first steps, ``long`` for the last ``long_fraction`` of them."""

    total_steps: int
    short: int = 128
    long: int = 512
    long_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.long_fraction <= 1:
            raise ConfigError(f"long_fraction must lie in [0, 1], got {self.long_fraction}")
        if self.short < 3 or self.long < 3:
            raise ConfigError(
                f"sequence lengths must be at least 3 ([CLS] + one token + [SEP]), got {self.short}/{self.long}"
            )

    @property
    def first_long_step(self) -> int:
        """The first (1-based) step that uses the long length."""
        return self.total_steps - round(self.total_steps * self.long_fraction) + 1

    def __call__(self, step: int) -> int:
        """Sequence length of (1-based) ``step``."""
        return self.long if step >= self.first_long_step else self.short


def step_batch(shard: Any, seq_len: int, batch_size: int, seed: int, vocab_size: int, prob: float,
               rank: int = 0, world: int = 1) -> tuple[dict[str, torch.Tensor], int]:
    """This process's rows of a step's global MLM batch and the global number of masked tokens.

    ``shard`` is a :class:`langtickets.tokens.TokenShard`. Every process builds the whole batch from ``seed``
    (cheap: ids only) and keeps its contiguous block of ``batch_size / world`` rows, so the data of a step
    does not depend on the number of processes.
    """
    generator = torch.Generator().manual_seed(seed)
    batch = next(mlm_batches(shard, seq_len, batch_size, generator, vocab_size=vocab_size, prob=prob))
    masked = int((batch["labels"] != IGNORE_INDEX).sum())
    rows = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
    return {name: tensor[rows] for name, tensor in batch.items()}, masked

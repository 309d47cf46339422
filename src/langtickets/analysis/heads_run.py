"""Head importance per task and language, dissociation and pruning curves on one jointly trained model
(MeSH paper, section III "Important Attention-head Pruning" and Table I; the functions in
:mod:`langtickets.analysis.heads`).

A *unit* is a (task, language) pair, written ``task/lang`` (``ner/qaa``). One encoder is fine-tuned on every
unit at once -- the "dual-task / multi-task training" the dissociation score presupposes -- with one head per
task shared by that task's languages (the NER head's classes are the union of the languages' entity
types). Updates go to the units in proportion to their training sets (each unit runs ``epochs`` epochs of
its own, capped at ``max_updates``), interleaved in a seeded order; the final state is analysed. Then:

* importance of every head for every unit (Eq. 4) over a seeded sample of the unit's *training* examples,
  one example per item (the per-example expectation), normalised per layer;
* the test score of every unit with the top-alpha heads of every unit pruned, giving ``RP_A(H_B^alpha)``
  and the dissociation ``D(alpha)`` of every pair of units (same task across languages measures language
  specialisation, same language across tasks functional specialisation);
* pruning curves: each unit's test score as a growing share of heads is pruned, most important first (IAP),
  least important first (Michel et al.) and in random orders (mean over ``random_orders`` permutations).

Every run repeats all of this with its own seed. ``langtickets subnetworks-heads`` writes ``heads.json``
(means over runs) and ``importance.csv``, ``dissociation.csv``, ``pruning.csv`` (one row per run).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from langtickets.analysis import heads as H
from langtickets.errors import ConfigError
from langtickets.seeding import derive_seed
from langtickets.tasks.finetune import TrainConfig, batch_order, build_optimizer, loss_summary


@dataclass(frozen=True)
class HeadsConfig:
    """What the analysis measures: alphas of the dissociation, fractions of the curves, the samples."""

    alphas: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    fractions: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    random_orders: int = 5
    importance_examples: int = 0  # 0 = every training example
    normalize: bool = True
    runs: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if any(not 0 <= x <= 1 for x in (*self.alphas, *self.fractions)):
            raise ConfigError("alphas and fractions must lie in [0, 1]")
        if self.random_orders < 0 or self.importance_examples < 0 or not self.runs:
            raise ConfigError("random_orders and importance_examples must be >= 0, and runs non-empty")


def unit_name(task: str, lang: str) -> str:
    return f"{task}/{lang}"


# ---------------------------------------------------------------------------------------------------------
# Joint training


def joint_schedule(sizes: Mapping[str, int], config: TrainConfig, seed: int) -> list[tuple[str, list[int]]]:
    """``(unit, example indices)`` of every update: each unit's own epochs (capped at ``max_updates``),
    interleaved in a seeded random order."""
    batches = {unit: batch_order(n, config.batch_size, config.total_updates(n), derive_seed(seed, "order", unit))
               for unit, n in sizes.items()}  # fmt: skip
    order = [unit for unit, items in batches.items() for _ in items]
    np.random.default_rng(derive_seed(seed, "interleave")).shuffle(order)
    position = dict.fromkeys(batches, 0)
    schedule = []
    for unit in order:
        schedule.append((unit, batches[unit][position[unit]]))
        position[unit] += 1
    return schedule


def train_joint(models: Mapping[str, nn.Module], features: Mapping[str, Sequence[dict]], tasks: Mapping[str, str],
                config: TrainConfig, seed: int, pad_id: int, device: torch.device) -> dict[str, Any]:  # fmt: skip
    """Fine-tune the task models (one per task, sharing one encoder) on every unit's batches, in place."""
    from transformers import get_linear_schedule_with_warmup

    from langtickets.tasks.features import collate

    schedule = joint_schedule({unit: len(items) for unit, items in features.items()}, config, seed)
    container = nn.ModuleDict(dict(models))  # shared encoder parameters are listed once
    optimizer = build_optimizer(container, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * len(schedule)), len(schedule))
    losses: dict[str, list[float]] = {unit: [] for unit in features}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "dropout"))
        container.train()
        for unit, indices in tqdm(schedule, desc="joint fine-tuning", unit="upd", file=sys.stderr):
            batch = {k: v.to(device) for k, v in collate([features[unit][i] for i in indices], pad_id).items()}
            loss = models[tasks[unit]](batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(container.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            losses[unit].append(float(loss.detach()))
    container.eval()
    return {"updates": len(schedule), "per_unit": {unit: {"updates": len(v), "loss": loss_summary(v)}
                                                   for unit, v in losses.items()}}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Measuring


class Scorer:
    """Test scores of the units under head gates, memoised by (unit, pruned heads)."""

    def __init__(self, models: Mapping[str, nn.Module], data: Mapping[str, Any], tasks: Mapping[str, str],
                 labels: Mapping[str, Any], pad_id: int, batch_size: int, device: torch.device):  # fmt: skip
        self.models, self.data, self.tasks, self.labels = models, data, tasks, labels
        self.pad_id, self.batch_size, self.device = pad_id, batch_size, device
        self.shape = H.head_shape(next(iter(models.values())))
        self.cache: dict[tuple[str, frozenset], float] = {}

    def __call__(self, unit: str, pruned: Sequence[tuple[int, int]]) -> float:
        from langtickets.tasks.evaluate import evaluate

        key = (unit, frozenset(pruned))
        if key not in self.cache:
            model = self.models[self.tasks[unit]]
            gates = H.gates_without(self.shape, pruned).to(self.device)
            with torch.no_grad(), H.head_gates(model, gates):
                scores = evaluate(model, self.data[unit], self.labels[self.tasks[unit]], pad_token_id=self.pad_id,
                                  batch_size=self.batch_size, device=self.device)  # fmt: skip
            self.cache[key] = scores["score"]
        return self.cache[key]


def unit_importance(model: nn.Module, features: Sequence[dict], count: int, seed: int, pad_id: int,
                    device: torch.device) -> torch.Tensor:  # fmt: skip
    """Raw Eq. 4 importance over ``count`` seeded training examples (all when 0), one example per item."""
    from langtickets.tasks.features import collate

    chosen = range(len(features))
    if 0 < count < len(features):
        chosen = sorted(np.random.default_rng(seed).choice(len(features), size=count, replace=False).tolist())
    batches = ({k: v.to(device) for k, v in collate([features[i]], pad_id).items()} for i in chosen)
    return H.head_importance(model, batches, lambda m, batch: m(batch).loss, normalize=False)


def dissociation_rows(units: Sequence[str], ranked: Mapping[str, list], alphas: Sequence[float],
                      score: Scorer, baseline: Mapping[str, float]) -> list[dict[str, Any]]:  # fmt: skip
    """``RP_A(H_B^alpha)`` for every ordered pair and ``D`` for every unordered pair, per alpha."""
    rows = []
    total = len(next(iter(ranked.values())))
    for alpha in alphas:
        top = {b: ranked[b][: H.share_count(alpha, total)] for b in units}
        rp = {(a, b): H.relative_performance(score(a, top[b]), baseline[a]) for a in units for b in units}
        for pair in H.pair_dissociations(units, rp):
            a, b = pair["a"], pair["b"]
            rows.append({"alpha": alpha, "heads": len(top[a]), "a": a, "b": b, "rp_a_hb": rp[a, b],
                         "rp_a_ha": rp[a, a], "rp_b_ha": rp[b, a], "rp_b_hb": rp[b, b], "d_a": pair["d_a"],
                         "d_b": pair["d_b"], "d": pair["d"]})  # fmt: skip
    return rows


def curve_rows(unit: str, orders: Mapping[str, list[list]], fractions: Sequence[float], score: Scorer,
               baseline: float) -> list[dict[str, Any]]:  # fmt: skip
    """Score of ``unit`` with the first ``fraction`` of each order's heads pruned (random: mean over orders)."""
    rows = []
    for order, permutations in orders.items():
        for fraction in fractions:
            k = H.share_count(fraction, len(permutations[0]))
            value = statistics.fmean(score(unit, perm[:k]) for perm in permutations)
            rows.append({"unit": unit, "order": order, "fraction": fraction, "heads_pruned": k, "score": value,
                         "relative": H.relative_performance(value, baseline)})  # fmt: skip
    return rows


def head_orders(importance: torch.Tensor, random_orders: int, seed: int) -> dict[str, list[list]]:
    """Most- and least-important-first orders, and ``random_orders`` seeded random permutations."""
    ranked = H.ranked_heads(importance)
    rng = np.random.default_rng(seed)
    orders = {"most": [ranked], "least": [H.ranked_heads(importance, descending=False)]}
    if random_orders:
        orders["random"] = [[ranked[i] for i in rng.permutation(len(ranked))] for _ in range(random_orders)]
    return orders

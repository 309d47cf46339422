"""Iterative magnitude pruning per (task, language), the winning-ticket test and random subnetworks
(IMP paper, section 3, Algorithm 1; section 5 "Existence of Winning Tickets", Table 2, Figure 2).

Algorithm 1, with ``p = rate``: start from the pretrained weights theta0; in every round train the network
(wearing the current mask) to its peak dev performance, prune ``rate`` of the ORIGINAL prunable weights --
the remaining ones of lowest magnitude, over all prunable matrices together -- and rewind what remains to
theta0 (every round trains a fresh copy of theta0 wearing the new mask; a task head is re-initialised from
the same seed). After ``rounds`` rounds the sparsity is ``rounds * rate``; the mask of every level is saved.

Winning-ticket test: the subnetwork of each level is retrained from theta0 with the same ``runs`` (seeds)
as the dense model (level 0); it is a winning ticket when its mean score is within one standard deviation
(of the dense model's scores over the runs) of the dense mean, or better, and it reaches that peak no later
than the dense model does (section 3: ``a - a' <= eps`` when ``i' <= i``; ``i`` and ``i'`` are the mean over
the runs of the update each run's dev peak was selected at).
The training that finds the next mask is run 0 of the level, so IMP costs no extra training. Random
subnetworks prune the same number of weights uniformly at random (over all prunable weights together) and
are trained with the same runs.

``langtickets subnetworks-imp`` writes, under ``--out-dir``: ``imp.json`` (levels, runs, dense mean/std,
winning flags, random baselines, the sparsest winning ticket), ``imp.csv`` (one row per trained model), and
``masks/round{r:02d}.safetensors`` / ``masks/random{r:02d}.safetensors`` (bool weight masks).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langtickets.errors import ConfigError

RECORD_COLUMNS = ("task", "lang", "kind", "round", "sparsity", "run", "score", "selected_update", "updates")


@dataclass(frozen=True)
class ImpConfig:
    """Pruning rate per round (of the original weights), rounds, runs (seeds) and the random levels."""

    rate: float = 0.1
    rounds: int = 5
    runs: tuple[int, ...] = (0, 1, 2)
    random_rounds: tuple[int, ...] = (5,)

    def __post_init__(self) -> None:
        if not self.runs or len(set(self.runs)) != len(self.runs):
            raise ConfigError(f"--runs must list distinct run numbers, got {list(self.runs)}")
        if self.rounds < 1 or not 0 < self.rate <= 1 or self.rounds * self.rate > 1 + 1e-9:
            raise ConfigError(f"need rounds >= 1 and 0 < rounds * rate <= 1, got {self.rounds} x {self.rate}")
        bad = [r for r in self.random_rounds if not 1 <= r <= self.rounds]
        if bad:
            raise ConfigError(f"--random-rounds {bad} are not pruning rounds 1..{self.rounds}")

    def sparsity(self, round_: int) -> float:
        return round(round_ * self.rate, 10)


def mean_std(scores: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single run)."""
    values = [float(s) for s in scores]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def is_winning(mean: float, dense_mean: float, dense_std: float, higher_is_better: bool,
               update: float | None = None, dense_update: float | None = None) -> bool:  # fmt: skip
    """Section 3's test ``a - a' <= eps`` when ``i' <= i``: within one standard deviation of the dense model
    (or better), at its peak no later than the dense model. Without both updates only the score is tested
    (the transfer criterion of section 5 compares scores alone)."""
    if update is not None and dense_update is not None and update > dense_update + 1e-9:
        return False
    gap = dense_mean - mean if higher_is_better else mean - dense_mean
    return gap <= dense_std + 1e-12


def train_subnetwork(objective: Any, masks: Any, seed: int, prune: int | None = None) -> tuple[dict, Any]:
    """Train a fresh theta0 wearing ``masks``; with ``prune``, also return the masks with ``prune`` more of the
    lowest-magnitude remaining weights removed (taken from the trained weights)."""
    from langtickets.analysis.weight_masks import magnitude_prune, wearing

    model = objective.fresh_model(seed)
    with wearing(model, masks) as modules:
        record = objective.fit(model, seed)
        pruned = magnitude_prune(modules, prune) if prune is not None else None
    return record, pruned


def _level(kind: str, round_: int, sparsity: float, masks: Any, runs: list[dict], mask_file: str | None) -> dict:
    mean, std = mean_std([run["score"] for run in runs])
    selected = statistics.fmean(run["selected_update"] for run in runs)  # the level's i (or i'), mean over runs
    return {"kind": kind, "round": round_, "sparsity": sparsity, "pruned": masks.pruned, "total": masks.total,
            "mask": mask_file, "runs": runs, "mean": round(mean, 6), "std": round(std, 6),
            "selected_update": round(selected, 6)}  # fmt: skip


def iterative_magnitude_pruning(objective: Any, config: ImpConfig, seed_of: Callable[[int], int],
                                save: Callable[[str, Any], str | None]) -> list[dict]:  # fmt: skip
    """Algorithm 1 with every level retrained for every run; returns one record per level (round 0 = dense).

    ``seed_of(run)`` gives a run's seed; ``save(name, masks)`` stores a level's masks and returns its path
    (recorded in the level).
    """
    from langtickets.analysis.weight_masks import WeightMasks, pruned_counts

    masks = WeightMasks.dense(objective.fresh_model(seed_of(config.runs[0])))
    counts = pruned_counts(masks.total, config.rate, config.rounds)
    levels = []
    for round_ in range(config.rounds + 1):
        runs, following = [], None
        for index, run in enumerate(config.runs):
            prune = counts[round_ + 1] - counts[round_] if round_ < config.rounds and index == 0 else None
            record, pruned = train_subnetwork(objective, masks, seed_of(run), prune)
            following = pruned if pruned is not None else following
            runs.append({"run": run, **record})
        path = save(f"round{round_:02d}", masks) if round_ else None
        levels.append(_level("imp", round_, config.sparsity(round_), masks, runs, path))
        masks = following
    return levels


def random_baselines(objective: Any, config: ImpConfig, template: Any, seed_of: Callable[[int], int],
                     mask_seed: Callable[[int], int],
                     save: Callable[[str, Any], str | None]) -> list[dict]:  # fmt: skip
    """Random subnetworks at ``config.random_rounds``, each pruning as many weights as IMP's level."""
    import torch

    from langtickets.analysis.weight_masks import pruned_counts, random_masks

    counts = pruned_counts(template.total, config.rate, config.rounds)
    levels = []
    for round_ in config.random_rounds:
        masks = random_masks(template, counts[round_], torch.Generator().manual_seed(mask_seed(round_)))
        runs = [{"run": run, **train_subnetwork(objective, masks, seed_of(run))[0]} for run in config.runs]
        path = save(f"random{round_:02d}", masks)
        levels.append(_level("random", round_, config.sparsity(round_), masks, runs, path))
    return levels


def winning_summary(levels: list[dict], randoms: list[dict], higher_is_better: bool) -> dict[str, Any]:
    """Flag every level (and random baseline) against the dense model; the sparsest winning IMP level.

    A level without ``selected_update`` (hand-made records) is tested on its score alone."""
    dense = levels[0]
    for level in [*levels, *randoms]:
        level["winning"] = is_winning(level["mean"], dense["mean"], dense["std"], higher_is_better,
                                      level.get("selected_update"), dense.get("selected_update"))  # fmt: skip
        level["difference"] = round(level["mean"] - dense["mean"], 6)
    winners = [level["sparsity"] for level in levels[1:] if level["winning"]]
    return {"dense": {"mean": dense["mean"], "std": dense["std"], "selected_update": dense.get("selected_update")},
            "max_winning_sparsity": max(winners, default=None)}  # fmt: skip


def record_rows(task: str, lang: str, levels: list[dict]) -> list[dict[str, Any]]:
    """One CSV row per trained model."""
    return [{"task": task, "lang": lang, "kind": level["kind"], "round": level["round"], "sparsity": level["sparsity"],
             **{key: run[key] for key in ("run", "score", "selected_update", "updates")}}
            for level in levels for run in level["runs"]]  # fmt: skip


def run_imp(objective: Any, config: ImpConfig, base_seed: int, out_dir: str | Path, model_name: str = "model",
            settings: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Run IMP, the random baselines and the winning-ticket test for one objective; write the outputs
    (``settings``, the recipe, is recorded in imp.json)."""
    from langtickets.analysis.common import Table, write_table
    from langtickets.analysis.imp_objectives import run_seed
    from langtickets.analysis.weight_masks import WeightMasks
    from langtickets.io import write_json
    from langtickets.seeding import derive_seed

    out_dir = Path(out_dir)
    task, lang = objective.task, objective.lang
    info = {"task": task, "lang": lang, "model": model_name}

    def save(name: str, masks: WeightMasks) -> str:
        WeightMasks(masks.masks, {**info, "name": name}).save(out_dir / "masks" / f"{name}.safetensors")
        return f"masks/{name}.safetensors"

    def seed_of(run: int) -> int:
        return run_seed(base_seed, task, lang, run)

    levels = iterative_magnitude_pruning(objective, config, seed_of, save)
    template = WeightMasks.dense(objective.fresh_model(seed_of(config.runs[0])))
    randoms = random_baselines(objective, config, template, seed_of,
                               lambda r: derive_seed(base_seed, "imp-random", task, lang, r), save)  # fmt: skip
    result = {**info, "metric": objective.metric, "higher_is_better": objective.higher_is_better,
              "rate": config.rate, "rounds": config.rounds, "runs": list(config.runs),
              **winning_summary(levels, randoms, objective.higher_is_better),
              "levels": levels, "random": randoms, "settings": settings or {}}  # fmt: skip
    write_json(out_dir / "imp.json", result)
    rows = tuple(record_rows(task, lang, levels + randoms))
    write_table(Table(RECORD_COLUMNS, rows, decimals=6), out_dir / "imp.csv")
    return result


def _parser() -> argparse.ArgumentParser:
    from langtickets.analysis.imp_cli import add_objective_arguments

    parser = argparse.ArgumentParser(prog="langtickets subnetworks-imp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", required=True, help="the language whose data IMP trains on")
    parser.add_argument("--rate", type=float, default=0.1, help="share of the ORIGINAL weights pruned per round")
    parser.add_argument("--rounds", type=int, default=5, help="pruning rounds (sparsity = rounds x rate)")
    parser.add_argument("--random-rounds", type=int, nargs="*", default=[],
                        help="rounds whose sparsity also gets a random subnetwork")  # fmt: skip
    parser.add_argument("--out-dir", type=Path, required=True)
    add_objective_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.analysis.imp_cli import objectives_from_args, settings_from_args, start
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    config = ImpConfig(args.rate, args.rounds, tuple(args.runs), tuple(args.random_rounds))
    start(args)
    settings = settings_from_args(args)
    objective = objectives_from_args(args, settings, [args.lang])[args.lang]
    result = run_imp(objective, config, args.seed, args.out_dir, args.model_name, settings.describe())
    winning = result["max_winning_sparsity"]
    summary("subnetworks-imp", started, task=args.task, lang=args.lang, rounds=config.rounds,
            dense=f"{result['dense']['mean']:.4f}", sparsest_winning="none" if winning is None else winning,
            trainings=(config.rounds + 1 + len(config.random_rounds)) * len(config.runs))  # fmt: skip
    return 0 if math.isfinite(result["dense"]["mean"]) else 1

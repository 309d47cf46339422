"""``langtickets subnetworks-heads``: the head-importance analysis of :mod:`langtickets.analysis.heads_run`.

Units and their data come as ``UNIT=VALUE`` pairs with ``UNIT = task/lang``::

    subnetworks-heads --model results/pretrain/dense/model --model-name dense --units ner/qaa nli/qaa \\
        --format ner/qaa=bio nli/qaa=americasnli --train ner/qaa=F nli/qaa=F --test ner/qaa=F nli/qaa=F \\
        --runs 0 --seed 1234 --alphas 0.1 0.3 0.5 --out-dir results/analysis/heads/dense
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langtickets.errors import ConfigError
from langtickets.seeding import derive_seed

IMPORTANCE_COLUMNS = ("run", "unit", "task", "lang", "layer", "head", "importance", "raw_importance", "rank")
DISSOCIATION_COLUMNS = ("run", "alpha", "heads", "a", "b", "rp_a_hb", "rp_a_ha", "rp_b_ha", "rp_b_hb", "d_a", "d_b",
                        "d")  # fmt: skip
PRUNING_COLUMNS = ("run", "unit", "task", "lang", "order", "fraction", "heads_pruned", "score", "relative")
_TRAIN_FIELDS = ("batch_size", "lr", "epochs", "max_updates", "warmup_ratio", "weight_decay", "max_grad_norm",
                 "adam_eps", "eval_batch_size")  # fmt: skip


def parse_unit(text: str) -> tuple[str, str]:
    from langtickets.tasks.records import TASKS

    task, sep, lang = text.partition("/")
    if not sep or task not in TASKS or not lang:
        raise ConfigError(f"unit '{text}' is not TASK/LANG with TASK one of {', '.join(TASKS)}")
    return task, lang


@dataclass
class Prepared:
    """The pretrained model and every unit's featurised train and test splits."""

    pretrained: Any
    tasks: dict[str, str]
    labels: dict[str, Any]
    train: dict[str, Any]
    test: dict[str, Any]


def dataset_specs(args: argparse.Namespace, units: Sequence[str]) -> dict[str, Any]:
    from langtickets.analysis.imp_cli import _by_lang
    from langtickets.tasks.spec import DatasetSpec

    formats, trains, tests = (_by_lang(getattr(args, name), f"--{name}") for name in ("format", "train", "test"))
    filters, map_to_o = _by_lang(args.data_language, "--data-language"), _by_lang(args.map_to_o, "--map-to-o")
    specs = {}
    for unit in units:
        if unit not in formats or unit not in trains or unit not in tests:
            raise ConfigError(f"unit '{unit}' needs --format, --train and --test entries ({unit}=...)")
        specs[unit] = DatasetSpec(
            parse_unit(unit)[0], formats[unit], {"train": trains[unit], "test": tests[unit]},
            repair_bio=True if unit in args.repair_bio else None,
            map_to_o=tuple(t for t in map_to_o.get(unit, "").split(",") if t),
            language=filters.get(unit), name=f"the command line (unit {unit})",
        )  # fmt: skip
    return specs


def prepare(model_dir: str | Path, specs: Mapping[str, Any], max_length: int) -> Prepared:
    """Read every unit's splits (before the model, so bad data fails fast), load the model, featurise.

    A task's label set covers all its units (NER: the union of their entity types)."""
    from langtickets.tasks.encoders import load_pretrained
    from langtickets.tasks.evaluate import featurize, task_labels
    from langtickets.tasks.protocols import check_length, read_split
    from langtickets.tasks.records import ner_labels

    records = {unit: {split: read_split(spec, split) for split in ("train", "test")} for unit, spec in specs.items()}
    tasks = {unit: spec.task for unit, spec in specs.items()}
    labels = {}
    for task in dict.fromkeys(tasks.values()):
        mine = [records[u]["train"] for u in records if tasks[u] == task]
        labels[task] = ner_labels(*mine) if task == "ner" else task_labels(task)
    pretrained = load_pretrained(model_dir)
    check_length(pretrained.encoder, max_length)

    def feats(unit: str, split: str) -> Any:
        return featurize(tasks[unit], pretrained.tokenizer, records[unit][split], labels[tasks[unit]], max_length,
                         where=specs[unit].source(split))  # fmt: skip

    train, test = ({unit: feats(unit, split) for unit in specs} for split in ("train", "test"))
    return Prepared(pretrained, tasks, labels, train, test)


def run_once(data: Prepared, config: Any, train: Any, run: int, seed: int, head_options: Mapping[str, dict],
             device: Any) -> dict:  # fmt: skip
    """Train the joint model of one run and measure importance, dissociation and curves (``head_options``:
    task -> options of its head)."""
    from langtickets.analysis import heads as H
    from langtickets.analysis.heads_run import (
        Scorer,
        curve_rows,
        dissociation_rows,
        head_orders,
        train_joint,
        unit_importance,
    )
    from langtickets.tasks.encoders import new_task_model

    run_seed = derive_seed(seed, "heads", run)
    pad_id = data.pretrained.tokenizer.pad_token_id
    encoder = data.pretrained.fresh_encoder().to(device)
    models = {task: new_task_model(encoder, task, data.labels[task], run_seed, dict(head_options[task])).to(device)
              for task in data.labels}  # fmt: skip
    features = {unit: split.features for unit, split in data.train.items()}
    record = train_joint(models, features, data.tasks, train, run_seed, pad_id, device)
    units = list(data.tasks)
    raw = {u: unit_importance(models[data.tasks[u]], data.train[u].features, config.importance_examples,
                              derive_seed(run_seed, "importance", u), pad_id, device) for u in units}  # fmt: skip
    importance = {u: H.normalize_by_layer(raw[u]) if config.normalize else raw[u] for u in units}
    score = Scorer(models, data.test, data.tasks, data.labels, pad_id, train.eval_batch_size, device)
    baseline = {u: score(u, []) for u in units}
    ranked = {u: H.ranked_heads(importance[u]) for u in units}
    curves = []
    for u in units:
        orders = head_orders(importance[u], config.random_orders, derive_seed(run_seed, "random-order", u))
        curves += curve_rows(u, orders, config.fractions, score, baseline[u])
    return {"run": run, "training": record, "raw": raw, "importance": importance, "baseline": baseline,
            "dissociation": dissociation_rows(units, ranked, config.alphas, score, baseline),
            "curves": curves}  # fmt: skip


def _mean(values: Sequence[float]) -> float | None:
    import math

    finite = [v for v in values if v is not None and math.isfinite(v)]
    return round(statistics.fmean(finite), 6) if finite else None


def summarise(runs: list[dict], data: Prepared, model_name: str, config: Any) -> dict[str, Any]:
    """``heads.json``: means over runs of importance, baselines, RP/D per alpha and the curves."""
    import torch

    units = list(data.tasks)
    layers, heads = tuple(runs[0]["importance"][units[0]].shape)

    def mean_matrix(key: str, unit: str) -> list[list[float]]:
        stacked = torch.stack([r[key][unit] for r in runs]).mean(0)
        return [[round(float(x), 6) for x in row] for row in stacked]

    dissociation = []
    for index, row in enumerate(runs[0]["dissociation"]):
        keys = [k for k in row if k not in ("alpha", "heads", "a", "b")]
        values = {k: _mean([r["dissociation"][index][k] for r in runs]) for k in keys}
        dissociation.append({"alpha": row["alpha"], "heads": row["heads"], "a": row["a"], "b": row["b"], **values})
    curves = []
    for index, row in enumerate(runs[0]["curves"]):
        curves.append({**{k: row[k] for k in ("unit", "order", "fraction", "heads_pruned")},
                       "score": _mean([r["curves"][index]["score"] for r in runs]),
                       "relative": _mean([r["curves"][index]["relative"] for r in runs])})  # fmt: skip
    from langtickets.tasks.evaluate import SELECTION_METRIC

    return {
        "model": model_name, "units": units, "tasks": data.tasks, "layers": layers, "heads": heads,
        "runs": [r["run"] for r in runs], "alphas": list(config.alphas), "fractions": list(config.fractions),
        "normalized": config.normalize, "metric": {u: SELECTION_METRIC[data.tasks[u]] for u in units},
        "baseline": {u: _mean([r["baseline"][u] for r in runs]) for u in units},
        "importance": {u: mean_matrix("importance", u) for u in units},
        "raw_importance": {u: mean_matrix("raw", u) for u in units},
        "dissociation": dissociation, "curves": curves, "training": [r["training"] for r in runs],
    }  # fmt: skip


def table_rows(runs: list[dict], tasks: Mapping[str, str]) -> tuple[list, list, list]:
    """Rows of importance.csv, dissociation.csv and pruning.csv (one block per run)."""
    from langtickets.analysis import heads as H

    importance, dissociation, pruning = [], [], []
    for r in runs:
        for unit, scores in r["importance"].items():
            rank = {head: i + 1 for i, head in enumerate(H.ranked_heads(scores))}
            lang = unit.split("/", 1)[1]
            for (layer, head), value in zip(((l, h) for l in range(scores.shape[0]) for h in range(scores.shape[1])),
                                            scores.reshape(-1).tolist()):  # fmt: skip
                importance.append({"run": r["run"], "unit": unit, "task": tasks[unit], "lang": lang, "layer": layer,
                                   "head": head, "importance": value,
                                   "raw_importance": float(r["raw"][unit][layer, head]),
                                   "rank": rank[layer, head]})  # fmt: skip
        dissociation += [{"run": r["run"], **row} for row in r["dissociation"]]
        pruning += [{"run": r["run"], "task": tasks[row["unit"]], "lang": row["unit"].split("/", 1)[1], **row}
                    for row in r["curves"]]  # fmt: skip
    return importance, dissociation, pruning


def _parser() -> argparse.ArgumentParser:
    from langtickets.analysis.imp_cli import pair
    from langtickets.tasks.finetune import TrainConfig

    parser = argparse.ArgumentParser(prog="langtickets subnetworks-heads", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="pretrained model folder (results/pretrain/VARIANT/model)")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--units", nargs="+", required=True, metavar="TASK/LANG")
    for name in ("format", "train", "test"):
        parser.add_argument(f"--{name}", type=pair, nargs="+", required=True, metavar="UNIT=VALUE")
    parser.add_argument("--repair-bio", nargs="*", default=[], metavar="UNIT")
    parser.add_argument("--map-to-o", type=pair, nargs="*", default=[], metavar="UNIT=T1,T2")
    parser.add_argument("--data-language", type=pair, nargs="*", default=[], metavar="UNIT=CODE")
    parser.add_argument("--runs", type=int, nargs="+", default=[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--fractions", type=float, nargs="+", default=[i / 10 for i in range(11)])
    parser.add_argument("--random-orders", type=int, default=5, help="random pruning orders averaged (0 = none)")
    parser.add_argument("--importance-examples", type=int, default=0, help="training examples per unit (0 = all)")
    parser.add_argument("--no-normalize", action="store_true", help="keep raw importance (no per-layer L2 norm)")
    defaults = TrainConfig()
    for name in _TRAIN_FIELDS:
        default = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--head-dropout", type=float, default=0.1)
    parser.add_argument("--arc-dim", type=int, default=500, help="dep: biaffine arc projection")
    parser.add_argument("--relation-dim", type=int, default=100, help="dep: biaffine relation projection")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, required=True, help="writes heads.json and three CSV tables")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from langtickets.analysis.common import Table, write_table
    from langtickets.analysis.heads_run import HeadsConfig
    from langtickets.cli import summary
    from langtickets.io import write_json
    from langtickets.tasks.finetune import TrainConfig

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    units = list(dict.fromkeys(args.units))
    for unit in units:
        parse_unit(unit)
    config = HeadsConfig(tuple(args.alphas), tuple(args.fractions), args.random_orders, args.importance_examples,
                         not args.no_normalize, tuple(args.runs))  # fmt: skip
    train = TrainConfig(**{name: getattr(args, name) for name in _TRAIN_FIELDS})
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)  # fmt: skip
    data = prepare(args.model, dataset_specs(args, units), args.max_length)
    options = {task: {"dropout": args.head_dropout, **(_dep(args) if task == "dep" else {})} for task in data.labels}
    runs = [run_once(data, config, train, run, args.seed, options, device) for run in config.runs]
    write_json(args.out_dir / "heads.json", summarise(runs, data, args.model_name, config))
    importance, dissociation, pruning = table_rows(runs, data.tasks)
    write_table(Table(IMPORTANCE_COLUMNS, tuple(importance), decimals=6), args.out_dir / "importance.csv")
    write_table(Table(DISSOCIATION_COLUMNS, tuple(dissociation), decimals=6), args.out_dir / "dissociation.csv")
    write_table(Table(PRUNING_COLUMNS, tuple(pruning), decimals=6), args.out_dir / "pruning.csv")
    summary("subnetworks-heads", started, model=args.model_name, units=len(units), runs=len(config.runs))
    return 0


def _dep(args: argparse.Namespace) -> dict[str, int]:
    return {"arc_dim": args.arc_dim, "relation_dim": args.relation_dim}

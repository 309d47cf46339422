"""Cross-lingual transfer of IMP subnetworks (IMP paper, section 5 "Cross-lingual Transfer of Winning
Tickets", Figures 4 and 6, footnote 15; parameter overlap of Figure 3).

For a task and a sparsity level, the subnetwork found for a *source* language ``s`` is rewound to theta0
and retrained on a *target* language ``t``; its score ``a(s, t)`` is compared with the target's own
subnetwork retrained on the same data, ``a(t, t)`` (the winning-ticket retraining of the target's IMP job,
with the same runs and seeds, so the two differ only in the mask). The outputs:

* the matrix of differences ``a(s, t) - a(t, t)`` (rows: sources, columns: targets; zero on the diagonal),
  with a last row ``rand``: the random subnetwork of the same sparsity, ``rand(t) - a(t, t)``;
* successful transfers: ``a(s, t)`` within one standard deviation of ``a(t, t)`` over the runs, or better;
* footnote 15's average relative transfer of each source,
  ``1/(|L|-1) * sum_{t != s} (a(s, t) - a(t, t)) / a(t, t)`` (negative = a drop for F1 / accuracy, positive
  = worse for perplexity); for ``rand`` the average runs over all targets;
* Jaccard similarity of the languages' masks per layer and over all layers (Figure 3), with the overlap
  two random masks of that sparsity would have, ``d^2 / (2d - d^2)`` for density ``d``.

``langtickets subnetworks-transfer`` writes ``transfer.json``, ``transfer.csv`` (one row per trained model)
and ``transfer-relative.csv``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langtickets.analysis.common import finite_or_none
from langtickets.analysis.imp import is_winning, mean_std
from langtickets.errors import ConfigError, InputError

RANDOM_ROW = "rand"
RUN_COLUMNS = ("task", "round", "sparsity", "source", "target", "run", "score", "own", "difference")
RELATIVE_COLUMNS = ("task", "round", "sparsity", "source", "relative", "successful")


def difference_matrix(langs: Sequence[str], own: Mapping[str, float],
                      transferred: Mapping[tuple[str, str], float]) -> list[list[float]]:  # fmt: skip
    """``[[a(s, t) - a(t, t) for t in langs] for s in langs]``; ``a(t, t)`` comes from ``own``."""
    return [[0.0 if s == t else transferred[s, t] - own[t] for t in langs] for s in langs]


def relative_transfer(langs: Sequence[str], own: Mapping[str, float],
                      transferred: Mapping[tuple[str, str], float]) -> dict[str, float]:  # fmt: skip
    """Footnote 15 for every source: ``1/(|L|-1) * sum_{t != s} (a(s, t) - a(t, t)) / a(t, t)``."""
    if len(langs) < 2:
        raise ConfigError("cross-lingual transfer needs at least two languages")
    return {s: _mean_ratio([(transferred[s, t], own[t]) for t in langs if t != s]) for s in langs}


def random_relative(langs: Sequence[str], own: Mapping[str, float], random: Mapping[str, float]) -> float:
    """The random subnetwork's average relative difference over every target."""
    return _mean_ratio([(random[t], own[t]) for t in langs])


def _mean_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """Mean of ``(a - b) / b``; NaN when some ``b`` is 0 (a target whose own score is 0 has no relative drop)."""
    if any(b == 0 for _, b in pairs):
        return float("nan")
    return sum((a - b) / b for a, b in pairs) / len(pairs)


def jaccard_by_layer(masks: Mapping[str, Any]) -> dict[str, Any]:
    """Jaccard matrices of the languages' kept weights per layer and over every prunable weight."""
    import numpy as np

    from langtickets.analysis.common import matrix_to_json
    from langtickets.analysis.overlap import jaccard_matrix

    langs = list(masks)
    keys = list(next(iter(masks.values())).masks)
    layers = sorted({int(key.split(".")[1]) for key in keys})

    def rows(selected: list[str]) -> np.ndarray:
        return np.stack([np.concatenate([masks[lang].masks[k].reshape(-1).numpy() for k in selected])
                         for lang in langs])  # fmt: skip

    per_layer = [matrix_to_json(jaccard_matrix(rows([k for k in keys if int(k.split(".")[1]) == i]))) for i in layers]
    density = 1.0 - next(iter(masks.values())).sparsity
    expected = density * density / (2 * density - density * density) if density > 0 else None
    return {"langs": langs, "layers": layers, "jaccard": per_layer, "all": matrix_to_json(jaccard_matrix(rows(keys))),
            "random_expectation": expected}  # fmt: skip


def _stats(runs: list[dict]) -> dict[str, Any]:
    mean, std = mean_std([run["score"] for run in runs])
    return {"mean": round(mean, 6), "std": round(std, 6), "runs": runs}


def level_summary(langs: Sequence[str], own: Mapping[str, dict], random: Mapping[str, dict],
                  transferred: Mapping[tuple[str, str], dict], higher_is_better: bool) -> dict[str, Any]:  # fmt: skip
    """Differences, the ``rand`` row, successful transfers and footnote 15 from per-pair run statistics."""
    own_mean = {t: own[t]["mean"] for t in langs}
    means = {pair: stats["mean"] for pair, stats in transferred.items()}
    diff = difference_matrix(langs, own_mean, means)
    rand_row = [random[t]["mean"] - own_mean[t] for t in langs]
    success = [[s == t or is_winning(means[s, t], own_mean[t], own[t]["std"], higher_is_better) for t in langs]
               for s in langs]  # fmt: skip
    relative = relative_transfer(langs, own_mean, means)
    relative[RANDOM_ROW] = random_relative(langs, own_mean, {t: random[t]["mean"] for t in langs})
    return {
        "rows": [*langs, RANDOM_ROW], "cols": list(langs),
        "difference": [[round(x, 6) for x in row] for row in [*diff, rand_row]],
        "successful": success,
        "relative": {key: finite_or_none(round(value, 6)) for key, value in relative.items()},
        "own": dict(own), "random": dict(random),
        "transferred": {s: {t: transferred[s, t] for t in langs if t != s} for s in langs},
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Running it


def read_imp(folder: str | Path, task: str, lang: str, runs: Sequence[int]) -> dict[str, Any]:
    """A language's ``imp.json``, checked to be of this task and language and to hold these runs."""
    from langtickets.analysis.common import load_json

    path = Path(folder) / "imp.json"
    data = load_json(path, "IMP result", "run `langtickets subnetworks-imp` for this language first")
    if data.get("task") != task or data.get("lang") != lang:
        raise InputError(path, f"holds task '{data.get('task')}' language '{data.get('lang')}', not {task} {lang}",
                         "pass each language's own IMP folder (--imp LANG=DIR)")  # fmt: skip
    if list(data.get("runs", [])) != list(runs):
        raise InputError(path, f"was run with runs {data.get('runs')}, not {list(runs)}",
                         "use the same --runs for IMP and transfer")  # fmt: skip
    return data


def _find(levels: list[dict], round_: int, path: Path, what: str) -> dict:
    for level in levels:
        if level["round"] == round_:
            return level
    raise InputError(path, f"has no {what} level for round {round_}",
                     "rerun IMP with enough --rounds and --random-rounds including the transfer rounds")  # fmt: skip


def run_transfer(objectives: Mapping[str, Any], imp_dirs: Mapping[str, Path], rounds: Sequence[int],
                 runs: Sequence[int], base_seed: int) -> list[dict[str, Any]]:  # fmt: skip
    """Train every source's mask on every other target for every run; one summary per round."""
    from langtickets.analysis.imp import train_subnetwork
    from langtickets.analysis.imp_objectives import run_seed
    from langtickets.analysis.weight_masks import WeightMasks

    langs = list(objectives)
    first = objectives[langs[0]]
    imps = {lang: read_imp(imp_dirs[lang], first.task, lang, runs) for lang in langs}
    summaries = []
    for round_ in rounds:
        where = {lang: Path(imp_dirs[lang]) / "imp.json" for lang in langs}
        level = {lang: _find(imps[lang]["levels"], round_, where[lang], "IMP") for lang in langs}
        rand = {lang: _find(imps[lang]["random"], round_, where[lang], "random") for lang in langs}
        masks = {lang: WeightMasks.load(Path(imp_dirs[lang]) / level[lang]["mask"]) for lang in langs}
        transferred = {}
        for s in langs:
            for t in (t for t in langs if t != s):
                seeds = {run: run_seed(base_seed, first.task, t, run) for run in runs}
                records = [{"run": run, **train_subnetwork(objectives[t], masks[s], seeds[run])[0]} for run in runs]
                transferred[s, t] = _stats(records)
        own = {t: _stats(level[t]["runs"]) for t in langs}
        random = {t: _stats(rand[t]["runs"]) for t in langs}
        summary = level_summary(langs, own, random, transferred, first.higher_is_better)
        summaries.append({"round": round_, "sparsity": level[langs[0]]["sparsity"], **summary,
                          "overlap": jaccard_by_layer(masks)})  # fmt: skip
    return summaries


def transfer_rows(task: str, levels: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Rows of ``transfer.csv`` (every trained model, own runs included) and ``transfer-relative.csv``."""
    runs, relative = [], []
    for level in levels:
        base = {"task": task, "round": level["round"], "sparsity": level["sparsity"]}
        for t, stats in level["own"].items():
            runs += [{**base, "source": t, "target": t, "run": r["run"], "score": r["score"], "own": stats["mean"],
                      "difference": round(r["score"] - stats["mean"], 6)} for r in stats["runs"]]  # fmt: skip
        for s, targets in level["transferred"].items():
            for t, stats in targets.items():
                own = level["own"][t]["mean"]
                runs += [{**base, "source": s, "target": t, "run": r["run"], "score": r["score"], "own": own,
                          "difference": round(r["score"] - own, 6)} for r in stats["runs"]]  # fmt: skip
        for index, source in enumerate(level["rows"]):
            ok = sum(level["successful"][index]) - 1 if source != RANDOM_ROW else None
            relative.append({**base, "source": source, "relative": level["relative"][source], "successful": ok})
    return runs, relative


def _parser() -> argparse.ArgumentParser:
    from langtickets.analysis.imp_cli import add_objective_arguments, pair

    parser = argparse.ArgumentParser(prog="langtickets subnetworks-transfer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--langs", nargs="+", required=True, help="languages (sources and targets)")
    parser.add_argument("--imp", type=pair, nargs="+", required=True, metavar="LANG=DIR",
                        help="each language's subnetworks-imp output folder")  # fmt: skip
    parser.add_argument("--rounds", type=int, nargs="+", required=True, help="IMP rounds whose masks transfer")
    parser.add_argument("--json", type=Path, required=True, help="transfer.json to write")
    parser.add_argument("--csv", type=Path, required=True, help="transfer.csv to write (one row per model)")
    parser.add_argument("--relative-csv", type=Path, required=True, help="footnote-15 table to write")
    add_objective_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.analysis.common import Table, write_table
    from langtickets.analysis.imp_cli import objectives_from_args, settings_from_args, start
    from langtickets.cli import summary
    from langtickets.io import write_json

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    langs = list(dict.fromkeys(args.langs))
    imp_dirs = {lang: Path(folder) for lang, folder in args.imp}
    missing = [lang for lang in langs if lang not in imp_dirs]
    if len(langs) < 2 or missing:
        raise ConfigError(f"transfer needs two or more --langs, each with --imp LANG=DIR (missing: {missing})")
    start(args)
    settings = settings_from_args(args)
    objectives = objectives_from_args(args, settings, langs)
    first = objectives[langs[0]]
    levels = run_transfer(objectives, imp_dirs, args.rounds, args.runs, args.seed)
    write_json(args.json, {"task": args.task, "model": args.model_name, "metric": first.metric,
                           "higher_is_better": first.higher_is_better, "langs": langs, "runs": list(args.runs),
                           "levels": levels, "settings": settings.describe()})  # fmt: skip
    runs, relative = transfer_rows(args.task, levels)
    write_table(Table(RUN_COLUMNS, tuple(runs), decimals=6), args.csv)
    write_table(Table(RELATIVE_COLUMNS, tuple(relative), decimals=6), args.relative_csv)
    summary("subnetworks-transfer", started, task=args.task, langs=",".join(langs), rounds=len(args.rounds),
            trainings=len(args.rounds) * len(langs) * (len(langs) - 1) * len(args.runs))  # fmt: skip
    return 0

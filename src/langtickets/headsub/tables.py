"""``langtickets headsub-table``: Tables 1, 4 and 5 of Choenni et al. as CSV and Markdown, read from the
``results.json`` files of ``headsub-train`` (nothing is recomputed; no torch import).

* ``las`` (Tables 1 and 2): one row per model (framework x variant), LAS (x100, mean over runs and few-shot
  seeds) per target -- the column names the fine-tuning language whose subnetwork the target borrowed --,
  the average, and ``best_pct``, the share of targets on which the model is best among the six models of
  Table 1 (full, static, dynamic in both frameworks; baselines get no share);
* ``heads`` (Table 4): per framework and fine-tuning language, each variant's test LAS on that language
  under its own subnetwork and ``{variant}_off``, the units its final mask disables (heads; attention
  weights for the magnitude variants);
* ``conflicts`` (Table 5): per model, the percentage of conflicting (negative-cosine) language-pair
  gradients and their mean cosine over the last iterations or episodes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langtickets.analysis.common import Table, load_json, require_keys, write_table
from langtickets.errors import InputError

TABLE1_VARIANTS = ("full", "static", "dynamic")
FIX = "rerun the headsub_train rule"


def read_results(inputs: Sequence[Path]) -> list[Mapping[str, Any]]:
    """The results files, non-episodic before meta; all must share the targets."""
    reports = []
    for path in inputs:
        report = load_json(path, "head-subnetwork results", FIX)
        require_keys(report, ["framework", "variants", "targets", "languages", "results", "similarity"], path, FIX)
        if reports and report["targets"] != reports[0]["targets"]:
            raise InputError(path, f"targets {report['targets']} differ from {reports[0]['targets']}",
                             "train every framework on the same targets")  # fmt: skip
        reports.append(report)
    return sorted(reports, key=lambda r: r["framework"] != "nonep")


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _count(value: float | None) -> int | float | None:
    """A unit count: an integer when every run disabled the same number (always, for static masks)."""
    return int(value) if value is not None and float(value).is_integer() else value


def model_rows(reports: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """``(framework, variant, result)`` in table order."""
    return [(r["framework"], v, r["results"][v]) for r in reports for v in r["variants"]]


def las_table(reports: Sequence[Mapping[str, Any]]) -> Table:
    targets = reports[0]["targets"]
    choices = reports[0]["similarity"]["targets"]
    names = {t: f"{t} ({choices[t]['choice']})" for t in targets}
    models = model_rows(reports)
    table1 = [(f, v, res) for f, v, res in models if v in TABLE1_VARIANTS]
    best = {t: max((res["targets"][t]["las"] for _, _, res in table1), default=None) for t in targets}
    rows = []
    for framework, variant, result in models:
        row = {"model": f"{framework}-{variant}", "framework": framework, "variant": variant}
        row.update({names[t]: _pct(result["targets"][t]["las"]) for t in targets})
        row["avg"] = _pct(result["average"]["las"])
        if variant in TABLE1_VARIANTS:
            wins = sum(result["targets"][t]["las"] == best[t] for t in targets)
            row["best_pct"] = 100.0 * wins / len(targets)
        rows.append(row)
    return Table(("model", "framework", "variant", *names.values(), "avg", "best_pct"), tuple(rows), decimals=2)


def heads_table(reports: Sequence[Mapping[str, Any]]) -> Table:
    variants = list(dict.fromkeys(v for r in reports for v in r["variants"]))
    rows = []
    for report in reports:
        for lang in report["languages"]:
            row: dict[str, Any] = {"framework": report["framework"], "lang": lang}
            for variant in report["variants"]:
                own = report["results"][variant]["train_languages"][lang]
                row[variant] = _pct(own["las"])
                row[f"{variant}_off"] = _count(own["disabled"])
            rows.append(row)
    columns = [c for v in variants for c in (v, f"{v}_off")]
    return Table(("framework", "lang", *columns), tuple(rows), decimals=2)


def conflicts_table(reports: Sequence[Mapping[str, Any]]) -> Table:
    rows = []
    for framework, variant, result in model_rows(reports):
        conflicts = result["conflicts"]
        rows.append({"model": f"{framework}-{variant}", "framework": framework, "variant": variant,
                     "conflicts_pct": _pct(conflicts["conflict_share"]), "mean_cosine": conflicts["mean_cosine"],
                     "pairs": conflicts["pairs"], "window": conflicts["window"]})  # fmt: skip
    return Table(("model", "framework", "variant", "conflicts_pct", "mean_cosine", "pairs", "window"), tuple(rows),
                 decimals=3)  # fmt: skip


TABLES = {
    "las": (las_table, "Few-shot LAS per target language (Tables 1-2; column: target (its subnetwork's language))"),
    "heads": (heads_table, "LAS on the fine-tuning languages and units disabled by their masks (Table 4)"),
    "conflicts": (conflicts_table, "Gradient conflicts between languages over the last iterations (Table 5)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets headsub-table", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=Path, nargs="+", required=True, help="results.json of headsub-train")
    for name in TABLES:
        parser.add_argument(f"--{name}-csv", type=Path, required=True)
        parser.add_argument(f"--{name}-md", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    reports = read_results(args.inputs)
    for name, (build, title) in TABLES.items():
        write_table(build(reports), getattr(args, f"{name}_csv"), getattr(args, f"{name}_md"), title)
    summary("headsub-table", started, inputs=len(reports), tables=len(TABLES))
    return 0

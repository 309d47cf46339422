"""``langtickets eval-table``: metrics files -> tables laid out like Tables 1 and 2 of the multilingual-tickets
paper (Lee & Hwang, section 4.2): one row per model, one column per language, then the average over
languages and, when the ticket stage's FLOPs table is there, the inference FLOPs per token.

One table per (task, protocol, metric): the task's report metric (POS accuracy, NER F1, DP LAS, NLI
accuracy) and, for DP, UAS as well. Written as ``{task}-{protocol}-{metric}.csv`` and ``.md`` under
``--out-dir``. Scores are percentages; each cell is the mean over runs (seeds) and its sample standard
deviation (0 with a single run). ``avg`` is the mean over languages of the per-language means, and its
deviation is that of the per-run averages over languages; a row missing a language gets no average rather
than one over fewer languages. Rows and columns keep the order in which the metrics files are given.

FLOPs (``--flops results/tickets/flops.csv``, optional; the column is left out when the file is absent):
a dense variant reads its architecture's ``dense`` row, a ticketed variant the ``mean`` row of its
architecture and method (tickets differ per language; the paper reports one number); models that are not
pretraining variants (e.g. a hub model) get an empty cell.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langtickets.errors import InputError
from langtickets.io import atomic_path, read_json, write_text

#: extra tables per task besides the report metric
EXTRA_METRICS: dict[str, tuple[str, ...]] = {"dep": ("uas",)}
FLOPS_COLUMN = "total_mflops"


@dataclass
class Table:
    """Scores of one (task, protocol, metric): ``scores[model][lang][run]`` in [0, 1]."""

    task: str
    protocol: str
    metric: str
    scores: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    langs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.task}-{self.protocol}-{self.metric}"

    def add(self, model: str, lang: str, run: int, value: float) -> None:
        if lang not in self.langs:
            self.langs.append(lang)
        self.scores.setdefault(model, {}).setdefault(lang, {})[run] = value


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        record = read_json(path)
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read the metrics file ({error})", "rerun the fine-tuning job") from None
    missing = [key for key in ("model", "task", "protocol", "lang", "run", "metrics") if key not in record]
    if missing:
        raise InputError(path, f"metrics file lacks {', '.join(missing)}", "rerun the fine-tuning job")
    return record


def collect(paths: Iterable[str | Path]) -> list[Table]:
    """Group metrics files into tables, in the order the files come."""
    tables: dict[tuple[str, str, str], Table] = {}
    for path in paths:
        record = _read_metrics(Path(path))
        metrics = (record["metric"], *EXTRA_METRICS.get(record["task"], ()))
        for metric in metrics:
            if metric not in record["metrics"]:
                raise InputError(path, f"has no '{metric}' score", "rerun the fine-tuning job")
            key = (record["task"], record["protocol"], metric)
            table = tables.setdefault(key, Table(*key))
            table.add(record["model"], record["lang"], int(record["run"]), float(record["metrics"][metric]))
    return list(tables.values())


def table_rows(table: Table, flops: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """One row per model: ``{lang}``/``{lang}_std`` means and deviations in percent, ``avg``, FLOPs."""
    rows = []
    for model, by_lang in table.scores.items():
        row: dict[str, Any] = {"model": model, "runs": max(len(runs) for runs in by_lang.values())}
        for lang in table.langs:
            runs = by_lang.get(lang)
            mean, std = _mean_std([100 * v for v in runs.values()]) if runs else (None, None)
            row[lang], row[f"{lang}_std"] = mean, std
        complete = all(lang in by_lang for lang in table.langs)
        common = sorted(set.intersection(*(set(by_lang[lang]) for lang in table.langs))) if complete else []
        if common:
            per_run = [statistics.fmean(100 * by_lang[lang][run] for lang in table.langs) for run in common]
            row["avg"] = statistics.fmean(row[lang] for lang in table.langs)
            row["avg_std"] = _mean_std(per_run)[1]
        else:
            row["avg"] = row["avg_std"] = None
        if flops is not None:
            row["flops_m"] = flops.get(model)
        rows.append(row)
    return rows


def read_flops(path: Path | None, models: Iterable[str], column: str = FLOPS_COLUMN) -> dict[str, str] | None:
    """``{model: FLOPs}`` for pretraining variants from the FLOPs CSV; None when there is no file."""
    if path is None or not path.is_file():
        return None
    from langtickets.pretrain import VARIANTS  # the variant table only; no torch

    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and column not in rows[0]:
        raise InputError(path, f"no column '{column}'", "rebuild it with `langtickets flops` or pick --flops-column")
    found = {}
    for model in models:
        if model not in VARIANTS:
            continue
        arch, method = VARIANTS[model]
        want = (arch, "dense", "all") if method is None else (arch, method, "mean")
        match = [row[column] for row in rows if (row["arch"], row["method"], row["lang"]) == want]
        if match:
            found[model] = match[0]
    return found


def _number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def write_csv(path: Path, table: Table, rows: list[dict[str, Any]], flops: bool) -> None:
    columns = ["model", "runs", *(c for lang in table.langs for c in (lang, f"{lang}_std")), "avg", "avg_std"]
    columns += ["flops_m"] if flops else []
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] if c in ("model", "runs", "flops_m") and row[c] is not None
                             else _number(row[c]) for c in columns])  # fmt: skip


def markdown(table: Table, rows: list[dict[str, Any]], flops: bool) -> str:
    """The table as Markdown, cells ``mean ± std``."""
    head = ["model", *table.langs, "avg"] + (["FLOPS(M)"] if flops else [])
    runs = sorted({row["runs"] for row in rows})
    lines = [f"{table.task.upper()} {table.metric} ({table.protocol}), mean ± std over "
             f"{'/'.join(map(str, runs))} run(s)", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]  # fmt: skip
    for row in rows:
        cells = [row["model"]]
        for key in (*table.langs, "avg"):
            cells.append("" if row[key] is None else f"{row[key]:.2f} ± {row[f'{key}_std']:.2f}")
        if flops:
            cells.append(row.get("flops_m") or "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(paths: Sequence[str | Path], out_dir: Path, flops_path: Path | None,
                 flops_column: str = FLOPS_COLUMN) -> list[str]:  # fmt: skip
    """Write every table's CSV and Markdown; returns the table names."""
    if not paths:
        raise InputError(out_dir, "no metrics files given", "pass the fine-tuning results with --inputs")
    tables = collect(paths)
    models = [model for table in tables for model in table.scores]
    flops = read_flops(flops_path, models, flops_column)
    for table in tables:
        rows = table_rows(table, flops)
        write_csv(out_dir / f"{table.name}.csv", table, rows, flops is not None)
        write_text(out_dir / f"{table.name}.md", markdown(table, rows, flops is not None))
    return [table.name for table in tables]


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    parser = argparse.ArgumentParser(prog="langtickets eval-table", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=Path, nargs="+", required=True, help="metrics files seed{run}.json")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for {task}-{protocol}-{metric}.csv/.md")
    parser.add_argument("--flops", type=Path, help="FLOPs CSV of the ticket stage (column left out if absent)")
    parser.add_argument("--flops-column", default=FLOPS_COLUMN, help="which FLOPs column to show")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    names = write_tables(args.inputs, args.out_dir, args.flops, args.flops_column)
    summary("eval-table", started, tables=len(names), files=len(args.inputs))
    return 0

"""``langtickets sft-table``: SFT transfer results laid out like Ansell et al.'s Tables 2 and 5, and the
density grid of §5.2 (Figure 3).

``sft-table transfer --inputs FILES --out-dir DIR`` (metrics files of ``sft-transfer-eval``):

* ``sft-{model}-{task}-{metric}.csv/.md`` -- Table 5's layout turned on its side: one row per method
  (LT-SFT, RAND-SFT, BitFit, Full FT; ``TA-only`` for task adaptation alone, ``MS`` for multi-source task
  SFTs), one column per target language, then the average over targets;
* ``sft-summary.csv/.md`` -- Table 2's layout: one row per (model, method), one column per task metric,
  each the average over that task's targets.

``sft-table density --inputs FILES --out-dir DIR`` (files of ``sft-sweep``): ``sft-density-{model}-{task}-{metric}``
with one row per (language density, task density): the score per target and the average over targets, the
data of the contour plot; the Markdown is the grid (language density down, task density across).

Numbers are percentages, mean ± sample standard deviation over runs (seeds), computed exactly as the tasks
stage's tables (:func:`langtickets.tasks.aggregate.table_rows`): a row missing a target gets no average.
The metrics are each task's report metric (POS accuracy, DP LAS, NER F1, NLI accuracy) and DP's UAS.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from langtickets.cli import summary
from langtickets.errors import InputError
from langtickets.io import atomic_path, read_json, write_text
from langtickets.tasks.aggregate import EXTRA_METRICS, Table, table_rows

#: display names of the methods (the paper's row labels)
METHOD_LABELS = {"lt-sft": "LT-SFT", "rand-sft": "RAND-SFT", "bitfit": "BitFit", "full": "Full FT"}
_REQUIRED = ("model", "task", "lang", "run", "metric", "metrics", "method", "composition")


def read_record(path: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    try:
        record = read_json(path)
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read the metrics file ({error})", "rerun the SFT evaluation job") from None
    missing = [key for key in (*_REQUIRED, *extra) if key not in record]
    if missing:
        raise InputError(path, f"is not an SFT metrics file (lacks {', '.join(missing)})",
                         "pass files written by sft-transfer-eval or sft-sweep")  # fmt: skip
    return record


def setup_label(record: dict[str, Any]) -> str:
    """The row label of a transfer setup: method, ``TA-only`` without the target's SFT, ``MS`` multi-source."""
    label = METHOD_LABELS.get(record["method"], record["method"])
    if record["composition"] == "task-only":
        label += " TA-only"
    if len(record.get("sources", [])) > 1:
        label += " MS"
    return label


def _metrics(record: dict[str, Any], path: Path) -> list[str]:
    names = [record["metric"], *EXTRA_METRICS.get(record["task"], ())]
    for name in names:
        if name not in record["metrics"]:
            raise InputError(path, f"has no '{name}' score", "rerun the SFT evaluation job")
    return names


def collect(paths: Iterable[str | Path], row_of, extra: Sequence[str] = ()) -> dict[tuple[str, str, str], Table]:
    """Tables keyed (model, task, metric); ``row_of(record)`` names a record's row; order of first appearance."""
    tables: dict[tuple[str, str, str], Table] = {}
    for path in map(Path, paths):
        record = read_record(path, extra)
        for metric in _metrics(record, path):
            key = (record["model"], record["task"], metric)
            table = tables.setdefault(key, Table(record["task"], "sft-transfer", metric))
            table.add(row_of(record), record["lang"], int(record["run"]), float(record["metrics"][metric]))
    return tables


def _cell(value: float | None, std: float | None) -> str:
    return "" if value is None else f"{value:.2f} ± {std:.2f}"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def markdown(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [title, "", "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _runs_text(rows: list[dict[str, Any]]) -> str:
    return "/".join(map(str, sorted({row["runs"] for row in rows})))


def write_method_table(out_dir: Path, model: str, table: Table) -> tuple[str, list[dict[str, Any]]]:
    """``sft-{model}-{task}-{metric}``: methods x targets + average (CSV and Markdown)."""
    rows = table_rows(table, None)
    name = f"sft-{model}-{table.task}-{table.metric}"
    header = ["method", "runs", *(c for lang in table.langs for c in (lang, f"{lang}_std")), "avg", "avg_std"]
    write_csv(out_dir / f"{name}.csv", header, [[row["model"], row["runs"], *(_number(row[c]) for c in header[2:])]
                                                 for row in rows])  # fmt: skip
    title = (f"{table.task.upper()} {table.metric}, zero-shot transfer with SFTs ({model}), mean ± std over "
             f"{_runs_text(rows)} run(s)")  # fmt: skip
    cells = [[row["model"], *(_cell(row[key], row[f"{key}_std"]) for key in (*table.langs, "avg"))] for row in rows]
    write_text(out_dir / f"{name}.md", markdown(title, ["method", *table.langs, "avg"], cells))
    return name, rows


def write_summary(out_dir: Path, averages: dict[tuple[str, str], dict[str, tuple[float | None, float | None]]],
                  columns: list[str]) -> None:  # fmt: skip
    """``sft-summary``: (model, method) x task metric averages over targets (Table 2's layout)."""
    header = ["model", "method", *(c for column in columns for c in (column, f"{column}_std"))]
    csv_rows, md_rows = [], []
    for (model, method), values in averages.items():
        pairs = [values.get(column, (None, None)) for column in columns]
        csv_rows.append([model, method, *(_number(x) for pair in pairs for x in pair)])
        md_rows.append([model, method, *(_cell(*pair) for pair in pairs)])
    write_csv(out_dir / "sft-summary.csv", header, csv_rows)
    title = "Zero-shot transfer with SFTs: average over each task's target languages (%), mean ± std over runs"
    write_text(out_dir / "sft-summary.md", markdown(title, ["model", "method", *columns], md_rows))


def write_transfer_tables(paths: Sequence[str | Path], out_dir: Path) -> list[str]:
    """Every per-(model, task, metric) table and the summary; returns the table names."""
    if not paths:
        raise InputError(out_dir, "no metrics files given", "pass the sft-transfer-eval results with --inputs")
    tables = collect(paths, setup_label)
    names, columns = [], []
    averages: dict[tuple[str, str], dict[str, tuple[float | None, float | None]]] = {}
    for (model, task, metric), table in tables.items():
        name, rows = write_method_table(out_dir, model, table)
        names.append(name)
        column = f"{task}_{metric}"
        columns += [column] if column not in columns else []
        for row in rows:
            averages.setdefault((model, row["model"]), {})[column] = (row["avg"], row["avg_std"])
    write_summary(out_dir, averages, columns)
    return names + ["sft-summary"]


def _cell_key(record: dict[str, Any]) -> str:
    return f"{float(record['language_density']):g}/{float(record['task_density']):g}"


def write_density_tables(paths: Sequence[str | Path], out_dir: Path) -> list[str]:
    """``sft-density-{model}-{task}-{metric}``: the grid of §5.2 per (model, task, metric)."""
    if not paths:
        raise InputError(out_dir, "no sweep files given", "pass the sft-sweep results with --inputs")
    tables = collect(paths, _cell_key, extra=("language_density", "task_density"))
    names = []
    for (model, task, metric), table in tables.items():
        rows = sorted(table_rows(table, None), key=lambda row: tuple(map(float, row["model"].split("/"))))
        name = f"sft-density-{model}-{task}-{metric}"
        langs = [c for lang in table.langs for c in (lang, f"{lang}_std")]
        header = ["language_density", "task_density", "runs", *langs, "avg", "avg_std"]
        lines = [[*row["model"].split("/"), row["runs"], *(_number(row[c]) for c in header[3:])] for row in rows]
        write_csv(out_dir / f"{name}.csv", header, lines)
        write_text(out_dir / f"{name}.md", density_grid(model, table, rows))
        names.append(name)
    return names


def density_grid(model: str, table: Table, rows: list[dict[str, Any]]) -> str:
    """The grid as Markdown: language density down, task density across, the average over targets."""
    cells = {tuple(row["model"].split("/")): row for row in rows}
    language = sorted({key[0] for key in cells}, key=float)
    task = sorted({key[1] for key in cells}, key=float)
    body = [[f"{ld}", *(_cell(cells[(ld, td)]["avg"], cells[(ld, td)]["avg_std"]) if (ld, td) in cells else ""
                         for td in task)] for ld in language]  # fmt: skip
    title = (f"{table.task.upper()} {table.metric} by language-SFT density (rows) and task-SFT density (columns), "
             f"{model}, average over {', '.join(table.langs)}")  # fmt: skip
    return markdown(title, ["language \\ task", *task], body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets sft-table", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("transfer", "density"), help="methods x targets tables, or the density grid")
    parser.add_argument("--inputs", type=Path, nargs="+", required=True, help="metrics files seed{run}.json")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    write = write_transfer_tables if args.kind == "transfer" else write_density_tables
    names = write(args.inputs, args.out_dir)
    summary("sft-table", started, kind=args.kind, tables=len(names), files=len(args.inputs))
    return 0

"""Small helpers the analyses share: the family table, JSON-safe numbers, CSV and Markdown tables."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langtickets.errors import InputError
from langtickets.io import read_json, write_text

FAMILY_COLUMNS = ("code", "name", "family", "genus")


@dataclass(frozen=True)
class Table:
    """Rows of one table, its column order, and how many decimals its floats get when written."""

    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]
    decimals: int = 4

    def cell(self, row: Mapping[str, Any], column: str) -> str:
        value = row.get(column)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return ""
        if isinstance(value, float):
            return f"{value:.{self.decimals}f}"
        return str(value)


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, or ``None`` for NaN/inf/None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def matrix_to_json(matrix: Iterable[Iterable[float]]) -> list[list[float | None]]:
    """Nested lists with undefined entries as ``null``."""
    return [[finite_or_none(x) for x in row] for row in matrix]


def read_family_tree(path: str | Path) -> dict[str, dict[str, str]]:
    """``{code: {"name", "family", "genus"}}`` from ``results/languages/family_tree.tsv``.

    The table is written by the ``family_tree`` rule for real languages (Glottolog families and genera from
    the language table) and demo languages alike (section 4.3 colours tickets by family).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "family table not found", "run the family_tree rule first") from None
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    missing = [name for name in FAMILY_COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        raise InputError(path, f"columns {missing} missing", "rebuild it with `langtickets family-tree`", line=1)
    table = {}
    for line, row in enumerate(reader, start=2):
        if not row["code"] or not row["family"]:
            raise InputError(path, "a row without code or family", "give every language a family", line=line)
        table[row["code"]] = {"name": row["name"], "family": row["family"], "genus": row["genus"] or row["family"]}
    return table


def table_csv(table: Table) -> str:
    """The table as CSV text (header, then one line per row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([table.cell(row, column) for column in table.columns])
    return out.getvalue()


def table_markdown(table: Table, title: str | None = None) -> str:
    """The table as a GitHub-flavoured Markdown pipe table (numbers right-aligned)."""
    numeric = [all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in table.rows) for c in table.columns]
    lines = [f"# {title}", ""] if title else []
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(table.cell(row, c).replace("|", "\\|") for c in table.columns) + " |")
    return "\n".join(lines) + "\n"


def write_table(table: Table, csv_path: str | Path, md_path: str | Path | None = None, title: str | None = None) -> None:
    """Write the CSV (and Markdown) form of ``table`` atomically."""
    write_text(csv_path, table_csv(table))
    if md_path is not None:
        write_text(md_path, table_markdown(table, title))


def load_json(path: str | Path, what: str, fix: str) -> Any:
    """Read a JSON input, turning a missing or broken file into an :class:`InputError`."""
    try:
        return read_json(path)
    except FileNotFoundError:
        raise InputError(path, f"{what} not found", fix) from None
    except ValueError as error:
        raise InputError(path, f"{what} is not valid JSON ({error})", fix) from None


def require_keys(data: Mapping[str, Any], keys: Sequence[str], path: str | Path, fix: str) -> None:
    """Raise :class:`InputError` naming the first of ``keys`` missing from ``data``."""
    for key in keys:
        if key not in data:
            raise InputError(path, f"key '{key}' missing", fix)

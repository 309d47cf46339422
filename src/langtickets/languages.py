"""The language table: one row per language, validated against ``config/schema/languages.schema.yaml``.

The table drives wildcards (only its codes are valid ``{lang}`` values), the choice of sentence splitter,
and the family labels the figures colour by.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import jsonschema
import yaml

from langtickets.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "config" / "schema" / "languages.schema.yaml"


@dataclass(frozen=True)
class Language:
    """One row of the language table."""

    code: str
    wiki: str
    name: str
    family: str
    genus: str
    script: str
    splitter: str
    iso639_3: str
    glottocode: str
    mbert: str

    @property
    def in_mbert(self) -> bool:
        return self.mbert == "yes"


COLUMNS = tuple(f.name for f in fields(Language))


class LanguageTable:
    """An ordered, validated collection of :class:`Language` rows, looked up by code."""

    def __init__(self, rows: Iterable[Language], path: Path):
        self.path = path
        self._rows = {row.code: row for row in rows}

    def __getitem__(self, code: str) -> Language:
        try:
            return self._rows[code]
        except KeyError:
            raise ConfigError(
                f"unknown language '{code}': it is not in {self.path}; add a row for it there "
                f"or fix the code (known codes look like: {', '.join(list(self._rows)[:5])}, ...)"
            ) from None

    def __contains__(self, code: object) -> bool:
        return code in self._rows

    def __iter__(self) -> Iterator[Language]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def codes(self) -> list[str]:
        return list(self._rows)

    def select(self, codes: Sequence[str], where: str = "the config") -> list[Language]:
        """Return the rows for ``codes`` in order; an unknown code is a :class:`ConfigError` naming ``where``."""
        unknown = [code for code in codes if code not in self._rows]
        if unknown:
            raise ConfigError(
                f"unknown language{'s' if len(unknown) > 1 else ''} {', '.join(repr(c) for c in unknown)} "
                f"in {where}: add {'them' if len(unknown) > 1 else 'it'} to {self.path} or remove "
                f"{'them' if len(unknown) > 1 else 'it'} from the config"
            )
        return [self._rows[code] for code in codes]


def _load_schema(schema: Path) -> dict:
    with open(schema, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _records(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of every line that is not blank or a '#' comment."""
    with open(path, encoding="utf-8", newline="") as handle:
        numbered = [(number, line.rstrip("\r\n")) for number, line in enumerate(handle, start=1)]
    kept = [(number, line) for number, line in numbered if line.strip() and not line.startswith("#")]
    return [(number, values) for (number, _), values in
            zip(kept, csv.reader([line for _, line in kept], delimiter="\t", quoting=csv.QUOTE_NONE))]


def _check_header(path: Path, records: list[tuple[int, list[str]]]) -> None:
    if not records:
        raise ConfigError(
            f"{path}: the language table is empty; start it with the tab-separated header {' '.join(COLUMNS)}"
        )
    number, header = records[0]
    if tuple(header) != COLUMNS:
        missing = [column for column in COLUMNS if column not in header]
        problem = f"missing column(s) {', '.join(missing)}" if missing else f"got {' '.join(header)}"
        raise ConfigError(
            f"{path}:{number}: bad header ({problem}); the header must be the tab-separated columns "
            f"{' '.join(COLUMNS)} in this order"
        )


def _describe(schema: dict, error: jsonschema.exceptions.ValidationError) -> str:
    """One schema violation as one line: the column, the problem and what the column should hold."""
    column = str(error.path[0]) if error.path else "row"
    expected = schema.get("properties", {}).get(column, {}).get("description")
    fix = f"fix the value ({column}: {expected})" if expected else "fix the value"
    return f"column '{column}': {error.message}; {fix}"


def load_table(path: str | Path, schema: str | Path | None = None) -> LanguageTable:
    """Read and validate a tab-separated language table.

    Checks the header, each row against the JSON Schema, and that codes are unique. Blank lines and lines
    starting with '#' are skipped. Every problem is a :class:`ConfigError` naming the file, the line and
    the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: language table not found; set 'languages_table' in the config to an existing TSV")
    validator = jsonschema.Draft202012Validator(_load_schema(Path(schema) if schema else DEFAULT_SCHEMA))
    records = _records(path)
    _check_header(path, records)
    rows: list[Language] = []
    seen: dict[str, int] = {}
    for number, values in records[1:]:
        if len(values) != len(COLUMNS):
            raise ConfigError(
                f"{path}:{number}: expected {len(COLUMNS)} tab-separated columns, found {len(values)}; "
                "separate columns with single tabs"
            )
        record = dict(zip(COLUMNS, values))
        error = jsonschema.exceptions.best_match(validator.iter_errors(record))
        if error is not None:
            raise ConfigError(f"{path}:{number}: {_describe(validator.schema, error)}")
        if record["code"] in seen:
            raise ConfigError(
                f"{path}:{number}: language code '{record['code']}' repeats line {seen[record['code']]}; "
                "codes must be unique"
            )
        seen[record["code"]] = number
        rows.append(Language(**record))
    if not rows:
        raise ConfigError(f"{path}: the language table has no rows; add at least one language")
    return LanguageTable(rows, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets validate-languages", description=__doc__)
    parser.add_argument("table", type=Path, nargs="+", help="language table(s) to validate")
    parser.add_argument("--schema", type=Path, default=None)
    args = parser.parse_args(argv)
    for table_path in args.table:
        table = load_table(table_path, args.schema)
        families = sorted({row.family for row in table})
        print(f"{table_path}: {len(table)} languages in {len(families)} families")
    return 0

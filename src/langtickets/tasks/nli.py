"""NLI readers: AmericasNLI, XNLI and MultiNLI in their TSV and JSON Lines releases (and KorNLI's TSV).

All files are read by header name, so one reader covers the column layouts in use:

* premise from ``premise`` or ``sentence1``; hypothesis from ``hypothesis``, ``hypo`` (XNLI-MT) or
  ``sentence2``; label from ``gold_label`` (preferred: MultiNLI and XNLI also carry ``label1..5``) or ``label``;
* ``.jsonl`` files hold one JSON object a line with the same keys; anything else is tab-separated with a
  header line and no quoting (quotes are ordinary characters in these corpora).

Labels are normalised to ``entailment``/``neutral``/``contradiction`` (XNLI-MT writes ``contradictory``). A
missing or unknown label is an error naming the row, except MultiNLI's ``-`` (annotators did not agree on a
gold label): with format ``multinli`` those rows are skipped and counted as ``skipped_no_gold_label``, as the
MultiNLI authors advise. With ``language`` set, rows of a file with a ``language`` column (XNLI's all-language
files, AmericasNLI) are kept only for that language and the rest counted as ``other_language``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

from langtickets.errors import InputError
from langtickets.io import open_text
from langtickets.tasks.records import NliPair

NLI_FORMATS: tuple[str, ...] = ("americasnli", "xnli", "multinli")

PREMISE_COLUMNS = ("premise", "sentence1")
HYPOTHESIS_COLUMNS = ("hypothesis", "hypo", "sentence2")
LABEL_COLUMNS = ("gold_label", "label")
_LABELS = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradiction",
           "contradictory": "contradiction"}  # fmt: skip
#: MultiNLI's marker for pairs without a consensus label (HF datasets write -1).
NO_GOLD_LABEL = ("-", "-1")


def read_nli(
    path: str | Path,
    format: str = "americasnli",
    *,
    language: str | None = None,
    counts: Counter | None = None,
) -> list[NliPair]:
    """Read an NLI file into :class:`NliPair` records (see the module docstring for layouts and labels).

    ``counts`` (if given) receives ``pairs``, ``skipped_no_gold_label`` and ``other_language``.
    """
    if format not in NLI_FORMATS:
        raise ValueError(f"unknown NLI format {format!r}; choose one of {', '.join(NLI_FORMATS)}")
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "NLI file not found", "check the dataset path in the config")
    counts = Counter() if counts is None else counts
    rows = _jsonl_rows(path) if path.name.endswith((".jsonl", ".jsonl.gz")) else _tsv_rows(path)
    pairs = []
    for line, row in rows:
        if language is not None and row.get("language", language) != language:
            counts["other_language"] += 1
            continue
        pair = nli_pair(row, path, line, allow_unlabeled=format == "multinli")
        if pair is None:
            counts["skipped_no_gold_label"] += 1
        else:
            pairs.append(pair)
    if not pairs:
        wanted = f" for language '{language}'" if language else ""
        raise InputError(path, f"the file holds no labelled pairs{wanted}", "point the dataset at the right file")
    counts["pairs"] += len(pairs)
    return pairs


def nli_pair(row: Mapping[str, object], path: str | Path, line: int, *, allow_unlabeled: bool) -> NliPair | None:
    """The pair in one row (a dict keyed by column name); None for a MultiNLI ``-`` row when allowed."""
    premise = _field(row, PREMISE_COLUMNS, path, line)
    hypothesis = _field(row, HYPOTHESIS_COLUMNS, path, line)
    raw = _field(row, LABEL_COLUMNS, path, line).strip()
    if raw in NO_GOLD_LABEL and allow_unlabeled:
        return None
    label = _LABELS.get(raw.lower())
    if label is None:
        problem = "the label is missing" if raw in ("", *NO_GOLD_LABEL) else f"unknown label {raw!r}"
        raise InputError(
            path, problem, "label every pair entailment, neutral or contradiction "
            "(use format 'multinli' to skip MultiNLI's '-' rows)", line=line,
        )  # fmt: skip
    return NliPair(premise, hypothesis, label)


def _field(row: Mapping[str, object], names: tuple[str, ...], path: str | Path, line: int) -> str:
    for name in names:
        if name in row and row[name] is not None:
            return str(row[name])
    raise InputError(
        path, f"no {' or '.join(repr(n) for n in names)} value",
        f"give every row a {names[0]!r} field (accepted names: {', '.join(names)})", line=line,
    )  # fmt: skip


def _tsv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with open_text(path) as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        if not any(name in header for name in LABEL_COLUMNS):
            raise InputError(
                path, f"the header has no label column (found: {', '.join(header)})",
                "NLI files need a 'label' or 'gold_label' column (unlabelled test files cannot be scored)", line=1,
            )  # fmt: skip
        for number, text in enumerate(handle, start=2):
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            values = text.split("\t")
            if len(values) > len(header):
                raise InputError(
                    path, f"{len(values)} tab-separated values but the header names {len(header)} columns",
                    "remove stray tabs from the row (this reader does not use quoting)", line=number,
                )  # fmt: skip
            # MultiNLI leaves out trailing empty annotator columns, so short rows are padded, not rejected.
            yield number, dict(zip(header, values + [""] * (len(header) - len(values))))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with open_text(path) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                fix = "write one JSON object per line"
                raise InputError(path, f"not valid JSON ({error.msg})", fix, line=number) from None
            if not isinstance(row, dict):
                raise InputError(path, "the line is not a JSON object", "write one JSON object per line", line=number)
            yield number, row

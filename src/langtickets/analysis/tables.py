"""``langtickets table NAME``: CSV + Markdown tables from files under ``results/`` (nothing is recomputed).

Every table is a builder ``build(inputs: list[Path]) -> Table`` registered in :data:`TABLES` with a title;
adding a table is one function and one entry. Builders here:

* ``perplexity`` -- validation perplexity per pretraining variant x language, and the mean over languages;
* ``flops`` -- inference cost per variant (Tables 1-4's FLOPS column) from ``results/tickets/flops.csv``;
* ``ticket-density`` -- kept share of units per ticket method (mean/min/max over languages, per mask kind);
* ``ticket-overlap`` -- mean cross-language Jaccard per layer beside the random-mask expectation and the
  same-language (re-seeded) overlap (from the overlap analysis);
* ``family-coherence`` -- silhouette and intra- minus inter-family Jaccard per method, with the
  permutation null (from the structure analysis; section 4.3 in numbers);
* ``interference`` -- mean uc per layer at the reported step and the mean gc/uc relative changes;
* ``retrieval`` -- mean retrieval accuracy per variant and layer.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from langtickets.analysis.common import Table, load_json, require_keys, write_table
from langtickets.errors import ConfigError, InputError


@dataclass(frozen=True)
class TableSpec:
    build: Callable[[Sequence[Path]], Table]
    title: str


def _read_csv(path: Path, columns: Sequence[str], fix: str) -> list[dict[str, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "table not found", fix) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(path, f"columns {missing} missing", fix, line=1)
    return list(reader)


def perplexity_table(inputs: Sequence[Path]) -> Table:
    """Rows: variants in input order; columns: every language, then ``avg`` (mean perplexity)."""
    rows, langs = [], None
    for path in inputs:
        data = load_json(path, "perplexity file", "rerun the pretrain rule")
        require_keys(data, ["variant", "languages"], path, "rerun the pretrain rule")
        per_lang = {lang: float(entry["perplexity"]) for lang, entry in data["languages"].items()}
        langs = langs or list(per_lang)
        if sorted(per_lang) != sorted(langs):
            raise InputError(path, f"languages {sorted(per_lang)} differ from {sorted(langs)}",
                             "compare variants pretrained on the same languages")
        rows.append({"variant": data["variant"], **per_lang, "avg": sum(per_lang.values()) / len(per_lang)})
    return Table(("variant", *(langs or []), "avg"), tuple(rows), decimals=2)


def _variant_of(arch: str, method: str) -> str:
    from langtickets.pretrain import VARIANTS  # light import: the variant table only

    wanted = (arch, None if method == "dense" else method)
    return next((name for name, spec in VARIANTS.items() if spec == wanted), "")


def flops_table(inputs: Sequence[Path]) -> Table:
    """One row per (arch, method): the model or the mean ticket, with the spread over languages' tickets."""
    fix = "rerun the flops_table rule"
    columns = ("arch", "method", "lang", "seq_len", "encoder_mflops", "total_mflops")
    records = [row for path in inputs for row in _read_csv(path, columns, fix)]
    rows = []
    for row in records:
        if row["lang"] not in ("all", "mean"):
            continue
        same = [float(r["total_mflops"]) for r in records
                if (r["arch"], r["method"]) == (row["arch"], row["method"]) and r["lang"] not in ("all", "mean")]
        rows.append({"variant": _variant_of(row["arch"], row["method"]), "arch": row["arch"], "method": row["method"],
                     "seq_len": int(row["seq_len"]), "encoder_mflops": float(row["encoder_mflops"]),
                     "total_mflops": float(row["total_mflops"]),
                     "total_mflops_min": min(same) if same else None, "total_mflops_max": max(same) if same else None})
    names = ("variant", "arch", "method", "seq_len", "encoder_mflops", "total_mflops", "total_mflops_min", "total_mflops_max")
    return Table(names, tuple(rows), decimals=3)


def density_table(inputs: Sequence[Path]) -> Table:
    """One row per ``results/tickets/{arch}/{method}/density.csv``: overall and per-kind kept shares."""
    fix = "rerun the select_tickets rule"
    rows = []
    for path in inputs:
        arch, method = Path(path).parent.parent.name, Path(path).parent.name
        records = _read_csv(path, ("lang", "kind", "kept", "total"), fix)
        langs = sorted({r["lang"] for r in records})
        overall = [_share(r for r in records if r["lang"] == lang) for lang in langs]
        kinds = {kind: _share(r for r in records if r["kind"] == kind) for kind in ("mu_q", "mu_v", "mu_w")}
        rows.append({"arch": arch, "method": method, "languages": len(langs), "density_mean": sum(overall) / len(overall),
                     "density_min": min(overall), "density_max": max(overall), **kinds})
    names = ("arch", "method", "languages", "density_mean", "density_min", "density_max", "mu_q", "mu_v", "mu_w")
    return Table(names, tuple(rows))


def _share(records) -> float | None:
    kept = total = 0
    for record in records:
        kept, total = kept + int(record["kept"]), total + int(record["total"])
    return kept / total if total else None


def overlap_summary_table(inputs: Sequence[Path]) -> Table:
    """Per (arch, method, layer or whole ticket): mean Jaccard, random expectation, same-language Jaccard."""
    rows = []
    for path in inputs:
        report = load_json(path, "overlap report", "rerun the analysis_overlap rule")
        layers = sorted(report["layers"], key=int)  # JSON keys come back in text order ("10" < "2")
        scopes = {**{layer: report["layers"][layer]["all"] for layer in layers}, "ticket": report["ticket"]}
        for scope, block in scopes.items():
            same = [entry[scope]["all"]["jaccard"] for entry in report["same_language"].values()]
            same = [value for value in same if value is not None]
            rows.append({"arch": report["arch"], "method": report["method"], "scope": scope,
                         "jaccard": block["mean_off_diagonal"], "random_expectation": block["random_mean_off_diagonal"],
                         "same_language": sum(same) / len(same) if same else None})
    return Table(("arch", "method", "scope", "jaccard", "random_expectation", "same_language"), tuple(rows))


def family_coherence_table(inputs: Sequence[Path]) -> Table:
    """Per (arch, method, level): the structure analysis' scores and their permutation null."""
    rows = []
    for path in inputs:
        report = load_json(path, "structure report", "rerun the analysis_structure rule")
        for method, entry in report["methods"].items():
            for level, scores in entry["levels"].items():
                null = scores["null"]
                rows.append({"arch": report["arch"], "method": method, "level": level, "groups": scores["groups"],
                             "silhouette_jaccard": scores["silhouette_jaccard"],
                             **_null_columns(null, "silhouette_jaccard", "silhouette"),
                             "silhouette_hamming": scores["silhouette_hamming"],
                             "intra_jaccard": scores["intra_mean_jaccard"], "inter_jaccard": scores["inter_mean_jaccard"],
                             "intra_minus_inter": scores["intra_minus_inter_jaccard"],
                             **_null_columns(null, "intra_minus_inter_jaccard", "gap")})
    names = ("arch", "method", "level", "groups", "silhouette_jaccard", "silhouette_null_mean", "silhouette_p",
             "silhouette_hamming", "intra_jaccard", "inter_jaccard", "intra_minus_inter", "gap_null_mean", "gap_p")
    return Table(names, tuple(rows))


def _null_columns(null: dict, score: str, prefix: str) -> dict[str, float | None]:
    entry = null.get(score) or {}
    return {f"{prefix}_null_mean": entry.get("mean"), f"{prefix}_p": entry.get("p_value")}


def interference_table(inputs: Sequence[Path]) -> Table:
    """Inputs: the interference analysis' ``uc_layers.json`` then ``stability.json``."""
    if len(inputs) != 2:
        raise ConfigError("the interference table reads uc_layers.json and stability.json, in that order")
    uc = load_json(inputs[0], "uc layers", "rerun the analysis_interference rule")
    stab = load_json(inputs[1], "stability summary", "rerun the analysis_interference rule")
    layers = sorted({layer for entry in uc["variants"].values() for layer in entry["layers"]})
    rows = []
    for variant in uc.get("order", list(uc["variants"])):
        entry = uc["variants"][variant]
        per_layer = dict(zip(entry["layers"], entry["mean_uc"]))
        defined = [v for v in entry["mean_uc"] if v is not None]
        moves = stab["variants"].get(variant, {})
        rows.append({"variant": variant, "step": entry["step"], "mean_uc": sum(defined) / len(defined) if defined else None,
                     **{f"uc_layer_{layer}": per_layer.get(layer) for layer in layers},
                     "gc_relative_change": (moves.get("gc") or {}).get("mean"),
                     "uc_relative_change": (moves.get("uc") or {}).get("mean")})
    names = ("variant", "step", "mean_uc", *(f"uc_layer_{layer}" for layer in layers), "gc_relative_change",
             "uc_relative_change")
    return Table(names, tuple(rows))


def retrieval_table(inputs: Sequence[Path]) -> Table:
    """One row per (variant, layer): mean accuracy over ordered language pairs for each reported top-t."""
    rows, tops = [], []
    for path in inputs:
        report = load_json(path, "retrieval report", "rerun the analysis_retrieval rule")
        tops = tops or [f"top{t}" for t in report["tops"]]
        for layer in sorted(report["layers"], key=int):
            entry = report["layers"][layer]
            rows.append({"variant": report["variant"], "layer": int(layer),
                         **{top: (entry.get(top) or {}).get("mean") for top in tops}})
    return Table(("variant", "layer", *tops), tuple(rows), decimals=3)


#: table name -> builder and title; the CLI and the workflow's table_* rules use these names
TABLES: dict[str, TableSpec] = {
    "perplexity": TableSpec(perplexity_table, "Validation perplexity per variant and language"),
    "flops": TableSpec(flops_table, "Inference cost (MFLOPs per sequence)"),
    "ticket-density": TableSpec(density_table, "Ticket density (share of units kept)"),
    "ticket-overlap": TableSpec(overlap_summary_table, "Ticket overlap (mean Jaccard between languages)"),
    "family-coherence": TableSpec(family_coherence_table, "Do tickets group by language family?"),
    "interference": TableSpec(interference_table, "Interference: mean uc per layer and gc/uc stability"),
    "retrieval": TableSpec(retrieval_table, "Parallel sentence retrieval accuracy per layer"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets table", description="Write one table as CSV and Markdown.")
    parser.add_argument("name", choices=sorted(TABLES))
    parser.add_argument("--inputs", type=Path, nargs="+", required=True)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--md", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    spec = TABLES[args.name]
    table = spec.build(args.inputs)
    write_table(table, args.csv, args.md, spec.title)
    summary("table", started, name=args.name, rows=len(table.rows), columns=len(table.columns))
    return 0

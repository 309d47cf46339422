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
* ``retrieval`` -- mean retrieval accuracy per variant and layer;
* ``imp-winning`` -- the IMP paper's Table 2: per task and language the dense model, the sparsest winning
  ticket and its sparsity, and the random subnetwork (from every ``imp.json``);
* ``imp-relative-transfer`` -- footnote 15's average relative transfer per source language and sparsity
  (Figure 6 in numbers, from every ``transfer-relative.csv``);
* ``head-dissociation`` -- the MeSH paper's dissociation score D(alpha) per pair of units, mean over runs
  (from ``dissociation.csv``).
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        # a language without validation tokens has no perplexity: an empty cell, left out of the average
        per_lang = {lang: None if entry["perplexity"] is None else float(entry["perplexity"])
                    for lang, entry in data["languages"].items()}
        langs = langs or list(per_lang)
        if sorted(per_lang) != sorted(langs):
            raise InputError(path, f"languages {sorted(per_lang)} differ from {sorted(langs)}",
                             "compare variants pretrained on the same languages")
        known = [value for value in per_lang.values() if value is not None]
        rows.append({"variant": data["variant"], **per_lang, "avg": sum(known) / len(known) if known else None})
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


def imp_winning_table(inputs: Sequence[Path]) -> Table:
    """IMP paper Table 2, one row per ``imp.json``: dense model, sparsest winning ticket, random subnetwork.

    The random subnetwork is the one at the winning ticket's sparsity, or the nearest configured one
    (``random_sparsity_pct`` says which); without a winning ticket the ticket and random columns are empty.
    """
    fix = "rerun the subnetworks_imp rule"
    rows = []
    for path in inputs:
        result = load_json(path, "IMP result", fix)
        require_keys(result, ["task", "lang", "metric", "dense", "levels", "random", "max_winning_sparsity"], path, fix)
        sparsest = result["max_winning_sparsity"]
        ticket = next((level for level in result["levels"] if level["sparsity"] == sparsest), None)
        random = _nearest_level(result["random"], sparsest) if ticket is not None else None
        dense = result["dense"]
        rows.append({"task": result["task"], "lang": result["lang"], "metric": result["metric"],
                     "dense": dense["mean"], "dense_std": dense["std"],
                     "winning": _get(ticket, "mean"), "winning_std": _get(ticket, "std"),
                     "sparsity_pct": _percent(sparsest), "random": _get(random, "mean"),
                     "random_sparsity_pct": _percent(_get(random, "sparsity")),
                     "dense_update": dense.get("selected_update"), "winning_update": _get(ticket, "selected_update")})
    names = ("task", "lang", "metric", "dense", "dense_std", "winning", "winning_std", "sparsity_pct", "random",
             "random_sparsity_pct", "dense_update", "winning_update")  # fmt: skip
    return Table(names, tuple(rows))


def _nearest_level(levels: Sequence[dict], sparsity: float) -> dict | None:
    """The level at ``sparsity``, else the nearest one (the sparser of two equally near)."""
    return min(levels, key=lambda level: (abs(level["sparsity"] - sparsity), -level["sparsity"]), default=None)


def _get(level: dict | None, key: str) -> Any:
    return None if level is None else level.get(key)


def _percent(share: float | None) -> int | None:
    return None if share is None else int(round(100 * share))


def _number(text: str) -> float | None:
    """A CSV cell as a float; empty (undefined) cells are ``None``."""
    return float(text) if text not in ("", "nan") else None


def relative_transfer_table(inputs: Sequence[Path]) -> Table:
    """Footnote 15 per (task, source): one ``relative_S`` and ``successful_S`` column per sparsity S (%).

    ``successful_S`` counts the targets the source's subnetwork transfers to within one standard deviation
    (of ``targets``); the ``rand`` row is the random subnetwork averaged over every target.
    """
    fix = "rerun the subnetworks_transfer rule"
    columns = ("task", "sparsity", "source", "relative", "successful")
    records = [row for path in inputs for row in _read_csv(path, columns, fix)]
    levels = sorted({_percent(float(r["sparsity"])) for r in records})
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        task, source, level = record["task"], record["source"], _percent(float(record["sparsity"]))
        langs = {r["source"] for r in records if r["task"] == task and r["source"] != "rand"}
        targets = len(langs) if source == "rand" else len(langs) - 1  # rand is averaged over every target
        row = rows.setdefault((task, source), {"task": task, "source": source, "targets": targets})
        row[f"relative_{level}"] = _number(record["relative"])
        row[f"successful_{level}"] = int(record["successful"]) if record["successful"] else None
    names = ("task", "source", "targets", *(f"{kind}_{level}" for level in levels for kind in ("relative", "successful")))
    return Table(names, tuple(rows.values()))


def _contrast(a: str, b: str) -> str:
    """What a pair of units ``task/lang`` contrasts: languages (same task), tasks (same language) or both."""
    (task_a, lang_a), (task_b, lang_b) = a.split("/", 1), b.split("/", 1)
    return "language" if task_a == task_b else "task" if lang_a == lang_b else "task+language"


def dissociation_table(inputs: Sequence[Path]) -> Table:
    """D(alpha) (MeSH Eq. 2) per (alpha, pair of units): means over runs, and the spread of D over runs."""
    fix = "rerun the subnetworks_heads rule"
    values = ("rp_a_hb", "rp_a_ha", "rp_b_ha", "rp_b_hb", "d_a", "d_b", "d")
    records = [row for path in inputs for row in _read_csv(path, ("run", "alpha", "heads", "a", "b", *values), fix)]
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for record in records:
        groups.setdefault((record["alpha"], record["a"], record["b"]), []).append(record)
    rows = []
    for (alpha, a, b), runs in groups.items():
        means = {key: _mean_defined([_number(r[key]) for r in runs]) for key in values}
        d = [x for x in (_number(r["d"]) for r in runs) if x is not None]
        rows.append({"a": a, "b": b, "contrast": _contrast(a, b), "alpha": float(alpha), "heads": int(runs[0]["heads"]),
                     **means, "d_std": statistics.stdev(d) if len(d) > 1 else None, "runs": len(runs)})
    return Table(("a", "b", "contrast", "alpha", "heads", *values, "d_std", "runs"), tuple(rows))


def _mean_defined(values: Sequence[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return statistics.fmean(defined) if defined else None


#: table name -> builder and title; the CLI and the workflow's table_* rules use these names
TABLES: dict[str, TableSpec] = {
    "perplexity": TableSpec(perplexity_table, "Validation perplexity per variant and language"),
    "flops": TableSpec(flops_table, "Inference cost (MFLOPs per sequence)"),
    "ticket-density": TableSpec(density_table, "Ticket density (share of units kept)"),
    "ticket-overlap": TableSpec(overlap_summary_table, "Ticket overlap (mean Jaccard between languages)"),
    "family-coherence": TableSpec(family_coherence_table, "Do tickets group by language family?"),
    "interference": TableSpec(interference_table, "Interference: mean uc per layer and gc/uc stability"),
    "retrieval": TableSpec(retrieval_table, "Parallel sentence retrieval accuracy per layer"),
    "imp-winning": TableSpec(imp_winning_table, "Sparsest IMP winning tickets against the dense model and a random "
                             "subnetwork"),
    "imp-relative-transfer": TableSpec(relative_transfer_table, "Average relative transfer of IMP subnetworks "
                                       "(footnote 15)"),
    "head-dissociation": TableSpec(dissociation_table, "Dissociation score D(alpha) of attention heads"),
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

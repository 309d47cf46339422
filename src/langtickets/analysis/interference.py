"""Interference per layer and its stability, read from the pretraining runs (multilingual-tickets paper, §3.3).

* Figure 3: the mean over pairs of different languages of ``uc`` (Eq. 7) per layer, at one step, for every
  pretrained variant (dense against ticketed). ``uc.json`` stores one snapshot per recorded step, each with
  its per-layer matrices and their ``mean_off_diagonal`` (:mod:`langtickets.interference`).
* Figure 2: the relative change of ``gc`` and ``uc`` between consecutive measurements, which pretraining
  already wrote to ``stability.json``; here the series of all variants are gathered side by side.

Nothing is recomputed from the matrices except the count of defined pairs.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langtickets.analysis.common import Table, load_json, require_keys, write_table
from langtickets.errors import ConfigError, InputError
from langtickets.io import write_json

METRICS = ("gc", "uc")
_FIX = "rerun the pretrain rule of this variant"


def defined_pairs(matrix: Sequence[Sequence[float | None]]) -> int:
    """Number of pairs of different languages whose cosine is defined (not null/NaN)."""
    n = len(matrix)
    return sum(1 for a in range(n) for b in range(a + 1, n) if _finite(matrix[a][b]))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def uc_by_step(uc: Mapping[str, Any], source: str = "uc.json") -> dict[int, dict[str, Any]]:
    """``{step: {"layers": [...], "mean_uc": [...], "pairs": [...]}}`` from one ``uc.json``."""
    require_keys(uc, ["snapshots"], source, _FIX)
    out = {}
    for snapshot in uc["snapshots"]:
        require_keys(snapshot, ["step", "layers"], source, _FIX)
        layers = sorted(snapshot["layers"], key=int)
        entries = [snapshot["layers"][layer] for layer in layers]
        out[int(snapshot["step"])] = {
            "layers": [int(layer) for layer in layers],
            "mean_uc": [entry.get("mean_off_diagonal") for entry in entries],
            "pairs": [defined_pairs(entry["matrix"]) for entry in entries],
        }
    return out


def pick_step(steps: Sequence[int], wanted: int | str, source: str) -> int:
    """The snapshot step to report: a number, or ``first``/``last`` of the recorded ones."""
    if not steps:
        raise InputError(source, "no uc snapshots", _FIX)
    if wanted == "first":
        return min(steps)
    if wanted == "last":
        return max(steps)
    if int(wanted) not in steps:
        raise InputError(source, f"no uc snapshot at step {wanted} (recorded: {sorted(steps)})",
                         "set analysis.interference.uc_step to a recorded step (interference.uc_steps), first or last")
    return int(wanted)


def uc_layers(uc_files: Mapping[str, tuple[str, Mapping[str, Any]]], step: int | str) -> dict[str, Any]:
    """Figure 3's data: per variant, mean uc per layer at ``step``, plus every recorded step.

    ``uc_files`` maps a variant to ``(source path, loaded uc.json)``; a file naming another variant is an error.
    """
    variants, by_step, chosen = {}, {}, {}
    for variant, (source, uc) in uc_files.items():
        if uc.get("variant", variant) != variant:
            raise InputError(source, f"uc file of variant '{uc['variant']}' given for '{variant}'",
                             "pass the variants in the order of their files")
        steps = uc_by_step(uc, source)
        chosen[variant] = pick_step(list(steps), step, source)
        variants[variant] = {"step": chosen[variant], **steps[chosen[variant]]}
        by_step[variant] = {str(s): entry for s, entry in sorted(steps.items())}
    return {"requested_step": step, "order": list(variants), "variants": variants, "by_step": by_step}


def uc_layers_table(data: Mapping[str, Any]) -> Table:
    """One row per (variant, recorded step, layer)."""
    rows = [
        {"variant": variant, "step": int(step), "layer": layer, "mean_uc": mean, "pairs": pairs,
         "reported": int(step) == data["variants"][variant]["step"]}
        for variant in data["order"]
        for step, entry in sorted(data["by_step"][variant].items(), key=lambda item: int(item[0]))
        for layer, mean, pairs in zip(entry["layers"], entry["mean_uc"], entry["pairs"])
    ]
    return Table(("variant", "step", "layer", "mean_uc", "pairs", "reported"), tuple(rows), decimals=6)


def stability(files: Mapping[str, tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Figure 2's data: per variant, the gc and uc relative-change series and their means.

    ``files`` maps a variant to ``(source path, loaded stability.json)``.
    """
    variants = {}
    for variant, (source, data) in files.items():
        require_keys(data, ["interval_steps", *METRICS], source, _FIX)
        entry: dict[str, Any] = {"interval_steps": data["interval_steps"]}
        for metric in METRICS:
            require_keys(data[metric], ["steps", "relative_change"], source, _FIX)
            series = data[metric]
            values = [v for v in series["relative_change"] if _finite(v)]
            entry[metric] = {"steps": list(series["steps"]), "relative_change": list(series["relative_change"]),
                             "mean": sum(values) / len(values) if values else None}
        gc_mean, uc_mean = entry["gc"]["mean"], entry["uc"]["mean"]
        entry["gc_over_uc"] = gc_mean / uc_mean if gc_mean is not None and uc_mean else None
        variants[variant] = entry
    return {"definition": "relative change |m_t - m_(t-K)| / |m_(t-K)| averaged over layers and pairs",
            "order": list(variants), "variants": variants}


def stability_table(data: Mapping[str, Any]) -> Table:
    rows = [
        {"variant": variant, "metric": metric, "step": step, "relative_change": value}
        for variant in data["order"]
        for entry in [data["variants"][variant]]
        for metric in METRICS
        for step, value in zip(entry[metric]["steps"], entry[metric]["relative_change"])
    ]
    return Table(("variant", "metric", "step", "relative_change"), tuple(rows), decimals=6)


def _step_arg(text: str) -> int | str:
    if text in ("first", "last"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a step number, 'first' or 'last', got '{text}'") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets analysis-interference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", required=True, help="pretraining variants, in file order")
    parser.add_argument("--uc", type=Path, nargs="+", required=True, help="interference/uc.json of each variant")
    parser.add_argument("--stability", type=Path, nargs="+", required=True,
                        help="interference/stability.json of each variant")
    parser.add_argument("--step", type=_step_arg, default="first", help="uc snapshot step: N, first or last")
    parser.add_argument("--out-uc-json", type=Path, required=True)
    parser.add_argument("--out-uc-csv", type=Path, required=True)
    parser.add_argument("--out-stability-json", type=Path, required=True)
    parser.add_argument("--out-stability-csv", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    if not len(args.variants) == len(args.uc) == len(args.stability) or len(set(args.variants)) != len(args.variants):
        raise ConfigError("give each variant once, with one --uc and one --stability file per variant, in order")
    started = time.perf_counter()
    uc = uc_layers({v: (str(p), load_json(p, "uc file", _FIX)) for v, p in zip(args.variants, args.uc)}, args.step)
    stab = stability({v: (str(p), load_json(p, "stability file", _FIX)) for v, p in zip(args.variants, args.stability)})
    write_json(args.out_uc_json, uc)
    write_table(uc_layers_table(uc), args.out_uc_csv)
    write_json(args.out_stability_json, stab)
    write_table(stability_table(stab), args.out_stability_csv)
    means = {v: _mean(entry["mean_uc"]) for v, entry in uc["variants"].items()}
    summary("analysis-interference", started, **{f"uc[{v}]": m for v, m in means.items()})
    return 0


def _mean(values: Sequence[float | None]) -> str:
    kept = [v for v in values if _finite(v)]
    return f"{sum(kept) / len(kept):.4f}" if kept else "n/a"

"""Overlap between languages of IMP subnetworks and of LT-SFT language SFTs, per layer (IMP paper, section 5,
"Absolute Sub-network Overlap", Figure 3; for the SFTs, the LT-SFT paper's language SFTs of section 3.1).

What is compared is the set of selected weights: the weights an IMP mask keeps (at one pruning round), or
the flat positions a language SFT fine-tunes (its support, whatever the difference stored there). Both are
held as sorted index sets per parameter tensor (a *group*), so an LT-SFT of a BERT-base model (embeddings of
~90M entries) never becomes a dense boolean matrix. The groups fall into *scopes*: ``embeddings``, each
encoder layer ``"0"``, ``"1"``..., and ``head`` (the MLM head transform a language SFT also trains); each
scope has the kinds ``all``, and in a layer ``attention`` (Q, K, V, attention output) and ``ffn`` (W1, W2 and,
for an SFT, their biases and LayerNorms when trained). The whole mask is the ``ticket`` block.

Beside every Jaccard matrix, as for the SNIP tickets (:mod:`langtickets.analysis.overlap`, whose
:func:`~langtickets.analysis.overlap.expected_random_matrix` is used): the exact expectation for random masks
keeping the same number of weights in every tensor, and, for the languages run a second time with another
seed (IMP from the same theta0; language SFT from the same base model), the same-language Jaccard -- the
upper bound the IMP paper compares cross-language overlap with.

``langtickets analysis-mask-overlap --kind imp|lt-sft --masks LANG=FILE... [--reseed LANG=FILE...]`` writes
the JSON report (the layout of ``analysis-overlap``, so ``figure jaccard-heatmaps`` draws it) and a CSV.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langtickets.analysis.common import finite_or_none
from langtickets.analysis.overlap import (
    ALL,
    TICKET,
    expected_random_jaccard,
    expected_random_matrix,
    jaccard_from_counts,
    overlap_block,
    overlap_table,
)
from langtickets.errors import ConfigError, InputError

KINDS = ("imp", "lt-sft")
SUBJECTS = {"imp": "IMP subnetworks", "lt-sft": "LT-SFT language SFTs"}
WHOLE = {"imp": "whole subnetwork", "lt-sft": "whole SFT"}
_LAYER = re.compile(r"(?:^|\.)layer\.(\d+)\.")


@dataclass(frozen=True)
class IndexSets:
    """One language's selected weights: sorted distinct flat positions per group, and every group's size."""

    positions: Mapping[str, np.ndarray]  # group -> (k,) int64, strictly increasing
    units: Mapping[str, int]  # group -> number of entries of the tensor

    @property
    def kept(self) -> int:
        return sum(int(p.size) for p in self.positions.values())


def from_weight_masks(masks: Any) -> IndexSets:
    """The kept weights of an IMP :class:`~langtickets.analysis.weight_masks.WeightMasks`."""
    flat = {key: mask.reshape(-1).numpy() for key, mask in masks.masks.items()}
    return IndexSets({key: np.flatnonzero(m).astype(np.int64) for key, m in flat.items()},
                     {key: int(m.size) for key, m in flat.items()})  # fmt: skip


def from_sft(sft: Any) -> IndexSets:
    """The support of a :class:`~langtickets.sft.sparse.SparseFineTuning` (its whole heads are not selected)."""
    return IndexSets({name: diff.indices.numpy().astype(np.int64) for name, diff in sft.diffs.items()},
                     {name: diff.numel for name, diff in sft.diffs.items()})  # fmt: skip


def scope_of(group: str) -> tuple[str, str]:
    """``(scope, kind)`` of a parameter: ``("3", "attention")``, ``("3", "ffn")``, ``("embeddings", ALL)``,
    or ``("head", ALL)`` for anything outside the encoder's layers and embeddings."""
    found = _LAYER.search(group)
    if found:
        return found.group(1), "attention" if ".attention." in f".{group}" else "ffn"
    return ("embeddings", ALL) if "embeddings." in group else ("head", ALL)


def align(sets: Mapping[str, IndexSets]) -> list[str]:
    """The groups of every language in order; a group one language lacks is an empty selection there.

    Raises :class:`InputError` when two languages disagree on a tensor's size (different models).
    """
    units: dict[str, int] = {}
    for name, entry in sets.items():
        for group, size in entry.units.items():
            if units.setdefault(group, size) != size:
                raise InputError(name, f"tensor '{group}' has {size} entries here but {units[group]} elsewhere",
                                 "compare masks of one model only")  # fmt: skip
    return sorted(units, key=_group_order)


def _group_order(group: str) -> tuple[int, int, str]:
    scope, _ = scope_of(group)
    return (1, int(scope), group) if scope.isdigit() else (0 if scope == "embeddings" else 2, 0, group)


def scopes(groups: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """``{scope: {kind: [groups]}}`` with kind ``all`` in every scope, plus ``ticket``: every group."""
    out: dict[str, dict[str, list[str]]] = {}
    for group in groups:
        scope, kind = scope_of(group)
        kinds = out.setdefault(scope, {ALL: []})
        kinds[ALL].append(group)
        if kind != ALL:
            kinds.setdefault(kind, []).append(group)
    out[TICKET] = {ALL: list(groups)}
    return out


def intersections(sets: Sequence[IndexSets], groups: Sequence[str]) -> np.ndarray:
    """``(groups, n, n)`` sizes of the pairwise intersections per group (diagonal: the set sizes)."""
    empty = np.zeros(0, dtype=np.int64)
    out = np.zeros((len(groups), len(sets), len(sets)), dtype=np.int64)
    for g, group in enumerate(groups):
        picked = [entry.positions.get(group, empty) for entry in sets]
        for a in range(len(sets)):
            for b in range(a, len(sets)):
                shared = picked[a].size if a == b else np.intersect1d(picked[a], picked[b], assume_unique=True).size
                out[g, a, b] = out[g, b, a] = shared
    return out


def mask_overlap_report(kind: str, model: str, sets: Mapping[str, IndexSets],
                        reseeded: Mapping[str, IndexSets] | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """The report of :func:`langtickets.analysis.overlap.overlap_report` for index sets of ``kind``.

    ``sets`` maps language -> its selection; ``reseeded`` maps some of those languages to a second selection
    made with another seed. ``extra`` (e.g. the IMP round and sparsity) is copied into the report.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown mask kind '{kind}'; choose one of {', '.join(KINDS)}")
    reseeded = dict(sorted((reseeded or {}).items()))
    unknown = sorted(set(reseeded) - set(sets))
    if unknown:
        raise ConfigError(f"re-seeded languages {unknown} have no original selection; pass their --masks too")
    langs = list(sets)
    every = [*sets.values(), *reseeded.values()]
    groups = align({**sets, **{f"{lang} (reseed)": s for lang, s in reseeded.items()}})
    position = {group: g for g, group in enumerate(groups)}
    inter = intersections(every, groups)
    units = np.array([max(s.units.get(g, 0) for s in every) for g in groups], dtype=np.int64)
    kept = inter[:, np.arange(len(every)), np.arange(len(every))].T  # (sets, groups)
    n = len(langs)
    blocks: dict[str, dict[str, Any]] = {}
    same: dict[str, dict[str, dict[str, Any]]] = {lang: {} for lang in reseeded}
    for scope, kinds in scopes(groups).items():
        blocks[scope] = {}
        for name, members in kinds.items():
            idx = [position[g] for g in members]
            jaccard = jaccard_from_counts(inter[idx].sum(axis=0), kept[:, idx].sum(axis=1))
            blocks[scope][name] = overlap_block(jaccard[:n, :n], expected_random_matrix(kept[:n, idx], units[idx]))
            for r, lang in enumerate(reseeded, start=n):
                pair = (langs.index(lang), r)
                same[lang].setdefault(scope, {})[name] = _same_entry(jaccard[pair], units[idx], kept[pair, :][:, idx])
    total = int(units.sum())
    return {"method": kind, "arch": model, "subject": SUBJECTS[kind], "whole": WHOLE[kind], "languages": langs,
            "units": total, "density": {lang: s.kept / total if total else None for lang, s in sets.items()},
            "layers": {s: b for s, b in blocks.items() if s != TICKET}, "ticket": blocks[TICKET][ALL],
            "same_language": same, **extra}  # fmt: skip


def _same_entry(jaccard: float, units: np.ndarray, kept: np.ndarray) -> dict[str, float | None]:
    """A language against its re-seeded selection: their Jaccard and the random one at those sizes."""
    groups = [(int(u), int(a), int(b)) for u, a, b in zip(units, kept[0], kept[1])]
    return {"jaccard": finite_or_none(jaccard), "random_expectation": finite_or_none(expected_random_jaccard(groups))}


# ---------------------------------------------------------------------------------------------------------
# Command line


def load_sets(kind: str, path: Path) -> tuple[IndexSets, dict[str, Any]]:
    """The index sets of one masks file of ``kind`` and what it records about itself."""
    if kind == "imp":
        from langtickets.analysis.weight_masks import WeightMasks

        masks = WeightMasks.load(path)
        return from_weight_masks(masks), dict(masks.info)
    from langtickets.sft.sparse import SparseFineTuning

    sft = SparseFineTuning.load(path)
    if sft.info.method != "lt-sft":
        raise InputError(path, f"is a '{sft.info.method}' SFT, not an LT-SFT", "pass the lt-sft.safetensors files")
    return from_sft(sft), {"method": sft.info.method, "kind": sft.info.kind}


def _pair(text: str) -> tuple[str, Path]:
    lang, sep, value = text.partition("=")
    if not sep or not lang or not value:
        raise argparse.ArgumentTypeError(f"expected LANG=FILE, got {text!r}")
    return lang, Path(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets analysis-mask-overlap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--model", required=True, help="the model's name in the report (e.g. dense)")
    parser.add_argument("--masks", type=_pair, nargs="+", required=True, metavar="LANG=FILE",
                        help="each language's IMP masks (masks/roundNN.safetensors) or lt-sft.safetensors")
    parser.add_argument("--reseed", type=_pair, nargs="*", default=[], metavar="LANG=FILE",
                        help="a second selection of some of those languages made with another seed")
    parser.add_argument("--task", default=None, help="IMP: the task, recorded in the report")
    parser.add_argument("--out-json", type=Path, required=True)
    parser.add_argument("--out-csv", type=Path, required=True)
    return parser


def _unique(pairs: Sequence[tuple[str, Path]], flag: str) -> dict[str, Path]:
    langs = [lang for lang, _ in pairs]
    twice = sorted({lang for lang in langs if langs.count(lang) > 1})
    if twice:
        raise ConfigError(f"{flag} names {twice} more than once; give each language once")
    return dict(pairs)


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.analysis.common import write_table
    from langtickets.cli import summary
    from langtickets.io import write_json

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    loaded = {lang: load_sets(args.kind, path) for lang, path in _unique(args.masks, "--masks").items()}
    reseeded = {lang: load_sets(args.kind, path)[0] for lang, path in _unique(args.reseed, "--reseed").items()}
    extra = _imp_extra(args.task, next(iter(loaded.values()))[1]) if args.kind == "imp" else {}
    report = mask_overlap_report(args.kind, args.model, {k: v[0] for k, v in loaded.items()}, reseeded, **extra)
    write_json(args.out_json, report)
    write_table(overlap_table(report), args.out_csv)
    same = [entry[TICKET][ALL]["jaccard"] for entry in report["same_language"].values()]
    summary("analysis-mask-overlap", started, kind=args.kind, langs=len(loaded),
            jaccard=_fmt(report["ticket"]["mean_off_diagonal"]), random=_fmt(report["ticket"]["random_mean_off_diagonal"]),
            same_language=_fmt(float(np.mean(same)) if same and None not in same else None))  # fmt: skip
    return 0


def _imp_extra(task: str | None, info: Mapping[str, Any]) -> dict[str, Any]:
    """Task, round name and sparsity of IMP masks, and the figure's subject line built from them."""
    sparsity = info.get("sparsity")
    where = ", ".join(x for x in (task, f"{100 * sparsity:.0f}% sparsity" if sparsity is not None else None) if x)
    extra = {"task": task, "level": info.get("name"), "sparsity": sparsity}
    return {**extra, "subject": f"{SUBJECTS['imp']} ({where})" if where else SUBJECTS["imp"]}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"

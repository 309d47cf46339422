"""Ticket overlap: Jaccard similarity of languages' masks per layer and mask kind (IMP paper, section 5,
"Absolute Sub-network Overlap", Figure 3), with two references beside every number:

* **random masks at the same densities** -- the exact expected Jaccard of two masks drawn uniformly at
  random with the same number of units kept in every (layer, kind) as the two tickets compared
  (:func:`expected_random_jaccard`). The intersection of two random subsets of sizes ``k1``, ``k2`` of
  ``n`` units is hypergeometric; over several (layer, kind) groups it is the sum of independent
  hypergeometrics (their distributions are convolved), and ``E[J] = sum_i P(I = i) * i / (K1 + K2 - i)``
  with ``K`` the kept units summed over the groups. For large groups this tends to the familiar
  ``d1 d2 / (d1 + d2 - d1 d2)`` (densities ``d = k / n``, the ratio of expected intersection to expected
  union), e.g. 1/3 for two 50% masks as the IMP paper quotes; for small groups it differs (0.356 for two
  masks keeping 4 of 8 units), which matters for the tiny models of the demo.
* **the same language searched again** (SNIP only): the language's SNIP scores recomputed from another
  token sample (another seed) replace its original scores and the global top-r selection is rerun
  (:func:`reseeded_ticket`); the Jaccard between its original and new ticket is the upper bound that
  cross-language overlap can be judged against (the IMP paper's "same language, different seeds").

Jaccard of two empty masks is undefined (NaN, ``null`` in JSON).
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import gammaln

from langtickets.analysis.common import Table, finite_or_none, matrix_to_json, write_table
from langtickets.errors import ConfigError, InputError
from langtickets.io import write_json
from langtickets.masks import KINDS, TicketMasks, mask_key

ALL = "all"
TICKET = "ticket"
#: probabilities below this share of the largest are dropped while convolving (their mass is < 1e-12)
_TAIL = 1e-16


def jaccard_matrix(rows: np.ndarray) -> np.ndarray:
    """Pairwise Jaccard ``|a & b| / |a | b|`` of the boolean rows of ``rows`` ``(languages, units)``.

    Returns a float64 ``(languages, languages)`` matrix; a pair of empty rows is NaN.
    """
    as_int = np.asarray(rows, dtype=bool).astype(np.int64)
    return jaccard_from_counts(as_int @ as_int.T, as_int.sum(axis=1))


def jaccard_from_counts(inter: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Jaccard matrix from pairwise intersection sizes ``(n, n)`` and set sizes ``(n,)``; NaN where the union
    is empty. For masks too large to hold as boolean rows (index sets of an LT-SFT, :mod:`mask_overlap`)."""
    inter, sizes = np.asarray(inter, dtype=np.int64), np.asarray(sizes, dtype=np.int64)
    union = sizes[:, None] + sizes[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def scope_keys(masks: TicketMasks) -> dict[str, dict[str, list[str]]]:
    """``{layer: {kind: [mask keys]}}`` with kind ``all`` = the layer's (mu_q; mu_v; mu_w), plus ``ticket``.

    ``ticket`` has the single kind ``all``: every mask of every layer concatenated.
    """
    scopes = {
        str(layer): {**{kind: [mask_key(layer, kind)] for kind in KINDS}, ALL: [mask_key(layer, k) for k in KINDS]}
        for layer in range(masks.shape.layers)
    }
    scopes[TICKET] = {ALL: list(masks.shape.layout())}
    return scopes


def concatenated(masks: Mapping[str, Any], keys: Sequence[str]) -> np.ndarray:
    """The masks of ``keys`` side by side as one bool array ``(languages, units)`` (or ``(units,)``)."""
    return np.concatenate([np.asarray(masks[key], dtype=bool) for key in keys], axis=-1)


def jaccard_by_layer(masks: TicketMasks) -> dict[str, dict[str, np.ndarray]]:
    """Jaccard matrices between the languages of ``masks`` for every scope of :func:`scope_keys`."""
    return {
        scope: {kind: jaccard_matrix(concatenated(masks.masks, keys)) for kind, keys in kinds.items()}
        for scope, kinds in scope_keys(masks).items()
    }


# ---------------------------------------------------------------------------------------------------------
# The random-mask expectation


def _log_choose(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    return gammaln(np.asarray(n) + 1.0) - gammaln(np.asarray(k) + 1.0) - gammaln(np.asarray(n) - np.asarray(k) + 1.0)


@functools.lru_cache(maxsize=65536)
def hypergeometric_pmf(units: int, kept_a: int, kept_b: int) -> tuple[int, np.ndarray]:
    """``(lowest i, P(I = i) for i upward)`` for the intersection of random ``kept_a``- and ``kept_b``-subsets."""
    if not (0 <= kept_a <= units and 0 <= kept_b <= units):
        raise ValueError(f"kept units {kept_a}, {kept_b} outside 0..{units}")
    low, high = max(0, kept_a + kept_b - units), min(kept_a, kept_b)
    i = np.arange(low, high + 1)
    log_p = _log_choose(kept_a, i) + _log_choose(units - kept_a, kept_b - i) - _log_choose(units, kept_b)
    pmf = np.exp(log_p - log_p.max())
    pmf.flags.writeable = False
    return low, pmf / pmf.sum()


def intersection_pmf(groups: Sequence[tuple[int, int, int]]) -> tuple[int, np.ndarray]:
    """Distribution of the summed intersection over independent groups ``(units, kept_a, kept_b)``."""
    offset, pmf = 0, np.ones(1)
    for units, kept_a, kept_b in groups:
        low, part = hypergeometric_pmf(int(units), int(kept_a), int(kept_b))
        pmf = _convolve(pmf, part)
        offset += low
        keep = np.flatnonzero(pmf > pmf.max() * _TAIL)
        offset, pmf = offset + keep[0], pmf[keep[0] : keep[-1] + 1]
    return offset, pmf / pmf.sum()


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.convolve``, by FFT for long arrays (BERT-size weight matrices give pmfs of ~1e4 entries)."""
    if min(len(a), len(b)) < 64:
        return np.convolve(a, b)
    from scipy.signal import fftconvolve

    return np.clip(fftconvolve(a, b), 0.0, None)  # FFT rounding leaves |noise| ~1e-17 of either sign


def expected_random_jaccard(groups: Sequence[tuple[int, int, int]]) -> float:
    """Exact E[Jaccard] of two uniformly random masks keeping ``kept_a``/``kept_b`` of ``units`` per group.

    ``groups`` lists ``(units, kept_a, kept_b)`` per (layer, kind); masks are independent across groups and
    masks. NaN when both masks keep nothing.
    """
    total = sum(int(a) + int(b) for _, a, b in groups)
    if total == 0:
        return math.nan
    offset, pmf = intersection_pmf(groups)
    inter = offset + np.arange(len(pmf))
    return float(np.sum(pmf * inter / (total - inter)))


def approximate_random_jaccard(density_a: float, density_b: float) -> float:
    """``d1 d2 / (d1 + d2 - d1 d2)``: the large-mask limit of :func:`expected_random_jaccard` for one group."""
    union = density_a + density_b - density_a * density_b
    return density_a * density_b / union if union > 0 else math.nan


def expected_random_matrix(kept: np.ndarray, units: Sequence[int]) -> np.ndarray:
    """E[J] for every pair of rows of ``kept`` ``(languages, groups)``, each group having ``units[g]`` units."""
    n = kept.shape[0]
    out = np.full((n, n), np.nan)
    for a in range(n):
        for b in range(a, n):
            groups = [(u, int(kept[a, g]), int(kept[b, g])) for g, u in enumerate(units)]
            out[a, b] = out[b, a] = expected_random_jaccard(groups)
    return out


# ---------------------------------------------------------------------------------------------------------
# Same language, another SNIP sample


def reseeded_ticket(
    masks: TicketMasks, scores_by_lang: Mapping[str, Mapping], lang: str, rescored: Mapping, normalize: str
) -> dict[str, np.ndarray]:
    """The ticket ``lang`` gets when its scores are ``rescored`` (every other language's unchanged).

    The global top-r selection (:func:`langtickets.tickets.select_tickets`) is rerun with the ratio the
    masks were made with (kept units / all units reproduces the kept count exactly).
    """
    from langtickets.tickets import select_tickets

    masks.index(lang)
    swapped = {code: (rescored if code == lang else scores_by_lang[code]) for code in masks.languages}
    chosen = select_tickets(swapped, _ratio_of(masks), masks.shape, normalize=normalize, method=masks.method)
    return {key: value.numpy() for key, value in chosen.for_language(lang).items()}


def _ratio_of(masks: TicketMasks) -> float:
    kept = sum(int(tensor.sum()) for tensor in masks.masks.values())
    return kept / sum(tensor.numel() for tensor in masks.masks.values())


def check_reproduces(masks: TicketMasks, scores_by_lang: Mapping[str, Mapping], normalize: str) -> None:
    """Raise :class:`InputError` unless the score files and ``normalize`` give exactly ``masks`` again."""
    from langtickets.tickets import select_tickets

    missing = [lang for lang in masks.languages if lang not in scores_by_lang]
    if missing:
        raise InputError(masks.source or "<masks>", f"no score files for {missing}",
                         "pass every language's SNIP score file with --scores")  # fmt: skip
    ordered = {lang: scores_by_lang[lang] for lang in masks.languages}
    again = select_tickets(ordered, _ratio_of(masks), masks.shape, normalize=normalize, method=masks.method)
    if any(not bool((again.masks[key] == masks.masks[key]).all()) for key in masks.masks):
        raise InputError(masks.source or "<masks>", f"the score files with normalisation '{normalize}' do not "
                         "reproduce these masks", "pass the scores and --normalize that select_tickets used")


# ---------------------------------------------------------------------------------------------------------
# Report


def _block(rows: np.ndarray, kept: np.ndarray, units: list[int]) -> dict[str, Any]:
    return overlap_block(jaccard_matrix(rows), expected_random_matrix(kept, units))


def overlap_block(jaccard: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    """The JSON block of one scope: both matrices and their means over pairs of different languages."""
    return {
        "jaccard": matrix_to_json(jaccard),
        "random_expectation": matrix_to_json(expected),
        "mean_off_diagonal": pair_mean(jaccard),
        "random_mean_off_diagonal": pair_mean(expected),
    }


def pair_mean(matrix: np.ndarray) -> float | None:
    """Mean over pairs of different languages (upper triangle) of the defined entries; ``None`` if none is."""
    values = matrix[np.triu_indices(len(matrix), k=1)]
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def _kept(masks: Mapping[str, Any], keys: Sequence[str]) -> np.ndarray:
    return np.stack([np.asarray(masks[key], dtype=bool).sum(axis=-1) for key in keys], axis=-1)


def _same_language(masks: TicketMasks, lang: str, other: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """{scope: {kind: {"jaccard", "random_expectation"}}} between ``lang``'s ticket and ``other``."""
    mine = {key: value.numpy() for key, value in masks.for_language(lang).items()}
    out: dict[str, dict[str, Any]] = {}
    for scope, kinds in scope_keys(masks).items():
        out[scope] = {}
        for kind, keys in kinds.items():
            pair = np.stack([concatenated(mine, keys), concatenated(other, keys)])
            counts = np.stack([_kept(mine, keys), _kept(other, keys)])
            groups = [(mine[key].shape[-1], int(counts[0, g]), int(counts[1, g])) for g, key in enumerate(keys)]
            out[scope][kind] = {"jaccard": finite_or_none(jaccard_matrix(pair)[0, 1]),
                                "random_expectation": finite_or_none(expected_random_jaccard(groups))}
    return out


def overlap_report(masks: TicketMasks, reseeded: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """Everything :mod:`overlap` measures for one masks file, as a JSON-ready dict.

    ``{"method", "arch", "languages", "layers": {layer: {kind: block}}, "ticket": block, "same_language":
    {lang: {scope: {kind: {"jaccard", "random_expectation"}}}}}`` where a block holds the Jaccard matrix,
    the random expectation matrix and their means over pairs of different languages.
    """
    as_numpy = {key: tensor.numpy() for key, tensor in masks.masks.items()}
    blocks: dict[str, dict[str, Any]] = {}
    for scope, kinds in scope_keys(masks).items():
        blocks[scope] = {
            kind: _block(concatenated(as_numpy, keys), _kept(as_numpy, keys), [as_numpy[k].shape[1] for k in keys])
            for kind, keys in kinds.items()
        }
    ticket = blocks.pop(TICKET)[ALL]
    same = {lang: _same_language(masks, lang, other) for lang, other in sorted((reseeded or {}).items())}
    return {"method": masks.method, "arch": masks.arch.get("name", "model"), "languages": list(masks.languages),
            "layers": blocks, "ticket": ticket, "same_language": same}


def overlap_table(report: Mapping[str, Any]) -> Table:
    """Long form: one row per (scope, kind, pair) -- cross-language pairs once, then same-language rows."""
    langs = report["languages"]
    scopes = {**report["layers"], TICKET: {ALL: report["ticket"]}}
    rows = []
    for scope, kinds in scopes.items():
        for kind, block in kinds.items():
            for a in range(len(langs)):
                for b in range(a + 1, len(langs)):
                    rows.append({"scope": scope, "kind": kind, "lang_a": langs[a], "lang_b": langs[b],
                                 "comparison": "cross-language", "jaccard": block["jaccard"][a][b],
                                 "random_expectation": block["random_expectation"][a][b]})
    for lang, per_scope in report["same_language"].items():
        for scope, kinds in per_scope.items():
            for kind, entry in kinds.items():
                rows.append({"scope": scope, "kind": kind, "lang_a": lang, "lang_b": lang,
                             "comparison": "same-language-reseed", **entry})
    columns = ("scope", "kind", "lang_a", "lang_b", "comparison", "jaccard", "random_expectation")
    return Table(columns, tuple(rows), decimals=6)


# ---------------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets analysis-overlap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--masks", type=Path, required=True, help="masks.safetensors of one (arch, method)")
    parser.add_argument("--scores", type=Path, nargs="*", default=[],
                        help="every language's SNIP score file the masks were selected from (for --reseed-scores)")
    parser.add_argument("--reseed-scores", type=Path, nargs="*", default=[],
                        help="score files of some languages computed again with another seed (same-language bound)")
    parser.add_argument("--normalize", default="kind", help="the normalisation select_tickets used")
    parser.add_argument("--out-json", type=Path, required=True)
    parser.add_argument("--out-csv", type=Path, required=True)
    return parser


def _reseeded(args: argparse.Namespace, masks: TicketMasks) -> dict[str, dict[str, np.ndarray]]:
    from langtickets.tickets import load_scores
    from langtickets.tickets_select import read_score_files

    if not args.reseed_scores:
        return {}
    if not args.scores:
        raise ConfigError("--reseed-scores needs --scores: every language's original score file")
    originals, _ = read_score_files(args.scores, None)
    check_reproduces(masks, originals, args.normalize)
    out = {}
    for path in args.reseed_scores:
        scores, meta = load_scores(path)
        out[meta["lang"]] = reseeded_ticket(masks, originals, meta["lang"], scores, args.normalize)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    masks = TicketMasks.load(args.masks)
    report = overlap_report(masks, _reseeded(args, masks))
    write_json(args.out_json, report)
    write_table(overlap_table(report), args.out_csv)
    same = [entry[TICKET][ALL]["jaccard"] for entry in report["same_language"].values()]
    summary("analysis-overlap", started, method=masks.method, langs=len(masks.languages),
            ticket_jaccard=_fmt(report["ticket"]["mean_off_diagonal"]),
            random=_fmt(report["ticket"]["random_mean_off_diagonal"]),
            same_language=_fmt(float(np.mean(same)) if same and None not in same else None))
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"

"""Do tickets of related languages look alike? (multilingual-tickets paper, section 4.3, Figure 4)

The paper projects each language's ticket with UMAP and colours it by language family (Glottolog), finding
that SNIP tickets of one family lie close together while random tickets do not. Here each ticket is its
whole binary mask (every layer and kind concatenated, :func:`ticket_vectors`), and beyond the picture the
claim gets numbers, per method and taxonomy level (family, genus):

* the **silhouette** of the family labels under the Jaccard distance ``1 - J`` and the normalised Hamming
  distance (share of units on which two tickets differ) -- near 1: families form tight, separate groups;
  near 0: no family structure;
* **intra- minus inter-family mean Jaccard** -- how much more two tickets of one family share than two
  tickets of different families;
* a **permutation null** for both: the family labels shuffled among the languages (group sizes kept) many
  times, with the null mean and standard deviation and a one-sided p-value ``(1 + #{null >= observed}) /
  (1 + permutations)``.

The UMAP is computed here (seeded, ``n_jobs=1``: deterministic) on the precomputed Jaccard distances, so
the figure only draws these coordinates.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langtickets.analysis.common import finite_or_none, read_family_tree
from langtickets.analysis.overlap import jaccard_matrix
from langtickets.errors import ConfigError, InputError
from langtickets.io import write_json
from langtickets.masks import TicketMasks
from langtickets.seeding import derive_seed

LEVELS = ("family", "genus")


@dataclass(frozen=True)
class UmapParams:
    """UMAP settings; ``n_neighbors`` is capped at (languages - 1).

    ``init="random"`` (seeded) is the default because it is reproducible for any input; UMAP's ``spectral``
    initialisation is not when tickets coincide (magnitude tickets are identical for every language): the
    eigenvectors of a degenerate spectrum are arbitrary, and runs gave different layouts.
    """

    n_neighbors: int = 15
    min_dist: float = 0.1
    init: str = "random"
    seed: int = 0


def ticket_vectors(masks: TicketMasks) -> np.ndarray:
    """Each language's ticket as one bool vector ``(languages, all units)`` in the masks' key order."""
    return np.concatenate([masks.masks[key].numpy() for key in masks.shape.layout()], axis=1)


def jaccard_distances(vectors: np.ndarray) -> np.ndarray:
    """``1 - J`` between rows; two empty tickets count as identical (distance 0)."""
    distance = 1.0 - jaccard_matrix(vectors)
    return np.nan_to_num(distance, nan=0.0)


def hamming_distances(vectors: np.ndarray) -> np.ndarray:
    """Share of units on which two rows differ."""
    rows = np.asarray(vectors, dtype=np.float64)
    differ = rows @ (1 - rows).T + (1 - rows) @ rows.T
    return differ / rows.shape[1]


def silhouette(distances: np.ndarray, labels: Sequence[str]) -> float | None:
    """Mean silhouette of ``labels`` under precomputed ``distances``; ``None`` when undefined.

    Undefined (as in scikit-learn) unless there are at least 2 labels and fewer labels than items.
    """
    from sklearn.metrics import silhouette_score

    if not 2 <= len(set(labels)) <= len(labels) - 1:
        return None
    return float(silhouette_score(distances, np.asarray(labels), metric="precomputed"))


def intra_minus_inter(similarity: np.ndarray, labels: Sequence[str]) -> tuple[float | None, float | None, float | None]:
    """(mean over same-label pairs, mean over different-label pairs, their difference); ``None`` if a side is empty."""
    labels = np.asarray(labels)
    upper = np.triu_indices(len(labels), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    values = similarity[upper]
    intra = float(values[same].mean()) if same.any() else None
    inter = float(values[~same].mean()) if (~same).any() else None
    diff = None if intra is None or inter is None else intra - inter
    return intra, inter, diff


@dataclass(frozen=True)
class TicketDistances:
    """Pairwise similarities of the tickets, computed once and reused by every labelling."""

    jaccard: np.ndarray  # similarity, NaN for two empty tickets
    jaccard_distance: np.ndarray
    hamming_distance: np.ndarray

    @classmethod
    def of(cls, vectors: np.ndarray) -> TicketDistances:
        return cls(jaccard_matrix(vectors), jaccard_distances(vectors), hamming_distances(vectors))


def family_scores(distances: TicketDistances, labels: Sequence[str]) -> dict[str, float | None]:
    """Silhouettes (Jaccard, Hamming) and intra/inter mean Jaccard of one labelling."""
    intra, inter, diff = intra_minus_inter(np.nan_to_num(distances.jaccard, nan=1.0), labels)
    return {
        "silhouette_jaccard": silhouette(distances.jaccard_distance, labels),
        "silhouette_hamming": silhouette(distances.hamming_distance, labels),
        "intra_mean_jaccard": intra,
        "inter_mean_jaccard": inter,
        "intra_minus_inter_jaccard": diff,
    }


NULL_SCORES = ("silhouette_jaccard", "silhouette_hamming", "intra_minus_inter_jaccard")


def permutation_null(distances: TicketDistances, labels: Sequence[str], permutations: int, seed: int) -> dict[str, Any]:
    """Scores of shuffled labels: ``{score: {"mean", "std", "p_value"}}`` for the :data:`NULL_SCORES`.

    The labels are permuted among the languages, so every family keeps its size.
    """
    if permutations <= 0:
        return {"permutations": 0}
    observed = family_scores(distances, labels)
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in NULL_SCORES}
    for _ in range(permutations):
        shuffled = family_scores(distances, list(rng.permutation(np.asarray(labels))))
        for name in NULL_SCORES:
            draws[name].append(np.nan if shuffled[name] is None else shuffled[name])
    out: dict[str, Any] = {"permutations": permutations}
    for name in NULL_SCORES:
        values = np.asarray(draws[name], dtype=float)
        values = values[np.isfinite(values)]
        if observed[name] is None or not values.size:
            out[name] = None
            continue
        # a tiny tolerance so that ties (identical tickets give identical scores) count as "at least as large"
        hits = int(np.sum(values >= observed[name] - 1e-12))
        out[name] = {"mean": float(values.mean()), "std": float(values.std()), "p_value": (1 + hits) / (1 + len(values))}
    return out


def umap_embedding(distances: np.ndarray, params: UmapParams) -> np.ndarray:
    """2-D UMAP coordinates from precomputed distances, deterministic for a seed (``n_jobs=1``)."""
    import umap

    n = len(distances)
    if n < 3:
        return np.column_stack([np.arange(n, dtype=float), np.zeros(n)])  # nothing to project
    init = params.init if n >= 4 else "random"  # spectral init needs more points than dimensions + 1
    reducer = umap.UMAP(n_neighbors=max(2, min(params.n_neighbors, n - 1)), min_dist=params.min_dist,
                        metric="precomputed", init=init, random_state=params.seed, n_jobs=1)
    with warnings.catch_warnings():
        # precomputed metrics disable inverse_transform; tiny inputs warn about graph connectivity
        warnings.simplefilter("ignore")
        return np.asarray(reducer.fit_transform(distances), dtype=np.float64)


def labels_for(languages: Sequence[str], tree: Mapping[str, Mapping[str, str]], level: str, source: str) -> list[str]:
    """Each language's family (or genus) from the family table; a language missing from it is an error."""
    missing = [lang for lang in languages if lang not in tree]
    if missing:
        raise InputError(source, f"languages {missing} are not in the family table",
                         "rebuild results/languages/family_tree.tsv for the configured languages")
    return [tree[lang][level] for lang in languages]


def method_structure(masks: TicketMasks, tree: Mapping, levels: Sequence[str], permutations: int,
                     params: UmapParams, seed: int, family_source: str) -> dict[str, Any]:
    """UMAP coordinates and, per taxonomy level, the scores and their permutation null for one masks file."""
    distances = TicketDistances.of(ticket_vectors(masks))
    coords = umap_embedding(distances.jaccard_distance, params)
    out: dict[str, Any] = {"umap": {lang: [float(x), float(y)] for lang, (x, y) in zip(masks.languages, coords)},
                           "levels": {}}
    for level in levels:
        labels = labels_for(masks.languages, tree, level, family_source)
        scores = {key: finite_or_none(value) for key, value in family_scores(distances, labels).items()}
        null = permutation_null(distances, labels, permutations, derive_seed(seed, "structure-null", masks.method, level))
        out["levels"][level] = {**scores, "groups": len(set(labels)), "null": null}
    return out


def structure_report(masks_list: Sequence[TicketMasks], tree: Mapping, levels: Sequence[str], permutations: int,
                     params: UmapParams, seed: int, family_source: str = "family table") -> dict[str, Any]:
    """:func:`method_structure` for every masks file (one per method), plus each language's labels."""
    methods = [masks.method for masks in masks_list]
    if len(set(methods)) != len(methods):
        raise ConfigError(f"two masks files of the same method among {methods}; pass one per method")
    languages = list(masks_list[0].languages)
    for masks in masks_list[1:]:
        if list(masks.languages) != languages:
            raise InputError(masks.source or "<masks>", f"languages {list(masks.languages)} differ from {languages}",
                             "compare tickets selected for the same languages")
    labels = {level: dict(zip(languages, labels_for(languages, tree, level, family_source))) for level in levels}
    return {
        "arch": masks_list[0].arch.get("name", "model"),
        "languages": languages,
        "names": {lang: tree[lang]["name"] for lang in languages},
        "labels": labels,
        "umap_params": {"n_neighbors": params.n_neighbors, "min_dist": params.min_dist, "init": params.init,
                        "seed": params.seed, "metric": "jaccard (precomputed)"},
        "methods": {masks.method: method_structure(masks, tree, levels, permutations, params, seed, family_source)
                    for masks in masks_list},
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets analysis-structure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--masks", type=Path, nargs="+", required=True, help="masks.safetensors, one per method")
    parser.add_argument("--families", type=Path, required=True, help="results/languages/family_tree.tsv")
    parser.add_argument("--levels", nargs="+", choices=LEVELS, default=list(LEVELS))
    parser.add_argument("--permutations", type=int, default=999, help="label shuffles for the null (0 = none)")
    parser.add_argument("--umap-neighbors", type=int, default=15)
    parser.add_argument("--umap-min-dist", type=float, default=0.1)
    parser.add_argument("--umap-init", choices=["random", "spectral"], default="random",
                        help="spectral is not reproducible when tickets coincide (see UmapParams)")
    parser.add_argument("--seed", type=int, required=True, help="config seed (UMAP and permutations derive from it)")
    parser.add_argument("--out", type=Path, required=True, help="JSON report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    if args.permutations < 0 or args.umap_neighbors < 2:
        raise ConfigError("--permutations must be >= 0 and --umap-neighbors >= 2")
    started = time.perf_counter()
    tree = read_family_tree(args.families)
    masks_list = [TicketMasks.load(path) for path in args.masks]
    params = UmapParams(args.umap_neighbors, args.umap_min_dist, args.umap_init, derive_seed(args.seed, "umap"))
    report = structure_report(masks_list, tree, args.levels, args.permutations, params, args.seed, str(args.families))
    write_json(args.out, report)
    level = args.levels[0]
    fields = {method: _describe(entry["levels"][level]) for method, entry in report["methods"].items()}
    summary("analysis-structure", started, level=level, **fields)
    return 0


def _describe(scores: Mapping[str, Any]) -> str:
    sil, gap = scores["silhouette_jaccard"], scores["intra_minus_inter_jaccard"]
    return f"silhouette={'n/a' if sil is None else f'{sil:.3f}'},gap={'n/a' if gap is None else f'{gap:.4f}'}"

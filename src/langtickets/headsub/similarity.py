"""Which fine-tuning language's subnetwork a target language borrows (Choenni et al., section 4.5).

A target has no subnetwork of its own, so it uses that of the fine-tuning language most similar to it in
syntax: the cosine similarity of their URIEL ``syntax_knn`` vectors (Littell et al. 2017, via ``lang2vec``;
missing feature values there are filled by k-nearest-neighbour imputation).

Demo languages (``qaa``..) have no URIEL entry. Their syntax is fully described by their family's
:class:`~langtickets.demo.grammar.Typology` (word order, adposition, affixation, determiner and adjective
position, articles, case, contraction, negation), so their vectors are the one-hot encoding of those
features: one 0/1 entry per value, like URIEL's binary features (``S_SVO``, ``S_SOV``, ...), and the cosine
is the share of features two languages share. All languages of a demo family share a typology, so ties
are broken by the family tree (same genus before same family), then by the order of the fine-tuning
languages; real languages break exact ties by that order only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from langtickets.errors import ConfigError

URIEL_FEATURES = "syntax_knn"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity (0 when either vector is all zeros)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm else 0.0


def uriel_vectors(iso3: Mapping[str, str], features: str = URIEL_FEATURES) -> dict[str, np.ndarray]:
    """``{lang: vector}`` from lang2vec for ``{lang: ISO 639-3 code}``; an unknown code is a ConfigError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lang2vec imports the deprecated pkg_resources
        import lang2vec.lang2vec as l2v

    vectors, missing = {}, []
    for lang, code in iso3.items():
        try:
            vectors[lang] = np.asarray(l2v.get_features([code], features)[code], dtype=np.float64)
        except Exception:  # noqa: BLE001 -- lang2vec raises a bare Exception for a code it does not know
            missing.append(f"{lang} ({code})")
    if missing:
        raise ConfigError(f"no URIEL {features} vector for {', '.join(missing)}; check iso639_3 in the language "
                          "table or drop these languages from headsub")  # fmt: skip
    return vectors


def typology_vector(typology: Any) -> np.ndarray:
    """One-hot encoding of every field of a demo :class:`~langtickets.demo.grammar.Typology`."""
    values = {"order": ("SVO", "SOV", "VSO"), "adposition": ("pre", "post"), "affixation": ("suffix", "prefix"),
              "det": ("before", "after"), "adj": ("before", "after"), "neg": ("before", "after")}  # fmt: skip
    parts = []
    for item in fields(typology):
        value = getattr(typology, item.name)
        choices = (True, False) if isinstance(value, bool) else values[item.name]
        parts += [1.0 if value == choice else 0.0 for choice in choices]
    return np.asarray(parts)


def demo_vectors(table_path: str | Path, langs: Sequence[str], seed: int) -> tuple[dict[str, np.ndarray], Any]:
    """Typology vectors of demo languages (the grammar of ``seed``) and the language table (for ties)."""
    from langtickets.demo.grammar import build_grammar
    from langtickets.languages import load_table

    table = load_table(table_path)
    return {lang: typology_vector(build_grammar(table, lang, seed).typology) for lang in langs}, table


def relatedness(table: Any, a: str, b: str) -> int:
    """2 for the same genus, 1 for the same family, 0 otherwise (the demo tie-break)."""
    row_a, row_b = table[a], table[b]
    return 2 if (row_a.family, row_a.genus) == (row_b.family, row_b.genus) else int(row_a.family == row_b.family)


def choose_languages(targets: Sequence[str], candidates: Sequence[str], vectors: Mapping[str, np.ndarray],
                     table: Any = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """``{target: {"choice": lang, "similarity": {candidate: cosine}}}`` (section 4.5); ``table`` turns on the
    family-tree tie-break."""
    if not candidates:
        raise ConfigError("choosing a subnetwork for a target needs at least one fine-tuning language")
    chosen = {}
    for target in targets:
        sims = {c: round(cosine(vectors[target], vectors[c]), 6) for c in candidates}
        ties = {c: relatedness(table, target, c) if table is not None else 0 for c in candidates}
        best = max(candidates, key=lambda c: (sims[c], ties[c], -candidates.index(c)))
        chosen[target] = {"choice": best, "similarity": sims}
    return chosen


def transfer_choices(method: str, targets: Sequence[str], candidates: Sequence[str], *,
                     iso3: Mapping[str, str] | None = None, table_path: str | Path | None = None,
                     seed: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The choice for every target by ``method`` ``uriel`` (needs ``iso3``) or ``demo`` (needs the table and
    the demo seed), with the method recorded."""
    langs = list(dict.fromkeys([*targets, *candidates]))
    if method == "uriel":
        missing = [lang for lang in langs if lang not in (iso3 or {})]
        if missing:
            raise ConfigError(f"URIEL similarity needs --iso3 LANG=CODE for {', '.join(missing)}")
        vectors, table = uriel_vectors({lang: iso3[lang] for lang in langs}), None
        source = f"URIEL {URIEL_FEATURES} (lang2vec)"
    elif method == "demo":
        if table_path is None or seed is None:
            raise ConfigError("demo similarity needs --languages-table and --demo-seed")
        vectors, table = demo_vectors(table_path, langs, seed)
        source = "demo grammar typology (one-hot), ties by genus then family"
    else:
        raise ConfigError(f"unknown similarity '{method}'; choose uriel or demo")
    return {"method": method, "source": source, "targets": choose_languages(targets, candidates, vectors, table)}

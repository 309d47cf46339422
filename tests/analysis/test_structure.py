"""structure: do tickets group by language family? Silhouette, intra-inter Jaccard, permutation null, UMAP."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langtickets.analysis.common import read_family_tree
from langtickets.analysis.structure import (
    TicketDistances,
    UmapParams,
    family_scores,
    hamming_distances,
    intra_minus_inter,
    labels_for,
    main,
    permutation_null,
    silhouette,
    umap_embedding,
)
from langtickets.errors import InputError
from langtickets.masks import TicketMasks, TicketShape


def family_tickets(families: int = 4, per_family: int = 5, units: int = 240, seed: int = 0):
    """Tickets sharing a family core of units plus noise: clearly separable by family."""
    rng = np.random.default_rng(seed)
    cores = [rng.random(units) < 0.5 for _ in range(families)]
    vectors, labels = [], []
    for f in range(families):
        for _ in range(per_family):
            flip = rng.random(units) < 0.08
            vectors.append(cores[f] ^ flip)
            labels.append(f"family{f}")
    return np.array(vectors), labels


def test_separable_families_score_high_and_shuffled_labels_near_zero():
    vectors, labels = family_tickets()
    distances = TicketDistances.of(vectors)
    scores = family_scores(distances, labels)
    assert scores["silhouette_jaccard"] > 0.5 and scores["silhouette_hamming"] > 0.5
    assert scores["intra_minus_inter_jaccard"] > 0.3
    shuffled = list(np.random.default_rng(1).permutation(labels))
    assert abs(family_scores(distances, shuffled)["silhouette_jaccard"]) < 0.15
    null = permutation_null(distances, labels, 199, seed=3)
    assert abs(null["silhouette_jaccard"]["mean"]) < 0.2, "shuffled families: no structure left"
    assert abs(null["intra_minus_inter_jaccard"]["mean"]) < 0.05
    assert null["silhouette_jaccard"]["p_value"] == pytest.approx(1 / 200)
    assert null == permutation_null(distances, labels, 199, seed=3), "seeded: the same null on rerun"


def test_structureless_tickets_are_not_significant():
    rng = np.random.default_rng(5)
    vectors = rng.random((12, 300)) < 0.6
    labels = [f"f{i % 3}" for i in range(12)]
    null = permutation_null(TicketDistances.of(vectors), labels, 199, seed=0)
    assert null["silhouette_jaccard"]["p_value"] > 0.05


def test_intra_minus_inter_and_undefined_cases():
    similarity = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.4], [0.2, 0.4, 1.0]])
    intra, inter, diff = intra_minus_inter(similarity, ["a", "a", "b"])
    assert (intra, inter) == (0.8, pytest.approx(0.3)) and diff == pytest.approx(0.5)
    assert intra_minus_inter(similarity, ["a", "b", "c"])[0] is None
    distances = 1 - similarity
    assert silhouette(distances, ["a", "b", "c"]) is None, "every language its own group"
    assert silhouette(distances, ["a", "a", "a"]) is None


def test_hamming_distance_is_the_share_of_differing_units():
    vectors = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=bool)
    assert hamming_distances(vectors)[0, 1] == pytest.approx(0.5)


def test_umap_is_deterministic_for_a_seed():
    vectors, _ = family_tickets(families=3, per_family=3, units=60)
    distances = TicketDistances.of(vectors).jaccard_distance
    params = UmapParams(n_neighbors=15, seed=11)
    first = umap_embedding(distances, params)
    assert first.shape == (9, 2) and np.isfinite(first).all()
    assert np.array_equal(first, umap_embedding(distances, params))
    assert umap_embedding(distances[:3, :3], params).shape == (3, 2), "few languages still get coordinates"
    identical = np.zeros((6, 6))  # magnitude tickets: one ticket for every language
    assert np.array_equal(umap_embedding(identical, params), umap_embedding(identical, params))


def test_missing_language_in_the_family_table_is_an_input_error(tmp_path):
    path = tmp_path / "family_tree.tsv"
    path.write_text("code\tname\tfamily\tgenus\tproto\nqaa\tVelmari\tAralic\tWest Aralic\tproto-aralic\n")
    tree = read_family_tree(path)
    assert labels_for(["qaa"], tree, "genus", str(path)) == ["West Aralic"]
    with pytest.raises(InputError, match="not in the family table"):
        labels_for(["qaa", "qzz"], tree, "family", str(path))
    (tmp_path / "bad.tsv").write_text("code\tname\n")
    with pytest.raises(InputError, match="missing"):
        read_family_tree(tmp_path / "bad.tsv")


def test_cli_reports_every_method_and_level(tmp_path):
    vectors, labels = family_tickets(families=3, per_family=2, units=3 * 2 * 16)
    shape = TicketShape(layers=2, hidden=16, intermediate=16, heads=2)
    langs = [f"q{chr(97 + i)}{chr(97 + i)}" for i in range(6)]
    rows = ["code\tname\tfamily\tgenus\tproto"] + [
        f"{lang}\tL{i}\t{labels[i]}\t{labels[i]}-{i % 2}\tp" for i, lang in enumerate(langs)
    ]
    (tmp_path / "tree.tsv").write_text("\n".join(rows) + "\n")
    paths = []
    for method, rng_seed in (("snip", None), ("random", 1)):
        data = vectors if rng_seed is None else np.random.default_rng(rng_seed).random(vectors.shape) < 0.5
        masks = {key: torch.tensor(data[:, i * 16 : (i + 1) * 16]) for i, key in enumerate(shape.layout())}
        path = tmp_path / f"{method}.safetensors"
        TicketMasks(tuple(langs), masks, shape, method, {"name": "scaled"}).save(path)
        paths.append(str(path))
    out = tmp_path / "structure.json"
    assert main(["--masks", *paths, "--families", str(tmp_path / "tree.tsv"), "--permutations", "49",
                 "--seed", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["methods"]) == {"snip", "random"}
    snip = report["methods"]["snip"]
    assert set(snip["umap"]) == set(langs) and set(snip["levels"]) == {"family", "genus"}
    assert snip["levels"]["family"]["silhouette_jaccard"] > report["methods"]["random"]["levels"]["family"]["silhouette_jaccard"]
    assert snip["levels"]["genus"]["silhouette_jaccard"] is None, "six genera for six languages: undefined"

"""Chu-Liu/Edmonds decoding: exact against exhaustive search, always a single-rooted tree, even on odd scores."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

from langtickets.tasks.mst import decode_tree, is_tree


def tree_score(scores, heads):
    return sum(scores[word, head] for word, head in enumerate(heads, start=1))


@functools.cache
def all_trees(size, single_root):
    """Every head assignment of ``size`` words that is a tree, as an array (trees, size)."""
    candidates = itertools.product(range(size + 1), repeat=size)
    return np.array([h for h in candidates if is_tree(h, single_root=single_root)])


def best_by_search(scores, single_root):
    size = scores.shape[0] - 1
    return scores[np.arange(1, size + 1), all_trees(size, single_root)].sum(axis=1).max()


@pytest.mark.parametrize("single_root", [True, False])
def test_matches_exhaustive_search_on_small_sentences(single_root):
    rng = np.random.default_rng(7)
    for trial in range(120):
        size = int(rng.integers(1, 6))
        scores = rng.normal(size=(size + 1, size + 1))
        if trial % 3 == 0:
            scores = np.round(scores)  # many ties
        heads = decode_tree(scores, single_root=single_root)
        assert is_tree(heads, single_root=single_root)
        assert tree_score(scores, heads) == pytest.approx(best_by_search(scores, single_root))


def test_root_loving_scores_still_give_one_root():
    # every word prefers the root by far: the unconstrained optimum attaches all of them there
    scores = np.zeros((6, 6))
    scores[1:, 0] = 10.0
    scores[3, 0] = 11.0
    assert decode_tree(scores, single_root=False) == [0, 0, 0, 0, 0]
    heads = decode_tree(scores)
    assert is_tree(heads) and heads[2] == 0  # word 3, the strongest root candidate, is the root


@pytest.mark.parametrize(
    "name, scores",
    [
        ("all-equal", np.zeros((9, 9))),
        ("two-cycles", np.array([[0, 0, 0, 0, 0], [-5, 0, 9, 0, 0], [-5, 9, 0, 0, 0], [-5, 0, 0, 0, 9],
                                 [-5, 0, 0, 9, 0]], dtype=float)),
        ("nested-cycles", -np.abs(np.subtract.outer(np.arange(12), np.arange(12))).astype(float) * 0 + np.eye(12, k=1)
         + np.eye(12, k=-1) * 2),
        ("huge-magnitudes", np.random.default_rng(1).normal(scale=1e8, size=(15, 15))),
        ("forbidden-arcs", np.where(np.random.default_rng(2).random((10, 10)) < 0.5, -np.inf,
                                    np.random.default_rng(3).normal(size=(10, 10)))),
        ("minus-large", np.full((7, 7), -1e30)),
    ],
)  # fmt: skip
def test_adversarial_scores_give_trees(name, scores):
    scores = scores.copy()
    scores[1:, 0] = np.where(np.isfinite(scores[1:, 0]), scores[1:, 0], 0.0)  # root arcs allowed
    heads = decode_tree(scores)
    assert is_tree(heads), name
    if name == "forbidden-arcs":
        assert all(np.isfinite(scores[word, head]) for word, head in enumerate(heads, start=1))


def test_extreme_score_ranges_are_still_exact():
    rng = np.random.default_rng(5)
    for _ in range(20):
        scores = rng.normal(size=(5, 5))
        scores[rng.random((5, 5)) < 0.3] = -1e30  # masked-but-finite entries next to ordinary scores
        scores[1:, 0] = rng.normal(size=4)
        heads = decode_tree(scores)
        assert is_tree(heads)
        assert tree_score(scores, heads) == pytest.approx(best_by_search(scores, True))


def test_long_sentence_agrees_with_networkx():
    networkx = pytest.importorskip("networkx")
    rng = np.random.default_rng(11)
    scores = rng.normal(size=(41, 41))
    graph = networkx.DiGraph()
    graph.add_weighted_edges_from((h, d, scores[d, h]) for d in range(1, 41) for h in range(41) if h != d)
    arborescence = networkx.maximum_spanning_arborescence(graph)
    reference = [next(iter(arborescence.predecessors(d))) for d in range(1, 41)]
    heads = decode_tree(scores, single_root=False)
    assert tree_score(scores, heads) == pytest.approx(tree_score(scores, reference))
    assert is_tree(decode_tree(scores))


def test_invalid_scores_are_refused_and_input_is_untouched():
    scores = np.random.default_rng(0).normal(size=(4, 4))
    before = scores.copy()
    decode_tree(scores)
    assert np.array_equal(scores, before)
    for bad, problem in [
        (np.full((3, 3), np.nan), "NaN"),
        (np.zeros((3, 4)), "square"),
        (np.zeros((1, 1)), "n >= 1"),
        (np.array([[0, 0, 0], [-np.inf, 0, -np.inf], [0, 0, 0]]), "word 1 has no allowed head"),
        (np.array([[0, 0, 0, 0], [-np.inf, 0, 1, -np.inf], [-np.inf, 1, 0, -np.inf], [0, -np.inf, -np.inf, 0]]),
         "no spanning tree"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=problem):
            decode_tree(bad)

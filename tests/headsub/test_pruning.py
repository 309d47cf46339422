"""The pruning loop of section 4.3.1 on hand-made scores, the choice of heads, and the magnitude levels."""

from __future__ import annotations

import torch

from langtickets.headsub.pruning import lowest_heads, magnitude_step, prune_until

# dev score after removing n heads: 95% of 1.0 is crossed between 3 and 4 removed heads
SCORES = {0: 1.0, 1: 0.99, 2: 0.97, 3: 0.955, 4: 0.94, 5: 0.99, 6: 0.99}


def count_loop(scores, threshold=0.95, limit=6):
    return prune_until(0, lambda n: n + 1 if n < limit else None, lambda n: scores[n], threshold, lambda n: n)


def test_pruning_stops_before_the_score_falls_below_95_percent():
    pruned = count_loop(SCORES)
    assert pruned.mask == 3 and pruned.base == 1.0
    assert [(step["disabled"], step["accepted"]) for step in pruned.trace] == [
        (0, True), (1, True), (2, True), (3, True), (4, False)]  # fmt: skip


def test_a_score_exactly_at_the_threshold_is_kept_and_the_loop_ends_when_nothing_is_left():
    assert count_loop({**SCORES, 4: 0.95}, limit=5).mask == 5
    assert count_loop({0: 0.0, 1: 0.0}).mask == 0  # a model scoring 0 is not pruned at all


def test_lowest_heads_removes_the_least_important_enabled_heads_but_never_the_last():
    importance = torch.tensor([[0.5, 0.1], [0.05, 0.9]])
    mask = torch.tensor([[True, True], [False, True]])
    assert lowest_heads(importance, mask, 1).tolist() == [[True, False], [False, True]]
    assert lowest_heads(importance, mask, 5).tolist() == [[False, False], [False, True]]
    assert lowest_heads(importance, torch.tensor([[False, False], [False, True]]), 1) is None


def test_magnitude_levels_remove_the_smallest_weights_over_all_matrices():
    weights = {"a": torch.tensor([[0.1, -3.0], [2.0, 0.4]]), "b": torch.tensor([[-0.2, 5.0, 0.3, -0.05, 1.0, 4.0]])}
    propose = magnitude_step(weights, 0.3)
    first = propose({k: torch.ones(w.shape, dtype=torch.bool) for k, w in weights.items()})
    assert sum(int((~m).sum()) for m in first.values()) == 3  # 30% of 10
    assert first["a"].tolist() == [[False, True], [True, True]]
    assert first["b"][0, :4].tolist() == [False, True, True, False]
    levels = [first]
    while (nxt := propose(levels[-1])) is not None:
        levels.append(nxt)
    assert [sum(int((~m).sum()) for m in level.values()) for level in levels] == [3, 6, 9]

"""Winning-ticket test and transfer-matrix arithmetic on hand-made numbers (IMP paper section 5, footnote 15)."""

from __future__ import annotations

import math

import pytest
import torch

from langtickets.analysis.imp import is_winning, mean_std, winning_summary
from langtickets.analysis.transfer_matrix import (
    difference_matrix,
    jaccard_by_layer,
    level_summary,
    random_relative,
    relative_transfer,
)
from langtickets.analysis.weight_masks import WeightMasks
from langtickets.errors import ConfigError

LANGS = ["a", "b", "c"]
OWN = {"a": 80.0, "b": 90.0, "c": 70.0}
TRANSFERRED = {("a", "b"): 81.0, ("a", "c"): 63.0, ("b", "a"): 76.0, ("b", "c"): 70.0, ("c", "a"): 72.0,
               ("c", "b"): 90.0}  # fmt: skip


def test_difference_matrix_rows_are_sources_and_columns_targets():
    assert difference_matrix(LANGS, OWN, TRANSFERRED) == [[0.0, -9.0, -7.0], [-4.0, 0.0, 0.0], [-8.0, 0.0, 0.0]]


def test_relative_transfer_is_footnote_15():
    relative = relative_transfer(LANGS, OWN, TRANSFERRED)
    # a: ((81 - 90) / 90 + (63 - 70) / 70) / 2 = (-0.1 - 0.1) / 2
    assert relative["a"] == pytest.approx(-0.1)
    assert relative["b"] == pytest.approx((-4 / 80 + 0) / 2)
    assert relative["c"] == pytest.approx((-8 / 80 + 0) / 2)
    assert random_relative(LANGS, OWN, {"a": 72.0, "b": 81.0, "c": 63.0}) == pytest.approx(-0.1)
    with pytest.raises(ConfigError):
        relative_transfer(["a"], OWN, {})
    zero = relative_transfer(LANGS, {**OWN, "c": 0.0}, TRANSFERRED)  # an F1 of 0 has no relative drop
    assert math.isnan(zero["a"]) and math.isnan(zero["b"]) and zero["c"] == pytest.approx(-0.05)


def test_level_summary_flags_transfers_within_one_standard_deviation():
    own = {"a": {"mean": 80.0, "std": 2.0}, "b": {"mean": 90.0, "std": 1.0}, "c": {"mean": 70.0, "std": 7.0}}
    random = {"a": {"mean": 70.0}, "b": {"mean": 80.0}, "c": {"mean": 60.0}}
    transferred = {pair: {"mean": value} for pair, value in TRANSFERRED.items()}
    summary = level_summary(LANGS, own, random, transferred, higher_is_better=True)
    assert summary["rows"] == ["a", "b", "c", "rand"]
    assert summary["difference"][3] == [-10.0, -10.0, -10.0]
    # a->b drops 9 (std 1): fails; a->c drops 7 (std 7): succeeds; c->b is equal: succeeds
    assert summary["successful"] == [[True, False, True], [False, True, True], [False, True, True]]
    assert summary["relative"]["rand"] == pytest.approx((-10 / 80 - 10 / 90 - 10 / 70) / 3, abs=1e-6)


def test_winning_ticket_test_for_both_metric_directions():
    assert is_winning(79.0, 80.0, 1.0, higher_is_better=True)
    assert not is_winning(78.9, 80.0, 1.0, higher_is_better=True)
    assert is_winning(85.0, 80.0, 0.0, higher_is_better=True)
    assert is_winning(3.6, 3.5, 0.1, higher_is_better=False)  # perplexity: lower is better
    assert not is_winning(3.7, 3.5, 0.1, higher_is_better=False)
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0) and mean_std([4.0]) == (4.0, 0.0)


def test_winning_summary_reports_the_sparsest_winning_level():
    levels = [{"sparsity": s, "mean": m, "std": 0.0} for s, m in [(0.0, 80.0), (0.1, 80.5), (0.2, 79.5), (0.3, 75.0)]]
    levels[0]["std"] = 1.0
    result = winning_summary(levels, [{"sparsity": 0.3, "mean": 60.0, "std": 0.0}], higher_is_better=True)
    assert [level["winning"] for level in levels] == [True, True, True, False]
    assert result["max_winning_sparsity"] == 0.2 and result["dense"] == {"mean": 80.0, "std": 1.0, "selected_update": None}


def test_a_winning_ticket_peaks_no_later_than_the_dense_model():
    # section 3: a - a' <= eps *when i' <= i* -- a subnetwork that matches the score only by training longer loses
    assert is_winning(80.0, 80.0, 1.0, higher_is_better=True, update=40, dense_update=40)
    assert not is_winning(81.0, 80.0, 1.0, higher_is_better=True, update=41, dense_update=40)
    assert not is_winning(3.4, 3.5, 0.1, higher_is_better=False, update=60, dense_update=50)
    assert is_winning(80.0, 80.0, 1.0, higher_is_better=True, update=41)  # no dense update: the score alone
    levels = [{"sparsity": 0.0, "mean": 80.0, "std": 1.0, "selected_update": 30.0},
              {"sparsity": 0.1, "mean": 80.0, "std": 0.0, "selected_update": 30.0},  # as early: wins
              {"sparsity": 0.2, "mean": 80.5, "std": 0.0, "selected_update": 35.0},  # better but later: loses
              {"sparsity": 0.3, "mean": 79.5, "std": 0.0, "selected_update": 10.0}]  # fmt: skip
    result = winning_summary(levels, [], higher_is_better=True)
    assert [level["winning"] for level in levels] == [True, True, False, True]
    assert result["max_winning_sparsity"] == 0.3 and result["dense"]["selected_update"] == 30.0


def test_jaccard_by_layer_on_hand_made_masks():
    def masks(layer0, layer1):
        return WeightMasks({"layer.0.attention.self.query.weight": torch.tensor(layer0),
                            "layer.1.attention.self.query.weight": torch.tensor(layer1)})  # fmt: skip

    one = masks([[True, True], [False, False]], [[True, False], [True, False]])
    two = masks([[True, False], [True, False]], [[True, False], [True, False]])
    result = jaccard_by_layer({"x": one, "y": two})
    assert result["layers"] == [0, 1]
    assert result["jaccard"][0][0][1] == pytest.approx(1 / 3) and result["jaccard"][1][0][1] == 1.0
    assert result["all"][0][1] == pytest.approx(3 / 5)
    assert result["random_expectation"] == pytest.approx(1 / 3)  # two 50% masks

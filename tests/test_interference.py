"""uc (Eq. 6-7), gc (Eq. 2) and the Figure 2 stability measure on hand-built updates and gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from langtickets import interference as itf

SQRT_HALF = 1 / math.sqrt(2)


def test_cosine_matrix_of_known_vectors():
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 3.0, 0.0]])
    expected = torch.tensor([[1, 0, SQRT_HALF], [0, 1, SQRT_HALF], [SQRT_HALF, SQRT_HALF, 1]], dtype=torch.float64)
    assert torch.allclose(itf.cosine_matrix(vectors), expected, atol=1e-12)
    assert torch.allclose(itf.cosine_matrix(vectors, chunk=2), expected, atol=1e-12)  # Gram in column chunks


def test_a_language_without_updates_has_undefined_cosines():
    matrix = itf.cosine_matrix(torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]))
    assert math.isnan(matrix[0, 1]) and math.isnan(matrix[1, 2]) and math.isnan(matrix[1, 1])
    assert itf.mean_off_diagonal(matrix) == pytest.approx(SQRT_HALF)  # only the defined pair (0, 2) counts
    data = itf.matrices_to_json({0: matrix}, ["a", "b", "c"])
    assert data["0"]["matrix"][0][1] is None and data["0"]["languages"] == ["a", "b", "c"]
    assert torch.equal(itf.matrices_from_json(data)[0].isnan(), matrix.isnan())


def test_cumulative_updates_split_the_total_change_by_language():
    """Steps of languages a, b, a, c with known updates: u_a = d1 + d3, u_b = d2, u_c = d4 (Eq. 6)."""
    deltas = [
        {0: torch.tensor([1.0, 0.0, 0.0]), 1: torch.tensor([1.0, 1.0])},
        {0: torch.tensor([0.0, 1.0, 0.0]), 1: torch.tensor([-1.0, -1.0])},
        {0: torch.tensor([1.0, 0.0, 0.0]), 1: torch.tensor([1.0, 1.0])},
        {0: torch.tensor([-1.0, 0.0, 0.0]), 1: torch.tensor([2.0, 0.0])},
    ]
    updates = itf.CumulativeUpdates(["a", "b", "c"], {0: 3, 1: 2})
    for lang, delta in zip("abac", deltas):
        updates.add(lang, delta)
    assert updates.sums[0].tolist() == [[2, 0, 0], [0, 1, 0], [-1, 0, 0]]
    assert updates.steps.tolist() == [2, 1, 1]
    total = sum(d[0] for d in deltas)
    assert torch.equal(updates.sums[0].sum(dim=0), total)  # sum_i u_i = theta_T - theta_0

    uc = updates.cosines()
    assert uc[0][0, 1] == 0 and uc[0][0, 2] == -1 and uc[0][1, 2] == 0  # layer 0: orthogonal / opposite
    assert uc[1][0, 1] == pytest.approx(-1) and uc[1][0, 2] == pytest.approx(SQRT_HALF)  # layer 1
    assert itf.mean_off_diagonal(uc[0]) == pytest.approx(-1 / 3)


def test_cumulative_updates_state_round_trip():
    updates = itf.CumulativeUpdates(["a", "b"], {2: 4})
    updates.add("b", {2: torch.arange(4.0)})
    copy = itf.CumulativeUpdates(["a", "b"], {2: 4})
    copy.load_state_tensors(updates.state_tensors())
    assert torch.equal(copy.sums[2], updates.sums[2]) and copy.steps.tolist() == [0, 1]


def test_relative_change_between_two_measurements():
    before = torch.tensor([[1.0, 0.5, -0.2], [0.5, 1.0, 0.0], [-0.2, 0.0, 1.0]], dtype=torch.float64)
    after = torch.tensor([[1.0, 0.25, -0.3], [0.25, 1.0, 0.4], [-0.3, 0.4, 1.0]], dtype=torch.float64)
    # pairs (0,1): |0.25-0.5|/0.5 = 0.5; (0,2): |-0.3+0.2|/0.2 = 0.5; (1,2): denominator 0 -> left out
    assert itf.relative_changes(before, after).tolist() == pytest.approx([0.5, 0.5])
    second_layer = torch.tensor([[1.0, 0.1], [0.1, 1.0]], dtype=torch.float64)
    changed = torch.tensor([[1.0, 0.4], [0.4, 1.0]], dtype=torch.float64)  # |0.4-0.1|/0.1 = 3
    mean = itf.mean_relative_change({0: before, 1: second_layer}, {0: after, 1: changed})
    assert mean == pytest.approx((0.5 + 0.5 + 3) / 3)


def test_stability_series_compares_consecutive_measurements():
    m = [torch.tensor([[1.0, x], [x, 1.0]], dtype=torch.float64) for x in (0.2, 0.4, 0.2)]
    series = itf.stability_series([10, 20, 30], [{0: m[0]}, {0: m[1]}, {0: m[2]}])
    assert series["steps"] == [20, 30]
    assert series["relative_change"] == pytest.approx([1.0, 0.5])


class Linear3(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
        self.v = nn.Parameter(torch.tensor([1.0]))


def test_gradient_cosines_at_the_same_parameters():
    """loss_l = x_l . w + c_l * v**2 / 2 has gradients (x_l) for layer 0 and (c_l * v) for layer 1 (Eq. 2)."""
    model = Linear3()
    inputs = {"a": torch.tensor([1.0, 0.0, 0.0]), "b": torch.tensor([1.0, 1.0, 0.0]), "c": torch.tensor([0.0, 0.0, -2.0])}
    scale = {"a": 1.0, "b": -3.0, "c": 2.0}

    def loss_for(lang):
        return (inputs[lang] * model.w).sum() + scale[lang] * model.v.pow(2).sum() / 2

    before = model.w.detach().clone()
    gc = itf.gradient_cosines(["a", "b", "c"], loss_for, {0: [model.w], 1: [model.v]})
    assert torch.allclose(gc[0], itf.cosine_matrix(torch.stack(list(inputs.values()))))
    assert gc[0][0, 1] == pytest.approx(SQRT_HALF) and gc[0][0, 2] == 0
    assert gc[1].tolist() == [[1, -1, 1], [-1, 1, -1], [1, -1, 1]]
    assert model.w.grad is None and torch.equal(model.w, before)  # measuring changes nothing


def test_check_layers_rejects_missing_layers():
    from langtickets.errors import ConfigError

    assert itf.check_layers([1, 0, 1], 2) == [0, 1]
    with pytest.raises(ConfigError, match="0..1"):
        itf.check_layers([2], 2)

import pytest
import torch

from langtickets.errors import ConfigError
from langtickets.sft import (
    PAPER_REDUCTION_FACTORS,
    k_for_reduction_factor,
    random_selection,
    resolve_k,
    top_k_changed,
    training_steps,
)
from langtickets.sft.selection import whole_tensors

SHAPES = {"b": (13,), "a": (7, 5), "c": (4, 4, 3)}


def brute_force(current, reference, k):
    """Reference answer: sort by |delta| descending, ties by (name order, flat index)."""
    names = sorted(current)
    deltas = torch.cat([(current[n] - reference[n]).abs().reshape(-1) for n in names])
    chosen = torch.zeros(deltas.numel(), dtype=torch.bool)
    chosen[torch.sort(-deltas, stable=True).indices[:k]] = True
    out, offset = {}, 0
    for name in names:
        size = current[name].numel()
        out[name] = torch.nonzero(chosen[offset : offset + size]).squeeze(1)
        offset += size
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_top_k_matches_a_full_sort_with_deterministic_ties(ties):
    generator = torch.Generator().manual_seed(0)
    for _ in range(30):
        reference = {n: torch.randn(s, generator=generator) for n, s in SHAPES.items()}
        if ties:  # few distinct values: many ties at the threshold
            current = {n: reference[n] + torch.randint(-2, 3, s, generator=generator) * 0.25 for n, s in SHAPES.items()}
        else:
            current = {n: reference[n] + torch.randn(s, generator=generator) for n, s in SHAPES.items()}
        total = sum(t.numel() for t in current.values())
        k = int(torch.randint(0, total + 1, (1,), generator=generator))
        got = top_k_changed(current, reference, k, chunk_size=5)
        want = brute_force(current, reference, k)
        assert all(torch.equal(got[n], want[n]) for n in SHAPES)
        assert sum(v.numel() for v in got.values()) == k


def test_top_k_with_all_ties_takes_the_earliest_positions():
    zeros = {n: torch.zeros(s) for n, s in SHAPES.items()}
    got = top_k_changed(zeros, zeros, 40)
    assert got["a"].tolist() == list(range(35)) and got["b"].tolist() == list(range(5)) and got["c"].numel() == 0


def test_top_k_rejects_diverged_training():
    reference = {"w": torch.zeros(4)}
    with pytest.raises(ValueError, match="diverged"):
        top_k_changed({"w": torch.tensor([0.0, float("nan"), 1.0, 2.0])}, reference, 1)


def test_random_selection_is_seeded_distinct_and_in_range():
    numels = {"x": 1000, "y": 10, "z": 5000}
    first = random_selection(numels, 600, seed=3)
    assert first.keys() == numels.keys()
    assert sum(v.numel() for v in first.values()) == 600
    for name, positions in first.items():
        assert positions.dtype == torch.int64
        assert torch.all(positions[1:] > positions[:-1]) and (positions.numel() == 0 or positions[-1] < numels[name])
    again = random_selection(numels, 600, seed=3)
    other = random_selection(numels, 600, seed=4)
    assert all(torch.equal(first[n], again[n]) for n in numels)
    assert not all(torch.equal(first[n], other[n]) for n in numels)
    # roughly proportional to size (uniform over all entries)
    assert 60 < first["x"].numel() < 140 and 420 < first["z"].numel() < 580


def test_whole_tensors_selects_every_entry_of_the_named_tensors_only():
    chosen = whole_tensors({"w": 6, "bias": 3}, ["bias"])
    assert chosen["bias"].tolist() == [0, 1, 2] and chosen["w"].numel() == 0


def test_reduction_factor_equivalents_match_footnote_4():
    ks = [k_for_reduction_factor(rf) for rf in PAPER_REDUCTION_FACTORS]
    assert ks == [442_368, 884_736, 1_769_472, 3_538_944, 7_077_888, 14_155_776]
    mbert_parameters = 177_853_440
    assert round(100 * ks[0] / mbert_parameters, 2) == 0.25 and round(100 * ks[-1] / mbert_parameters) == 8


def test_k_from_count_or_density():
    assert resolve_k(1000, k=12) == 12
    assert resolve_k(1000, density=0.043) == 43
    with pytest.raises(ValueError):
        resolve_k(1000, k=1, density=0.1)
    with pytest.raises(ValueError):
        resolve_k(1000, k=1001)


def test_training_steps_follow_the_papers_rule():
    # the lesser of 100 epochs and 100,000 steps, at least 30,000 (section 4.2)
    assert training_steps(100, max_epochs=100, max_steps=100_000, min_steps=30_000) == 30_000
    assert training_steps(500, max_epochs=100, max_steps=100_000, min_steps=30_000) == 50_000
    assert training_steps(5000, max_epochs=100, max_steps=100_000, min_steps=30_000) == 100_000
    with pytest.raises(ConfigError):
        training_steps(10)

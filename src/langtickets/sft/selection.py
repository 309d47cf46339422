"""Choosing the K positions an SFT may change (Ansell et al., §3.1, §4.1, footnote 4).

* :func:`top_k_changed` -- LT-SFT: the K maskable entries with the largest ``|theta1 - theta0|``;
* :func:`random_selection` -- RAND-SFT: K maskable entries uniformly at random;
* :func:`whole_tensors` -- BitFit and full fine-tuning: every entry of the given tensors.

Each returns ``{name: sorted int64 flat positions}`` with an entry (possibly empty) for every tensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

#: adapter reduction factors compared in §4.3 (K for SFTs is their "equivalent", footnote 4)
PAPER_REDUCTION_FACTORS = (32, 16, 8, 4, 2, 1)

#: K of the paper's language SFTs, matching a MAD-X language adapter with reduction factor 2 (§4.2); the
#: exact count comes from the released training script (``--ft_params_num 7667712``)
PAPER_LANGUAGE_K = 7_667_712

_HI_BINS = 1 << 15  # bit patterns of finite non-negative float32 values have the sign bit clear
_LO_BINS = 1 << 16
_NONFINITE_HI = 0x7F80  # exponent all ones: inf or NaN


def k_for_reduction_factor(reduction_factor: float, hidden_size: int = 768, num_layers: int = 12) -> int:
    """K equivalent to an adapter reduction factor (footnote 4): ``2 * layers * hidden^2 / factor``.

    For BERT-base sizes this gives 442,368 / 884,736 / 1.77M / 3.54M / 7.08M / 14,155,776 for factors
    32...1 -- the paper's "approximately 442K, 884K, 1.7M, 3.5M, 7.1M and 14.2M" (the released scripts use
    14155776 for factor 1).
    """
    if reduction_factor <= 0:
        raise ValueError("reduction factor must be positive")
    return round(2 * num_layers * hidden_size * hidden_size / reduction_factor)


def resolve_k(n_maskable: int, k: int | None = None, density: float | None = None) -> int:
    """K from a count or a density (fraction of the ``n_maskable`` maskable parameters), exactly one given."""
    if (k is None) == (density is None):
        raise ValueError("give exactly one of k and density")
    if density is not None:
        if not 0.0 <= density <= 1.0:
            raise ValueError(f"density must be in [0, 1], got {density}")
        k = round(density * n_maskable)
    if not 0 <= k <= n_maskable:
        raise ValueError(f"K={k} is not between 0 and the {n_maskable} maskable parameters")
    return int(k)


def top_k_changed(
    current: Mapping[str, torch.Tensor],
    reference: Mapping[str, torch.Tensor],
    k: int,
    *,
    chunk_size: int = 1 << 22,
) -> dict[str, torch.Tensor]:
    """The K positions with the largest ``|current - reference|`` over all tensors together (§3.1, phase 1).

    Ties at the threshold go to the earliest positions (tensors in name order, then flat index), so the
    result is deterministic and has exactly K positions. Works as a two-level radix select on the float32
    bit patterns of ``|delta|`` (which order like the values): a histogram of the high 16 bits finds the
    bucket holding the K-th value, a histogram of the low 16 bits inside it the exact threshold. Two scans
    over the parameters; memory is two bytes per parameter plus about 13 bytes per position at or above the
    threshold bucket (K plus the bucket's); nothing is sorted.
    """
    names = sorted(current)
    total = sum(current[name].numel() for name in names)
    if not 0 <= k <= total:
        raise ValueError(f"cannot select K={k} of {total} parameters")
    if k == 0:
        return {name: _empty() for name in names}
    flats = {name: (current[name].detach().reshape(-1), reference[name].detach().reshape(-1)) for name in names}
    high, hist = {}, torch.zeros(_HI_BINS, dtype=torch.int64)
    for name in names:
        high[name] = _high_bits(*flats[name], chunk_size)
        counts = torch.bincount(high[name], minlength=_HI_BINS).cpu()
        if int(counts[_NONFINITE_HI:].sum()):
            raise ValueError(f"non-finite change in parameter '{name}': training diverged")
        hist += counts
    bucket, need = _split(hist, k)
    # one more scan: the positions at or above the threshold bucket (about K of them), in order; from here
    # on everything is O(K)
    kept = {name: _at_or_above(high.pop(name), bucket, *flats[name]) for name in names}
    low_hist = torch.zeros(_LO_BINS, dtype=torch.int64)
    for positions, in_bucket, bits in kept.values():
        low_hist += torch.bincount(bits & 0xFFFF, minlength=_LO_BINS).cpu()
    low, quota = _split(low_hist, need)
    threshold = (bucket << 16) | low
    selected = {}
    for name in names:
        positions, in_bucket, bits = kept.pop(name)
        take = bits > threshold
        ties = torch.nonzero(bits == threshold).squeeze(1)[:quota]
        take[ties] = True
        quota -= ties.numel()
        keep = ~in_bucket
        keep[in_bucket] = take
        selected[name] = positions[keep].cpu()
    return selected


def _high_bits(cur: torch.Tensor, ref: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """High 16 bits of the float32 pattern of ``|cur - ref|``, as int16, chunk by chunk."""
    out = torch.empty(cur.numel(), dtype=torch.int16, device=cur.device)
    for start in range(0, cur.numel(), chunk_size):
        stop = min(start + chunk_size, cur.numel())
        delta = (cur[start:stop].float() - ref[start:stop].float()).abs_()
        out[start:stop] = delta.view(torch.int32) >> 16
    return out


def _at_or_above(high: torch.Tensor, bucket: int, cur: torch.Tensor, ref: torch.Tensor):
    """Positions whose high bits are >= ``bucket``, which of them are in the bucket, and the full bit
    patterns of ``|cur - ref|`` at those in the bucket."""
    positions = torch.nonzero(high >= bucket).squeeze(1)
    in_bucket = high.index_select(0, positions) == bucket
    inside = positions[in_bucket]
    delta = (cur.index_select(0, inside).float() - ref.index_select(0, inside).float()).abs_()
    return positions, in_bucket, delta.view(torch.int32)


def _split(hist: torch.Tensor, k: int) -> tuple[int, int]:
    """The bin holding the k-th largest item and how many items to take from it (the rest lie above)."""
    at_or_above = hist.flip(0).cumsum(0).flip(0)
    bin_ = int(torch.nonzero(at_or_above >= k).max())
    above = int(at_or_above[bin_ + 1]) if bin_ + 1 < hist.numel() else 0
    return bin_, k - above


def random_selection(numels: Mapping[str, int], k: int, seed: int) -> dict[str, torch.Tensor]:
    """RAND-SFT (§4.1): K positions drawn uniformly without replacement from all maskable entries."""
    names = sorted(numels)
    sizes = np.array([numels[name] for name in names], dtype=np.int64)
    total = int(sizes.sum())
    if not 0 <= k <= total:
        raise ValueError(f"cannot select K={k} of {total} parameters")
    picks = np.sort(np.random.default_rng(seed).choice(total, size=k, replace=False, shuffle=False))
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    cuts = np.searchsorted(picks, bounds)
    return {
        name: torch.from_numpy(picks[cuts[i] : cuts[i + 1]] - bounds[i]).long() for i, name in enumerate(names)
    }


def whole_tensors(numels: Mapping[str, int], names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Every position of the tensors ``names`` (BitFit's biases, full fine-tuning), none of the others."""
    names = set(names)
    return {name: torch.arange(n) if name in names else _empty() for name, n in sorted(numels.items())}


def _empty() -> torch.Tensor:
    return torch.zeros(0, dtype=torch.int64)

"""Compact storage of sorted flat indices: gaps between neighbours, written as LEB128 varints.

A sparse fine-tuning stores, per parameter tensor, the sorted flat positions it changes. Storing them as
int64 would cost 8 bytes each; the gaps between neighbours are small (a few hundred at the densities of
Ansell et al., footnote 4), so one or two bytes each suffice. Encoding and decoding are vectorised over
all indices (the only Python loop runs over the at most ten byte positions of a 64-bit varint).
"""

from __future__ import annotations

import numpy as np

#: a 64-bit value needs at most ten 7-bit groups
_MAX_BYTES = 10


def encode_gaps(gaps: np.ndarray) -> np.ndarray:
    """LEB128-encode non-negative integers: 7 bits a byte, low group first, high bit set on all but the last."""
    gaps = np.asarray(gaps, dtype=np.uint64)
    if gaps.size == 0:
        return np.zeros(0, dtype=np.uint8)
    nbytes = np.ones(gaps.shape, dtype=np.int64)
    for byte in range(1, _MAX_BYTES):
        nbytes += gaps >= np.uint64(1 << (7 * byte))
    starts = np.cumsum(nbytes) - nbytes
    out = np.empty(int(nbytes.sum()), dtype=np.uint8)
    for byte in range(int(nbytes.max())):
        present = nbytes > byte
        group = (gaps[present] >> np.uint64(7 * byte)) & np.uint64(0x7F)
        more = (nbytes[present] > byte + 1).astype(np.uint64) << np.uint64(7)
        out[starts[present] + byte] = (group | more).astype(np.uint8)
    return out


def decode_gaps(stream: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_gaps`; raises ``ValueError`` on a truncated or over-long varint."""
    stream = np.asarray(stream, dtype=np.uint8)
    if stream.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if stream[-1] & 0x80:
        raise ValueError("the index stream ends inside a varint (truncated)")
    ends = np.flatnonzero(stream < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if int(lengths.max()) > _MAX_BYTES:
        raise ValueError("the index stream holds a varint longer than 64 bits")
    gaps = np.zeros(ends.size, dtype=np.uint64)
    for byte in range(int(lengths.max())):
        present = lengths > byte
        group = (stream[starts[present] + byte] & 0x7F).astype(np.uint64)
        gaps[present] |= group << np.uint64(7 * byte)
    return gaps


def indices_to_gaps(indices: np.ndarray) -> np.ndarray:
    """Sorted, distinct indices -> gaps (the first index itself, then each difference minus one)."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return np.zeros(0, dtype=np.uint64)
    gaps = np.diff(indices, prepend=-1) - 1
    if gaps.min() < 0:
        raise ValueError("indices must be sorted, distinct and non-negative")
    return gaps.astype(np.uint64)


def gaps_to_indices(gaps: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Split a gap stream into segments of ``counts`` items and undo :func:`indices_to_gaps` in each."""
    counts = np.asarray(counts, dtype=np.int64)
    steps = np.asarray(gaps, dtype=np.int64) + 1
    running = np.cumsum(steps)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    offsets = np.concatenate(([0], running))[bounds[:-1]]
    return [running[bounds[i] : bounds[i + 1]] - offsets[i] - 1 for i in range(counts.size)]

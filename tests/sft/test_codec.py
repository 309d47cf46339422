import numpy as np
import pytest

from langtickets.sft.codec import decode_gaps, encode_gaps, gaps_to_indices, indices_to_gaps


def test_varints_round_trip_across_byte_boundaries():
    edges = [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**35, 2**63 - 1, 2**64 - 1]
    random = np.random.default_rng(0).integers(0, 2**40, 1000, dtype=np.uint64)
    gaps = np.concatenate([np.array(edges, dtype=np.uint64), random])
    stream = encode_gaps(gaps)
    assert stream.dtype == np.uint8
    np.testing.assert_array_equal(decode_gaps(stream), gaps)


def test_small_gaps_take_one_byte_each():
    assert encode_gaps(np.arange(128, dtype=np.uint64)).size == 128
    assert encode_gaps(np.array([128], dtype=np.uint64)).size == 2


def test_truncated_stream_is_rejected():
    stream = encode_gaps(np.array([5, 300], dtype=np.uint64))
    with pytest.raises(ValueError, match="truncated"):
        decode_gaps(stream[:-1])


def test_indices_split_back_into_segments():
    segments = [np.array([0, 3, 4, 1000]), np.array([], dtype=np.int64), np.array([7]), np.arange(5)]
    gaps = np.concatenate([indices_to_gaps(s) for s in segments])
    decoded = gaps_to_indices(decode_gaps(encode_gaps(gaps)), np.array([s.size for s in segments]))
    for original, back in zip(segments, decoded, strict=True):
        np.testing.assert_array_equal(original, back)


def test_unsorted_indices_are_rejected():
    with pytest.raises(ValueError, match="sorted"):
        indices_to_gaps(np.array([3, 3]))

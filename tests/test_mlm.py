"""mlm: BERT corruption (15%, 80/10/10) and [CLS] window [SEP] batches from token shards."""

from __future__ import annotations

import numpy as np
import torch

import pytest
from langtickets.errors import InputError
from langtickets.mlm import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_IDS, mask_tokens, mlm_batches
from tests.ticket_fixtures import VOCAB, make_shard, script_ids


def test_fifteen_percent_of_ordinary_positions_with_80_10_10_replacement():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (400, 100), generator=generator)
    ids[:, 0], ids[:, -1], ids[:, 50] = CLS_ID, SEP_ID, SEP_ID
    corrupted, labels = mask_tokens(ids, VOCAB, SPECIAL_IDS, generator)
    chosen = labels != -100
    assert torch.all(chosen.sum(1) == 15)  # round(0.15 * 97)
    assert not chosen[:, [0, 50, -1]].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])
    masked = (corrupted[chosen] == MASK_ID).float().mean()
    kept = (corrupted[chosen] == ids[chosen]).float().mean()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.015
    assert not torch.isin(corrupted[chosen & (corrupted != ids) & (corrupted != MASK_ID)],
                          torch.tensor(SPECIAL_IDS)).any()


def test_corruption_is_seeded_and_short_rows_still_get_a_label():
    ids = torch.tensor([[CLS_ID, 9, SEP_ID, PAD_ID], [CLS_ID, SEP_ID, PAD_ID, PAD_ID]])
    first = mask_tokens(ids, VOCAB, SPECIAL_IDS, torch.Generator().manual_seed(3))
    second = mask_tokens(ids, VOCAB, SPECIAL_IDS, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    labels = first[1]
    assert labels[0, 1] == 9 and (labels[1] == -100).all()  # one ordinary token -> chosen; none -> none


def test_batches_wrap_windows_in_cls_and_sep(tmp_path):
    shard = make_shard(tmp_path / "lat", "lat", script_ids(0, 500))
    batch = next(mlm_batches(shard, 16, 4, torch.Generator().manual_seed(0)))
    assert batch["input_ids"].shape == (4, 16)
    assert (batch["input_ids"][:, 0] == CLS_ID).all() and (batch["attention_mask"] == 1).all()
    original = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
    assert (original[:, -1] == SEP_ID).all()
    again = next(mlm_batches(shard, 16, 4, torch.Generator().manual_seed(0)))
    assert all(torch.equal(batch[key], again[key]) for key in batch)


def test_a_split_shorter_than_a_window_is_padded(tmp_path):
    shard = make_shard(tmp_path / "lat", "lat", script_ids(0, 500), valid=np.array([7, 8, 9], dtype=np.uint16))
    batch = next(mlm_batches(shard, 8, 2, torch.Generator().manual_seed(0), split="valid"))
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert batch["input_ids"][0, 4] == SEP_ID and (batch["input_ids"][0, 5:] == PAD_ID).all()


def test_empty_split_is_an_input_error(tmp_path):
    shard = make_shard(tmp_path / "lat", "lat", script_ids(0, 500), valid=np.zeros(0, dtype=np.uint16))
    with pytest.raises(InputError, match="valid split holds no tokens"):
        next(mlm_batches(shard, 8, 2, torch.Generator(), split="valid"))

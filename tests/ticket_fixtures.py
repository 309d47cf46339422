"""Tiny models, token shards and tickets shared by the model/masks/tickets/flops/export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from langtickets.io import write_json
from langtickets.masks import TicketMasks, TicketShape
from langtickets.model import ArchConfig, init_model
from langtickets.tokens import FORMAT, TokenShard

VOCAB = 120
LANGS = ("lat", "cyr", "cjk")  # three "scripts": disjoint id ranges, like text in different alphabets


def tiny_arch(layers: int = 2, hidden: int = 16, heads: int = 4, intermediate: int = 32) -> ArchConfig:
    return ArchConfig(vocab_size=VOCAB, hidden=hidden, layers=layers, heads=heads, intermediate=intermediate,
                      max_position=64)


def tiny_model(layers: int = 2, seed: int = 0, **kwargs) -> torch.nn.Module:
    return init_model(tiny_arch(layers, **kwargs), seed)


def script_ids(index: int, count: int, seed: int = 0) -> np.ndarray:
    """Ids of a made-up language: a Zipf-like draw from its own block of the vocabulary, with [SEP]s."""
    rng = np.random.default_rng(seed + index)
    low = 5 + index * 35
    ids = low + np.minimum(rng.zipf(1.5, size=count) - 1, 34)
    ids[rng.random(count) < 0.02] = 3  # document ends
    return ids.astype(np.uint16)


def make_shard(folder: Path, lang: str, train: np.ndarray, valid: np.ndarray | None = None) -> TokenShard:
    """A real token shard on disk (train.bin, valid.bin, meta.json) in the tokenize stage's format."""
    valid = train[:50] if valid is None else valid
    folder.mkdir(parents=True, exist_ok=True)
    train.astype("<u2").tofile(folder / "train.bin")
    valid.astype("<u2").tofile(folder / "valid.bin")
    split = lambda ids: {"documents": 1, "sentences": 1, "tokens": len(ids), "unk_tokens": 0, "unk_rate": 0.0}
    write_json(folder / "meta.json", {
        "format": FORMAT, "lang": lang, "dtype": "uint16", "byteorder": "little", "vocab_size": VOCAB,
        "tokenizer_sha256": "0" * 64, "special_ids": {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4},
        "files": {"train": "train.bin", "valid": "valid.bin"},
        "splits": {"train": split(train), "valid": split(valid)},
    })
    return TokenShard.open(folder)


def language_shards(folder: Path, count: int = 3000) -> dict[str, TokenShard]:
    return {lang: make_shard(folder / lang, lang, script_ids(i, count)) for i, lang in enumerate(LANGS)}


def random_masks(shape: TicketShape, langs=LANGS, density: float = 0.6, seed: int = 0) -> TicketMasks:
    generator = torch.Generator().manual_seed(seed)
    masks = {key: torch.rand(len(langs), units, generator=generator) < density for key, units in shape.layout().items()}
    return TicketMasks(tuple(langs), masks, shape, "random", {"name": "scaled", "vocab_size": VOCAB})


def mlm_batch(batch: int = 3, length: int = 12, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (batch, length), generator=generator)
    labels = torch.where(torch.rand(batch, length, generator=generator) < 0.3, ids, torch.full_like(ids, -100))
    labels[:, 1] = ids[:, 1]
    attention = torch.ones_like(ids)
    attention[-1, -3:] = 0
    return {"input_ids": ids, "attention_mask": attention, "labels": labels}

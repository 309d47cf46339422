"""BERT masked-language-model corruption and batches from token shards (Devlin et al., 2019, §3.1).

Used by the SNIP ticket search (Lee & Hwang, §3.2), pretraining and language sparse fine-tuning. Every
random choice comes from a caller-supplied :class:`torch.Generator`, so a seed fixes the batches exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from langtickets.errors import InputError

PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 1, 2, 3, 4
SPECIAL_IDS = (PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID)
IGNORE_INDEX = -100


def mask_tokens(
    input_ids: torch.Tensor,
    vocab_size: int,
    special_ids: Sequence[int] = SPECIAL_IDS,
    generator: torch.Generator | None = None,
    prob: float = 0.15,
    mask_id: int = MASK_ID,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT corruption of a ``[batch, length]`` id tensor; returns ``(corrupted ids, labels)``.

    In each row ``round(prob * n)`` of the ``n`` non-special positions (at least one when ``n > 0``) are
    chosen uniformly; of those 80% become ``mask_id``, 10% a random non-special token and 10% stay. Labels
    hold the original id at chosen positions and -100 elsewhere. An exact count per row (as in the original
    BERT data pipeline) rather than a Bernoulli draw guarantees every row contributes to the loss.
    """
    eligible = ~torch.isin(input_ids, torch.tensor(list(special_ids), dtype=input_ids.dtype))
    scores = torch.rand(input_ids.shape, generator=generator)
    scores[~eligible] = 2.0  # never among the lowest scores
    counts = eligible.sum(dim=1)
    quota = torch.where(counts > 0, (counts.double() * prob).round().long().clamp(min=1), counts)
    ranks = scores.argsort(dim=1, stable=True).argsort(dim=1, stable=True)
    chosen = ranks < quota[:, None]

    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    action = torch.rand(input_ids.shape, generator=generator)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[[i for i in special_ids if i < vocab_size]] = False
    candidates = allowed.nonzero().squeeze(1).to(input_ids.dtype)
    random_tokens = candidates[torch.randint(len(candidates), input_ids.shape, generator=generator)]
    corrupted = input_ids.clone()
    corrupted[chosen & (action < 0.8)] = mask_id
    replace = chosen & (action >= 0.8) & (action < 0.9)
    corrupted[replace] = random_tokens[replace]
    return corrupted, labels


def random_windows(
    tokens: np.ndarray, length: int, count: int, generator: torch.Generator, pad_id: int = PAD_ID
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random contiguous windows of ``length`` ids; returns ``(ids, valid)`` ``[count, length]``.

    A split shorter than ``length`` gives its whole content in every row, padded with ``pad_id`` (``valid``
    is False there).
    """
    total = len(tokens)
    take = min(length, total)
    starts = torch.randint(total - take + 1, (count,), generator=generator).tolist()
    ids = torch.full((count, length), pad_id, dtype=torch.long)
    for row, start in enumerate(starts):
        ids[row, :take] = torch.from_numpy(np.asarray(tokens[start : start + take], dtype=np.int64))
    valid = torch.zeros((count, length), dtype=torch.bool)
    valid[:, :take] = True
    return ids, valid


def shard_special_ids(shard: Any) -> tuple[int, int, int, int, int]:
    """``(pad, unk, cls, sep, mask)`` ids of a token shard: its meta.json's (an external model's tokenizer, e.g.
    XLM-R's ``<pad>=1 <s>=0``), else the fixed ids of train-vocab's vocabularies."""
    given = getattr(shard, "meta", {}).get("special_ids")
    if not given:
        return SPECIAL_IDS
    return tuple(int(given[role]) for role in ("pad", "unk", "cls", "sep", "mask"))


def mlm_batches(
    shard: Any,
    seq_len: int,
    batch_size: int,
    generator: torch.Generator,
    *,
    split: str = "train",
    vocab_size: int | None = None,
    prob: float = 0.15,
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless MLM batches ``[CLS] window [SEP]`` of ``seq_len`` ids from a token shard's split (special ids
    as the shard's meta.json records them).

    ``shard`` is a :class:`langtickets.tokens.TokenShard` (anything with ``.train``/``.valid`` id arrays and
    ``.meta['vocab_size']``). Windows are drawn here with ``generator`` (not ``TokenShard.windows``) so one
    torch generator drives windows and corruption, and a split shorter than a window is padded rather than
    refused (small validation splits). Yields dicts with ``input_ids``, ``attention_mask``, ``token_type_ids`` and
    ``labels`` ready for ``BertForMaskedLM(**batch)``.
    """
    tokens = getattr(shard, split)
    where = getattr(shard, "meta_path", "<token shard>")
    vocab_size = int(vocab_size if vocab_size is not None else shard.meta["vocab_size"])
    pad, unk, cls, sep, mask = shard_special_ids(shard)
    if len(tokens) == 0:
        raise InputError(where, f"the {split} split holds no tokens",
                         "tokenize more text for this language or drop it from the config")
    if seq_len < 3:
        raise InputError("<mlm>", f"sequence length {seq_len} leaves no room for text", "use --seq-len >= 3")
    while True:
        window, valid = random_windows(tokens, seq_len - 2, batch_size, generator, pad)
        lengths = valid.sum(dim=1)
        ids = torch.full((batch_size, seq_len), pad, dtype=torch.long)
        ids[:, 0] = cls
        ids[:, 1 : seq_len - 1] = window
        ids[torch.arange(batch_size), lengths + 1] = sep
        attention = torch.arange(seq_len)[None, :] < (lengths + 2)[:, None]
        corrupted, labels = mask_tokens(ids, vocab_size, (pad, unk, cls, sep, mask), generator, prob, mask)
        yield {
            "input_ids": corrupted,
            "attention_mask": attention.long(),
            "token_type_ids": torch.zeros_like(ids),
            "labels": labels,
        }

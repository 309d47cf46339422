"""Inference FLOPs per token of dense models and of each language's ticket (the FLOPS(M) column, Tables 1-4).

Counting conventions (one token, sequence length ``seq_len``; a multiply-add (MAC) = 2 FLOPs):

* per layer, with ``q``, ``v``, ``w`` the active units of mu_q, mu_v, mu_w (all units for a dense model) and
  ``H`` the hidden size: projections Q and K ``H*q`` each, V ``H*v``, W0 ``v*H``, W1 ``H*w``, W2 ``w*H``;
  attention scores ``seq_len*q`` (the token's query against every key over the active dimensions) and the
  context ``seq_len*v``;
* the MLM head (dense transform ``H*H`` and decoder ``H*vocab``) is reported separately and is the same for
  every ticket; embedding look-ups, biases, LayerNorm, softmax, GELU and residual additions are not counted
  (element-wise work, conventionally left out).

With every mask at 1 the ticket count equals the dense count exactly. The counts agree with
:class:`torch.utils.flop_counter.FlopCounterMode` on an eager forward pass (see tests/test_flops.py).
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langtickets.errors import ConfigError
from langtickets.io import atomic_path
from langtickets.masks import TicketMasks, TicketShape

FIELDS = ["arch", "method", "lang", "seq_len", "encoder_macs", "head_macs", "encoder_mflops", "total_mflops"]


@dataclass(frozen=True)
class FlopCount:
    """Multiply-adds per token of the encoder and of the MLM head."""

    encoder_macs: int
    head_macs: int

    @property
    def total_flops(self) -> int:
        return 2 * (self.encoder_macs + self.head_macs)

    @property
    def encoder_flops(self) -> int:
        return 2 * self.encoder_macs


def layer_macs(hidden: int, q: int, v: int, w: int, seq_len: int) -> int:
    """MACs per token of one layer with ``q``/``v``/``w`` active units."""
    return hidden * (2 * q + 2 * v + 2 * w) + seq_len * (q + v)


def active_units(masks: TicketMasks, lang: str) -> list[tuple[int, int, int]]:
    """``[(q, v, w)]`` active units per layer of ``lang``'s ticket."""
    ticket = masks.for_language(lang)
    return [
        tuple(int(ticket[f"layer.{i}.{kind}"].sum()) for kind in ("mu_q", "mu_v", "mu_w"))
        for i in range(masks.shape.layers)
    ]


def count_flops(
    shape: TicketShape, seq_len: int, vocab_size: int, active: Sequence[tuple[int, int, int]] | None = None
) -> FlopCount:
    """FLOPs per token of a model of ``shape``; ``active`` = per-layer active units (None = dense)."""
    if active is None:
        active = [(shape.hidden, shape.hidden, shape.intermediate)] * shape.layers
    if len(active) != shape.layers:
        raise ConfigError(f"{len(active)} layers of active units for a {shape.layers}-layer model")
    encoder = sum(layer_macs(shape.hidden, q, v, w, seq_len) for q, v, w in active)
    head = shape.hidden * shape.hidden + shape.hidden * vocab_size
    return FlopCount(encoder, head)


def _row(arch: str, method: str, lang: str, seq_len: int, count: FlopCount) -> dict[str, Any]:
    return {"arch": arch, "method": method, "lang": lang, "seq_len": seq_len,
            "encoder_macs": count.encoder_macs, "head_macs": count.head_macs,
            "encoder_mflops": f"{count.encoder_flops / 1e6:.3f}", "total_mflops": f"{count.total_flops / 1e6:.3f}"}


def flops_rows(
    archs: dict[str, Any], masks: Sequence[TicketMasks], seq_len: int
) -> list[dict[str, Any]]:
    """Table rows: each dense architecture, then each ticket file per language and its mean over languages."""
    rows = [
        _row(name, "dense", "all", seq_len, count_flops(TicketShape.of_arch(arch), seq_len, arch.vocab_size))
        for name, arch in archs.items()
    ]
    for ticket in masks:
        vocab_size = int(ticket.arch.get("vocab_size", 0))
        name = str(ticket.arch.get("name", "model"))
        counts = [
            count_flops(ticket.shape, seq_len, vocab_size, active_units(ticket, lang)) for lang in ticket.languages
        ]
        rows += [_row(name, ticket.method, lang, seq_len, c) for lang, c in zip(ticket.languages, counts)]
        mean = FlopCount(round(sum(c.encoder_macs for c in counts) / len(counts)), counts[0].head_macs)
        rows.append(_row(name, ticket.method, "mean", seq_len, mean))
    return rows


def write_rows(rows: list[dict[str, Any]], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets flops", description="FLOPs per token of models and tickets.")
    parser.add_argument("--archs", type=Path, nargs="*", default=[], help="arch.json files or model folders")
    parser.add_argument("--masks", type=Path, nargs="*", default=[], help="masks.safetensors files")
    parser.add_argument("--seq-len", type=int, default=128, help="sequence length of the attention products")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary
    from langtickets.model import read_arch

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    archs = dict(read_arch(path) for path in args.archs)
    rows = flops_rows(archs, [TicketMasks.load(path) for path in args.masks], args.seq_len)
    write_rows(rows, args.out)
    summary("flops", started, rows=len(rows), seq_len=args.seq_len)
    return 0

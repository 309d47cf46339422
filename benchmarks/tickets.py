"""Costs of the ticket machinery, as ratios to the plain dense model of the same shape.

1. SNIP search / plain forward+backward over the same batches (goal <= 0.9): the search freezes the
   weights, so backward computes activation gradients and dL/dm only, never weight gradients.
2. Masked pretraining step / dense step (forward, backward, AdamW; goal <= 1.1): the hooks add one
   element-wise multiply per masked projection and a per-batch language switch.
3. An exported ticket (masked units removed) against the masked model: measured speed-up next to the
   FLOPs ratio, and its time next to the dense base model (eta_0 layers) the ticket is sized like.

Timings alternate between the variants and keep the best of ``--repeats`` rounds; on CPU they are the
process's CPU time with ``--threads`` threads (default 1), so load from other processes on a shared machine
disturbs the ratios less; on CUDA, wall time after synchronising. Synthetic token ids; nothing is written.

    python benchmarks/tickets.py                      # CPU-sized BERT (hidden 256, 3 -> 4 layers)
    python benchmarks/tickets.py --hidden 768 --heads 12 --intermediate 3072 --layers 12 --scaled-layers 16 \
        --vocab 119547 --batch-size 32 --device cuda  # BERT-base scale on a GPU
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import torch

from langtickets.export import export_ticket
from langtickets.flops import active_units, count_flops
from langtickets.masks import MaskSwitch, TicketShape
from langtickets.mlm import mlm_batches
from langtickets.optim import FrozenUnits
from langtickets.model import ArchConfig, architectures, init_model
from langtickets.tickets import random_scores, select_tickets, snip_scores

LANGS = ("l0", "l1", "l2", "l3")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_of(functions: dict[str, Callable[[], None]], repeats: int, device: torch.device) -> dict[str, float]:
    """Best time of each function over ``repeats`` alternating rounds (after one warm-up round)."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    best = {name: float("inf") for name in functions}
    for round_ in range(repeats + 1):
        for name, function in functions.items():
            _sync(device)
            start = clock()
            function()
            _sync(device)
            if round_:
                best[name] = min(best[name], clock() - start)
    return best


def shard(vocab: int, tokens: int, seed: int) -> SimpleNamespace:
    ids = np.random.default_rng(seed).integers(5, vocab, tokens).astype(np.uint32)
    return SimpleNamespace(train=ids, valid=ids[:1000], meta={"vocab_size": vocab})


def batches(data: SimpleNamespace, args: argparse.Namespace, count: int, device: torch.device) -> list[dict]:
    stream = mlm_batches(data, args.seq_len, args.batch_size, torch.Generator().manual_seed(0))
    return [{k: v.to(device) for k, v in next(stream).items()} for _ in range(count)]


def plain_backward(model: torch.nn.Module, data: list[dict]) -> None:
    for batch in data:
        model.zero_grad(set_to_none=True)
        (model(**batch).loss / len(data)).backward()


def bench_snip(model, data, args, device) -> float:
    batch_list = batches(data, args, args.snip_batches, device)
    tokens = args.snip_batches * args.batch_size * args.seq_len
    times = best_of({
        "snip": lambda: snip_scores(model, data, tokens, args.seq_len, args.batch_size, 0, progress=False),
        "plain": lambda: plain_backward(model, batch_list),
    }, args.repeats, device)
    return times["snip"] / times["plain"]


def train_steps(model, optimizer, data: list[dict], switch: MaskSwitch | None, frozen: FrozenUnits | None) -> None:
    """The pipeline's pretraining step: the batch's language selects the ticket and, for a ticketed model,
    AdamW leaves that language's masked units where they were (``masked_update: frozen``)."""
    for step, batch in enumerate(data):
        lang = LANGS[step % len(LANGS)]
        if switch is not None:
            switch.set(lang)
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        kept = frozen.snapshot(lang) if frozen is not None else None
        optimizer.step()
        if kept is not None:
            frozen.restore(kept)


def bench_training(model, masks, data, args, device) -> float:
    """Ticketed step (masks worn, frozen units restored) / dense step of the same model with no hooks at all."""
    batch_list = batches(data, args, args.train_steps, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    model.train()

    def masked() -> None:
        switch = MaskSwitch(model, masks)
        train_steps(model, optimizer, batch_list, switch, FrozenUnits(model, masks, optimizer))
        switch.remove()

    times = best_of({"masked": masked, "dense": lambda: train_steps(model, optimizer, batch_list, None, None)},
                    args.repeats, device)
    model.eval()
    return times["masked"] / times["dense"]


def forward(model, batch) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode():
            model(**batch)
    return run


def bench_export(model, base_model, masks, data, args, device) -> dict[str, float]:
    batch = {k: v for k, v in batches(data, args, 1, device)[0].items() if k != "labels"}
    pruned = export_ticket(model.cpu(), masks, LANGS[0]).to(device)
    model.to(device)
    switch = MaskSwitch(model, masks)
    switch.set(LANGS[0])
    times = best_of({"masked": forward(model, batch), "exported": forward(pruned, batch),
                     "base": forward(base_model, batch)}, args.repeats, device)
    switch.remove()
    vocab = model.config.vocab_size
    dense = count_flops(masks.shape, args.seq_len, vocab)
    ticket = count_flops(masks.shape, args.seq_len, vocab, active_units(masks, LANGS[0]))
    return {"speedup": times["masked"] / times["exported"], "flops_ratio": dense.total_flops / ticket.total_flops,
            "encoder_flops_ratio": dense.encoder_flops / ticket.encoder_flops,
            "exported_vs_base": times["exported"] / times["base"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--scaled-layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--snip-batches", type=int, default=4)
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (CPU timings are CPU time)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    base = ArchConfig(vocab_size=args.vocab, hidden=args.hidden, layers=args.layers, heads=args.heads,
                      intermediate=args.intermediate, max_position=max(512, args.seq_len))
    archs = architectures(base, args.scaled_layers)
    model, base_model = init_model(archs["scaled"], 0).to(device), init_model(archs["base"], 0).to(device)
    data = shard(args.vocab, 200_000, 0)
    shape = TicketShape.of_model(model)
    masks = select_tickets({lang: random_scores(shape, 0, lang) for lang in LANGS}, args.layers / args.scaled_layers,
                           shape, method="random", arch={"vocab_size": args.vocab})
    print(f"device={device} threads={torch.get_num_threads()} scaled model: {shape.describe()}, vocab {args.vocab}, "
          f"batch {args.batch_size} x {args.seq_len}, r={args.layers}/{args.scaled_layers}")
    snip, masked = bench_snip(model, data, args, device), bench_training(model, masks, data, args, device)
    print(f"SNIP search / plain forward+backward (goal <= 0.9):   {snip:.3f}")
    print(f"masked pretraining step / dense step (goal <= 1.1):    {masked:.3f}")
    result = bench_export(model, base_model, masks, data, args, device)
    print(f"exported ticket: measured speed-up {result['speedup']:.2f}x vs FLOPs ratio {result['flops_ratio']:.2f}x "
          f"(encoder only {result['encoder_flops_ratio']:.2f}x); "
          f"time / dense base model {result['exported_vs_base']:.2f}")


if __name__ == "__main__":
    main()

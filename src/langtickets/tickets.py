"""Ticket search: unit scores per language and one global top-r selection (Lee & Hwang, §3.2, Eq. 4-5).

Three scoring methods fill the same search space (:mod:`langtickets.masks`):

* ``snip`` (the paper's choice, input-adaptive): at the random initialisation every mask is a continuous
  variable m = 1 with ``requires_grad``; the weights are frozen, so backward computes only activation
  gradients and dL/dm, never weight gradients (this is what makes the search cheap). dL/dm of the MLM loss
  is accumulated over N tokens of the language (2.5M in §4.1): each batch's mean loss is divided by the
  number of batches and the gradients summed, as gradient accumulation does. The score of unit k is
  |dL/dm_k * m_k| (Eq. 4-5), i.e. |accumulated gradient| since m = 1. N counts input positions
  (batches x batch size x sequence length, [CLS]/[SEP] included).
* ``magnitude`` (input-invariant baseline, Table 3): the L1 norm of the weights a unit gates -- mu_q: its row
  of W_Q and of W_K; mu_v: its row of W_V and column of W_0; mu_w: its row of W_1 and column of W_2 (biases,
  zero at initialisation, are left out). Every unit of every kind gates 2 x hidden weights, so the norms are
  comparable. Identical for all languages.
* ``random`` (Tables 1-2, "random tickets"): uniform scores from a seed derived per language.

:func:`select_tickets` then normalises each language's scores per layer (footnote 4) and keeps one global
top r of units over all languages and layers (r = eta_0 / eta_s by default).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, dumps_json
from langtickets.masks import KINDS, METADATA_KEY, TicketMasks, TicketShape, find_bert_layers, install_mask_hooks
from langtickets.mlm import mlm_batches
from langtickets.seeding import derive_seed

METHODS = ("snip", "magnitude", "random")
NORMALIZATIONS = ("kind", "layer", "none")
Scores = dict[str, torch.Tensor]


def snip_scores(
    model: nn.Module, shard: Any, tokens: int, seq_len: int, batch_size: int, seed: int, *, progress: bool = True
) -> Scores:
    """SNIP scores |dL/dm * m| per unit at ``model``'s current weights, from ``tokens`` positions of ``shard``.

    The model is left as it was (training mode, ``requires_grad`` flags, no hooks).
    """
    shape = TicketShape.of_model(model)
    device = next(model.parameters()).device
    masks = {key: torch.ones(units, device=device, requires_grad=True) for key, units in shape.layout().items()}
    batches = mlm_batches(shard, seq_len, batch_size, torch.Generator().manual_seed(seed))
    n_batches = max(1, math.ceil(tokens / (seq_len * batch_size)))
    flags = {param: param.requires_grad for param in model.parameters()}
    was_training = model.training
    handles = install_mask_hooks(model, lambda key, output: masks[key].to(output.dtype))
    try:
        model.eval()  # no dropout: the score is a property of the initialisation and the text
        for param in flags:
            param.requires_grad_(False)
        for _ in tqdm(range(n_batches), desc="snip", unit="batch", disable=not progress):
            batch = {name: value.to(device) for name, value in next(batches).items()}
            (model(**batch).loss / n_batches).backward()
    finally:
        for handle in handles:
            handle.remove()
        for param, flag in flags.items():
            param.requires_grad_(flag)
        model.train(was_training)
    return {key: _snip_value(mask) for key, mask in masks.items()}


def _snip_value(mask: torch.Tensor) -> torch.Tensor:
    grad = mask.grad if mask.grad is not None else torch.zeros_like(mask)
    return (grad * mask).abs().detach().float().cpu()


def magnitude_scores(model: nn.Module) -> Scores:
    """Input-invariant scores: L1 norm of the weights each unit gates (see the module docstring)."""
    scores: Scores = {}
    with torch.no_grad():
        for i, layer in enumerate(find_bert_layers(model)):
            attention = layer.attention
            pairs = {
                "mu_q": (attention.self.query.weight.abs().sum(1), attention.self.key.weight.abs().sum(1)),
                "mu_v": (attention.self.value.weight.abs().sum(1), attention.output.dense.weight.abs().sum(0)),
                "mu_w": (layer.intermediate.dense.weight.abs().sum(1), layer.output.dense.weight.abs().sum(0)),
            }
            for kind in KINDS:
                first, second = pairs[kind]
                scores[f"layer.{i}.{kind}"] = (first + second).float().cpu()
    return scores


def random_scores(shape: TicketShape | Mapping[str, int], seed: int, lang: str) -> Scores:
    """Uniform random scores (the random-ticket baseline); the language enters the seed."""
    layout = shape.layout() if isinstance(shape, TicketShape) else dict(shape)
    generator = torch.Generator().manual_seed(derive_seed(seed, "random-ticket", lang))
    return {key: torch.rand(units, generator=generator) for key, units in layout.items()}


def normalize_scores(scores: Scores, shape: TicketShape, how: str = "kind") -> dict[str, torch.Tensor]:
    """Per-layer L2 normalisation of one language's scores (footnote 4, after Michel et al., 2019).

    ``kind``: each (layer, kind) vector is divided by its L2 norm -- each mask tensor of a layer, as in the
    authors' released code; ``layer``: the concatenated (mu_q; mu_v; mu_w) vector of a layer is divided by
    its L2 norm; ``none``: raw scores. A vector of zeros stays zero. Returns float64 tensors.
    """
    if how not in NORMALIZATIONS:
        raise ConfigError(f"unknown normalisation '{how}'; choose one of {', '.join(NORMALIZATIONS)}")
    out = {key: scores[key].double() for key in shape.layout()}
    if how == "none":
        return out
    groups = [[key] for key in out] if how == "kind" else [
        [f"layer.{i}.{kind}" for kind in KINDS] for i in range(shape.layers)
    ]
    for keys in groups:
        norm = math.sqrt(sum(float(out[key].pow(2).sum()) for key in keys))
        if norm > 0:
            for key in keys:
                out[key] = out[key] / norm
    return out


def select_tickets(
    scores_by_lang: Mapping[str, Scores],
    ratio: float,
    shape: TicketShape,
    *,
    normalize: str = "kind",
    method: str = "snip",
    arch: dict[str, Any] | None = None,
) -> TicketMasks:
    """Keep one global top-r of units over all languages, layers and kinds (§3.2 and footnote 4).

    Exactly ``floor(ratio * total + 0.5)`` units are kept, ``total`` summing units over languages. Equal
    normalised scores are broken by position -- layer, kind (q, v, w), unit index, then language order of
    ``scores_by_lang``; earlier wins. Ordering by unit before language means scores that are the same for
    every language (magnitude) give the same ticket to every language whenever ``ratio`` times the units
    of one model is a whole number, as it always is for r = eta_0 / eta_s.
    """
    if not 0 < ratio <= 1:
        raise ConfigError(f"ticket ratio must be in (0, 1], got {ratio}")
    languages = tuple(scores_by_lang)
    layout = shape.layout()
    for lang, scores in scores_by_lang.items():
        for key, units in layout.items():
            if key not in scores or scores[key].shape != (units,):
                raise ConfigError(f"scores of '{lang}' lack {key} with {units} units; recompute them for this model")
    table = torch.stack([  # (units, languages): flattening it puts the language last in the tie order
        torch.cat([normalized[key] for key in layout])
        for normalized in (normalize_scores(scores_by_lang[lang], shape, normalize) for lang in languages)
    ], dim=1)
    flat = table.reshape(-1)
    keep = min(flat.numel(), math.floor(ratio * flat.numel() + 0.5))
    order = torch.sort(flat, descending=True, stable=True).indices
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    chosen[order[:keep]] = True
    per_lang = chosen.view(table.shape).T
    masks, offset = {}, 0
    for key, units in layout.items():
        masks[key] = per_lang[:, offset : offset + units].contiguous()
        offset += units
    return TicketMasks(languages, masks, shape, method, dict(arch or {}))


def write_density(masks: TicketMasks, path: str | Path) -> None:
    """CSV with columns lang, layer, kind, kept, total, density (one row per language, layer and kind)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["lang", "layer", "kind", "kept", "total", "density"])
        writer.writeheader()
        for row in masks.density_rows():
            writer.writerow({**row, "density": f"{row['density']:.6f}"})


def save_scores(scores: Scores, path: str | Path, meta: dict[str, Any]) -> None:
    """Write one language's scores as safetensors (metadata under one key: reproducible bytes)."""
    tensors = {key: value.float().contiguous() for key, value in scores.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: dumps_json(meta)})


def load_scores(path: str | Path) -> tuple[Scores, dict[str, Any]]:
    """(scores, metadata) from a file written by :func:`save_scores`."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})[METADATA_KEY])
            scores = {key: handle.get_tensor(key) for key in handle.keys()}
    except FileNotFoundError:
        raise InputError(path, "score file not found", "run the snip_scores rule for this language") from None
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as error:
        raise InputError(path, f"not a ticket score file ({error})",
                         "pass files written by `langtickets snip-scores`") from None
    return scores, meta


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets snip-scores", description="Score ticket units of a language.")
    parser.add_argument("--model", type=Path, required=True, help="initialised model folder (init-model)")
    parser.add_argument("--tokens", type=Path, help="token shard folder of the language (needed for snip)")
    parser.add_argument("--lang", nargs="+", required=True,
                        help="language(s); the text-free baselines score several in one process")
    parser.add_argument("--method", choices=METHODS, default="snip")
    parser.add_argument("--tokens-budget", type=int, default=2_500_000, help="positions to accumulate over")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, required=True, help="config seed; per-language seeds derive from it")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', ...")
    parser.add_argument("--out", type=Path, nargs="+", required=True,
                        help="scores .safetensors to write, one per --lang")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return parser


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _scores_for(args: argparse.Namespace, model: torch.nn.Module, arch, lang: str) -> dict[str, torch.Tensor]:
    """Scores of one language by the chosen method."""
    if args.method == "magnitude":
        return magnitude_scores(model)
    if args.method == "random":
        return random_scores(TicketShape.of_arch(arch), args.seed, lang)
    if args.tokens is None:
        raise ConfigError("--method snip needs --tokens (the language's token shard folder)")
    from langtickets.tokens import TokenShard

    model.to(resolve_device(args.device))
    return snip_scores(model, TokenShard.open(args.tokens), args.tokens_budget, args.seq_len,
                       args.batch_size, derive_seed(args.seed, "snip-scores", lang))


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary
    from langtickets.model import load_model, read_arch

    args = _parser().parse_args(argv)
    if len(args.lang) != len(args.out):
        raise ConfigError(f"{len(args.lang)} --lang values but {len(args.out)} --out paths; give one output per language")
    if args.method == "snip" and len(args.lang) != 1:
        raise ConfigError("--method snip scores one language per process; give a single --lang")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    arch_name, arch = read_arch(args.model)
    model = load_model(args.model)
    for lang, out in zip(args.lang, args.out):
        scores = _scores_for(args, model, arch, lang)
        meta = {"lang": lang, "method": args.method, "arch_name": arch_name, "arch": arch.to_dict(),
                "tokens": args.tokens_budget if args.method == "snip" else 0, "seq_len": args.seq_len,
                "batch_size": args.batch_size, "seed": args.seed}
        save_scores(scores, out, meta)
    summary("snip-scores", started, langs=",".join(args.lang), method=args.method,
            units=sum(v.numel() for v in scores.values()))
    return 0

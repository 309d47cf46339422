"""Export one language's ticket as a physically smaller model (beyond the paper; cf. Lee & Hwang, §3.1).

The masked units are removed: Q and K keep only the rows of mu_q, V only the rows of mu_v (and W0 the matching
columns), W1/b1 the rows of mu_w (and W2 the matching columns). Heads end up with uneven sizes, so
:class:`PrunedBertForMaskedLM` handles per-head sizes itself: the active query/key (value) dimensions of each
head are gathered into a zero-padded ``[heads, max size]`` layout -- zero dimensions add nothing to a dot
product -- and attention runs with the original head size's scaling, so outputs equal the masked model's.
A head whose value units are all masked contributes nothing and is dropped; one whose query/key units are all
masked still attends uniformly, exactly as the masked model does.

On disk: ``config.json`` (architecture, language and per-head sizes) and ``model.safetensors``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from transformers.activations import ACT2FN

from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, read_json, write_json
from langtickets.masks import TicketMasks, find_bert_layers
from langtickets.model import ArchConfig

FORMAT = "langtickets-pruned-bert"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _split_sizes(mask: torch.Tensor, heads: int) -> list[int]:
    return [int(part.sum()) for part in mask.view(heads, -1)]


def _gather_index(sizes: Sequence[int], width: int, first: int) -> list[int]:
    """Columns of the fused projection giving a ``[len(sizes) * width]`` layout, padded with column 0."""
    index, offset = [], first
    for size in sizes:
        index += [offset + j if j < size else 0 for j in range(width)]
        offset += size
    return index


class PrunedAttention(nn.Module):
    """Self-attention with per-head query/key sizes ``q_sizes`` and value sizes ``v_sizes``.

    One fused projection computes ``[0; Q; K; V]`` (row 0 of its weight and bias is zero, the padding
    source); one gather lays every used head out at a common width, so query, key and value have equal
    head sizes and ``scaled_dot_product_attention`` can use its fused kernels.
    """

    def __init__(self, arch: ArchConfig, q_sizes: Sequence[int], v_sizes: Sequence[int]):
        super().__init__()
        self.scale = 1.0 / math.sqrt(arch.head_size)  # the original head size: scores equal the masked model's
        used = [h for h, size in enumerate(v_sizes) if size > 0]
        self.used_heads = len(used)
        q_used, v_used = [q_sizes[h] for h in used], [v_sizes[h] for h in used]
        self.width = max([1, *q_used, *v_used])
        packed_q, packed_v = sum(q_used), sum(v_used)
        self.qkv = nn.Linear(arch.hidden, 1 + 2 * packed_q + packed_v)
        self.output = nn.Linear(packed_v, arch.hidden)
        self.norm = nn.LayerNorm(arch.hidden, eps=arch.layer_norm_eps)
        index = (_gather_index(q_used, self.width, 1) + _gather_index(q_used, self.width, 1 + packed_q)
                 + _gather_index(v_used, self.width, 1 + 2 * packed_q))
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)
        keep = [h * self.width + j for h, size in enumerate(v_used) for j in range(size)]
        self.register_buffer("keep", torch.tensor(keep, dtype=torch.long), persistent=False)

    def forward(self, hidden: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        if self.used_heads == 0:
            return self.norm(self.output(hidden[..., :0]) + hidden)
        batch, length, _ = hidden.shape
        heads = self.qkv(hidden).index_select(-1, self.index).view(batch, length, 3, self.used_heads, self.width)
        q, k, v = (part.transpose(1, 2) for part in heads.unbind(2))  # each (B, heads, T, width)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=self.scale)
        packed = context.transpose(1, 2).reshape(batch, length, -1).index_select(-1, self.keep)
        return self.norm(self.output(packed) + hidden)


class PrunedLayer(nn.Module):
    def __init__(self, arch: ArchConfig, spec: dict[str, Any]):
        super().__init__()
        self.attention = PrunedAttention(arch, spec["q"], spec["v"])
        self.intermediate = nn.Linear(arch.hidden, spec["w"])
        self.activation = ACT2FN[arch.hidden_act]
        self.output = nn.Linear(spec["w"], arch.hidden)
        self.norm = nn.LayerNorm(arch.hidden, eps=arch.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        hidden = self.attention(hidden, attn_mask)
        return self.norm(self.output(self.activation(self.intermediate(hidden))) + hidden)


class PrunedBertForMaskedLM(nn.Module):
    """A BERT MLM for one language with its ticket's masked units physically removed (inference only)."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config
        arch = self.arch = ArchConfig.from_dict(config["arch"])
        self.word = nn.Embedding(arch.vocab_size, arch.hidden)
        self.position = nn.Embedding(arch.max_position, arch.hidden)
        self.token_type = nn.Embedding(arch.type_vocab_size, arch.hidden)
        self.embed_norm = nn.LayerNorm(arch.hidden, eps=arch.layer_norm_eps)
        self.layers = nn.ModuleList(PrunedLayer(arch, spec) for spec in config["layers"])
        self.head_dense = nn.Linear(arch.hidden, arch.hidden)
        self.head_activation = ACT2FN[arch.hidden_act]
        self.head_norm = nn.LayerNorm(arch.hidden, eps=arch.layer_norm_eps)
        self.head_bias = nn.Parameter(torch.zeros(arch.vocab_size))  # decoder weight is tied to ``word``

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[batch, length, vocab]``."""
        length = input_ids.shape[1]
        positions = torch.arange(length, device=input_ids.device)
        token_type_ids = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        hidden = self.word(input_ids) + self.token_type(token_type_ids) + self.position(positions)[None]
        hidden = self.embed_norm(hidden)
        additive = None  # no padding: let attention use its fastest kernel
        if attention_mask is not None and not bool(attention_mask.all()):
            blocked = torch.finfo(hidden.dtype).min
            additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * blocked  # (B, 1, 1, T)
        for layer in self.layers:
            hidden = layer(hidden, additive)
        hidden = self.head_norm(self.head_activation(self.head_dense(hidden)))
        return F.linear(hidden, self.word.weight, self.head_bias)


def build_pruned(config: dict[str, Any]) -> PrunedBertForMaskedLM:
    """An uninitialised-weights model for ``config`` (its weights are copied or loaded right after)."""
    with warnings.catch_warnings():  # fully pruned matrices are empty: their random init is a no-op
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return PrunedBertForMaskedLM(config)


def _copy_linear(target: nn.Linear, source: nn.Linear, rows: torch.Tensor | None, cols: torch.Tensor | None) -> None:
    weight, bias = source.weight.detach(), source.bias.detach()
    if rows is not None:
        weight, bias = weight[rows], bias[rows]
    if cols is not None:
        weight = weight[:, cols]
    target.weight.copy_(weight)
    target.bias.copy_(bias)


def _copy_qkv(target: nn.Linear, source: nn.Module, q_rows: torch.Tensor, v_rows: torch.Tensor) -> None:
    """``[0; Q rows; K rows; V rows]`` into the fused projection (row 0 is the zero padding source)."""
    parts = [(source.query, q_rows), (source.key, q_rows), (source.value, v_rows)]
    target.weight.copy_(torch.cat([torch.zeros_like(target.weight[:1])] + [m.weight.detach()[r] for m, r in parts]))
    target.bias.copy_(torch.cat([torch.zeros_like(target.bias[:1])] + [m.bias.detach()[r] for m, r in parts]))


def _copy_norm(target: nn.LayerNorm, source: nn.LayerNorm) -> None:
    target.weight.copy_(source.weight.detach())
    target.bias.copy_(source.bias.detach())


def _layer_spec(ticket: dict[str, torch.Tensor], i: int, heads: int) -> dict[str, Any]:
    return {
        "q": _split_sizes(ticket[f"layer.{i}.mu_q"], heads),
        "v": _split_sizes(ticket[f"layer.{i}.mu_v"], heads),
        "w": int(ticket[f"layer.{i}.mu_w"].sum()),
    }


def _used_rows(mask: torch.Tensor, heads: int, v_mask: torch.Tensor) -> torch.Tensor:
    """Indices of active units in heads whose value units are not all masked."""
    head_used = v_mask.view(heads, -1).any(dim=1)
    return (mask.view(heads, -1) & head_used[:, None]).reshape(-1).nonzero().squeeze(1)


@torch.no_grad()
def export_ticket(model: nn.Module, masks: TicketMasks, lang: str) -> PrunedBertForMaskedLM:
    """Build ``lang``'s pruned model from a masked-ticket ``BertForMaskedLM``."""
    masks.check_model(model)
    if not hasattr(getattr(model, "cls", None), "predictions"):
        raise ConfigError(f"export needs a BertForMaskedLM, got {type(model).__name__}; export the MLM checkpoint")
    arch = ArchConfig.from_bert_config(model.config)
    ticket = masks.for_language(lang)
    layers = find_bert_layers(model)
    config = {"format": FORMAT, "version": 1, "lang": lang, "method": masks.method, "arch": arch.to_dict(),
              "layers": [_layer_spec(ticket, i, arch.heads) for i in range(arch.layers)]}
    pruned = build_pruned(config)
    embeddings = model.bert.embeddings
    pruned.word.weight.copy_(embeddings.word_embeddings.weight)
    pruned.position.weight.copy_(embeddings.position_embeddings.weight)
    pruned.token_type.weight.copy_(embeddings.token_type_embeddings.weight)
    _copy_norm(pruned.embed_norm, embeddings.LayerNorm)
    for i, (source, target) in enumerate(zip(layers, pruned.layers)):
        q_mask, v_mask, w_mask = (ticket[f"layer.{i}.{kind}"] for kind in ("mu_q", "mu_v", "mu_w"))
        q_rows, v_rows = _used_rows(q_mask, arch.heads, v_mask), _used_rows(v_mask, arch.heads, v_mask)
        w_rows = w_mask.nonzero().squeeze(1)
        attention = source.attention
        _copy_qkv(target.attention.qkv, attention.self, q_rows, v_rows)
        _copy_linear(target.attention.output, attention.output.dense, None, v_rows)
        _copy_norm(target.attention.norm, attention.output.LayerNorm)
        _copy_linear(target.intermediate, source.intermediate.dense, w_rows, None)
        _copy_linear(target.output, source.output.dense, None, w_rows)
        _copy_norm(target.norm, source.output.LayerNorm)
    head = model.cls.predictions
    _copy_linear(pruned.head_dense, head.transform.dense, None, None)
    _copy_norm(pruned.head_norm, head.transform.LayerNorm)
    pruned.head_bias.copy_(head.decoder.bias if head.decoder.bias is not None else head.bias)
    return pruned.eval()


def save_exported(
    model: PrunedBertForMaskedLM,
    out: str | Path,
    extra: dict[str, Any] | None = None,
    copy: Sequence[Path] = (),
) -> None:
    """Write ``config.json`` + ``model.safetensors`` (+ ``export.json`` with ``extra``, + ``copy``) atomically."""
    with atomic_path(out) as tmp:
        tmp.mkdir()
        write_json(tmp / "config.json", model.config)
        state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if extra is not None:
            write_json(tmp / "export.json", extra)
        for path in copy:
            shutil.copy(path, tmp / path.name)


def load_exported(path: str | Path) -> PrunedBertForMaskedLM:
    """Load a folder written by :func:`save_exported`."""
    path = Path(path)
    config_path = path / "config.json"
    if not config_path.is_file():
        raise InputError(path, "no config.json", "export the ticket with `langtickets export-ticket`")
    config = read_json(config_path)
    if config.get("format") != FORMAT:
        raise InputError(config_path, f"format is {config.get('format')!r}, not {FORMAT!r}",
                         "pass a folder written by `langtickets export-ticket`")
    model = build_pruned(config)
    model.load_state_dict(load_file(str(path / "model.safetensors")))
    return model.eval()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets export-ticket", description=export_ticket.__doc__)
    parser.add_argument("--model", type=Path, required=True, help="model folder the tickets were made for")
    parser.add_argument("--masks", type=Path, required=True, help="masks.safetensors")
    parser.add_argument("--lang", required=True)
    parser.add_argument("--seq-len", type=int, default=128, help="length of the check batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random check batch")
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    return parser


def time_forward(model: nn.Module, batch: dict[str, torch.Tensor], repeats: int = 5) -> float:
    """Median seconds of one inference forward pass (after one warm-up)."""
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(**batch)
            if batch["input_ids"].is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def check_export(
    model: nn.Module, masks: TicketMasks, pruned: PrunedBertForMaskedLM, lang: str, batch: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """Largest logit difference to the masked model, FLOPs ratio dense/ticket and measured speed-up."""
    from langtickets.flops import active_units, count_flops
    from langtickets.masks import apply_masks

    with torch.inference_mode(), apply_masks(model, masks, lang):
        expected = model(**batch).logits
        masked_seconds = time_forward(model, batch)
    with torch.inference_mode():
        diff = float((pruned(**batch) - expected).abs().max())
    seq_len = batch["input_ids"].shape[1]
    dense = count_flops(masks.shape, seq_len, pruned.arch.vocab_size)
    ticket = count_flops(masks.shape, seq_len, pruned.arch.vocab_size, active_units(masks, lang))
    return {"lang": lang, "seq_len": seq_len, "max_abs_diff": diff,
            "flops_ratio": dense.total_flops / ticket.total_flops,
            "speedup": masked_seconds / time_forward(pruned, batch)}


def check_batch(vocab_size: int, seq_len: int, batch_size: int, seed: int) -> dict[str, torch.Tensor]:
    """A random batch (the last two positions of the second row padded) to compare outputs on."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch_size, seq_len), generator=generator)
    attention = torch.ones_like(ids)
    if batch_size > 1 and seq_len > 2:
        attention[1, -2:] = 0
    return {"input_ids": ids, "attention_mask": attention, "token_type_ids": torch.zeros_like(ids)}


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary
    from langtickets.model import load_model

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    model, masks = load_model(args.model), TicketMasks.load(args.masks)
    pruned = export_ticket(model, masks, args.lang)
    batch = check_batch(pruned.arch.vocab_size, args.seq_len, 8, args.seed)
    report = check_export(model, masks, pruned, args.lang, batch)
    tokenizer_files = [args.model / name for name in TOKENIZER_FILES if (args.model / name).is_file()]
    deterministic = {key: report[key] for key in ("flops_ratio", "lang", "seq_len")}
    save_exported(pruned, args.out, {**deterministic, "max_abs_diff": f"{report['max_abs_diff']:.1e}"},
                  tokenizer_files)
    # Wall-clock numbers vary between runs, so they stay out of export.json (byte-identical on rerun).
    write_json(args.out / "timing.json", {"lang": args.lang, "seq_len": report["seq_len"],
                                          "measured_speedup": round(report["speedup"], 3),
                                          "flops_ratio": round(report["flops_ratio"], 4)})
    summary("export-ticket", started, lang=args.lang, max_abs_diff=f"{report['max_abs_diff']:.2e}",
            flops_ratio=f"{report['flops_ratio']:.3f}", measured_speedup=f"{report['speedup']:.2f}")
    return 0

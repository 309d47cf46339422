"""Model architectures and seeded random initialisation (Lee & Hwang, "Multilingual Lottery Tickets", §3.1, §4.1).

Three architectures come from one base configuration:

* ``base``   -- the dense baseline with eta_0 layers ("mBERT" in Tables 1-4);
* ``scaled`` -- the same width with eta_s layers, the model tickets are searched in (§3.1 "scale-then-search");
* ``wide``   -- eta_0 layers with hidden and intermediate sizes scaled by ``wide_factor`` (+10%: "mBERT scaled",
  Table 4). The wide hidden size is rounded to the nearest multiple of the number of heads (ties round up)
  so every head keeps an equal slice; the intermediate size is rounded to the nearest integer.

Models are built from a :class:`transformers.BertConfig` (never fetched from a hub) under a forked RNG seeded
by the caller, so the same seed gives bitwise-identical weights, and saved in the Hugging Face layout
(``save_pretrained``: ``config.json`` + ``model.safetensors``) with the tokenizer files and an ``arch.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig, BertForMaskedLM

from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, read_json, write_json
from langtickets.seeding import derive_seed

ARCH_NAMES = ("base", "scaled", "wide")
ARCH_FILE = "arch.json"


@dataclass(frozen=True)
class ArchConfig:
    """The only way to describe a model's shape; everything else is derived from it."""

    vocab_size: int
    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    max_position: int = 512
    dropout: float = 0.1
    attention_dropout: float = 0.1
    type_vocab_size: int = 2
    hidden_act: str = "gelu"
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden", "layers", "heads", "intermediate", "max_position"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model {name} must be a positive integer, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ConfigError(
                f"model hidden size {self.hidden} is not divisible by {self.heads} heads; "
                "choose a hidden size that is a multiple of the number of heads"
            )

    @property
    def head_size(self) -> int:
        return self.hidden // self.heads

    def to_bert_config(self) -> BertConfig:
        """The equivalent :class:`transformers.BertConfig`."""
        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            intermediate_size=self.intermediate,
            max_position_embeddings=self.max_position,
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.attention_dropout,
            type_vocab_size=self.type_vocab_size,
            hidden_act=self.hidden_act,
            initializer_range=self.initializer_range,
            layer_norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
        )

    @classmethod
    def from_bert_config(cls, config: BertConfig) -> ArchConfig:
        """Read the shape back from a Hugging Face config (e.g. of a model loaded from disk)."""
        return cls(
            vocab_size=config.vocab_size,
            hidden=config.hidden_size,
            layers=config.num_hidden_layers,
            heads=config.num_attention_heads,
            intermediate=config.intermediate_size,
            max_position=config.max_position_embeddings,
            dropout=config.hidden_dropout_prob,
            attention_dropout=config.attention_probs_dropout_prob,
            type_vocab_size=config.type_vocab_size,
            hidden_act=config.hidden_act,
            initializer_range=config.initializer_range,
            layer_norm_eps=config.layer_norm_eps,
            pad_token_id=config.pad_token_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = "<arch>") -> ArchConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(source, f"unknown architecture keys {unknown}", f"use only {sorted(known)}")
        return cls(**data)


def _round_to_multiple(value: float, multiple: int) -> int:
    """Nearest positive multiple of ``multiple`` (halves round up), so heads split the width evenly."""
    return max(multiple, int((value / multiple) + 0.5) * multiple)


def architectures(base: ArchConfig, scaled_layers: int, wide_factor: float = 1.1) -> dict[str, ArchConfig]:
    """The three architectures of §3.1 and Table 4: ``base`` (eta_0), ``scaled`` (eta_s) and ``wide`` (+10%)."""
    if scaled_layers < base.layers:
        raise ConfigError(
            f"scaled model has {scaled_layers} layers, fewer than the base model's {base.layers}; "
            "set model.scaled_layers >= model.layers"
        )
    if wide_factor <= 0:
        raise ConfigError(f"wide_factor must be positive, got {wide_factor}")
    wide = dataclasses.replace(
        base,
        hidden=_round_to_multiple(base.hidden * wide_factor, base.heads),
        intermediate=max(1, int(base.intermediate * wide_factor + 0.5)),
    )
    return {"base": base, "scaled": dataclasses.replace(base, layers=scaled_layers), "wide": wide}


def init_model(arch: ArchConfig, seed: int) -> BertForMaskedLM:
    """A randomly initialised :class:`BertForMaskedLM`; the same seed gives bitwise-identical weights.

    The global torch RNG is forked so initialising a model does not disturb the caller's random stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForMaskedLM(arch.to_bert_config())
    model.eval()
    return model


def save_model(
    model: BertForMaskedLM,
    out: str | Path,
    *,
    name: str,
    seed: int | None = None,
    tokenizer: str | Path | None = None,
) -> None:
    """Write ``model`` in the Hugging Face layout plus ``arch.json`` (and tokenizer files), atomically."""
    arch = ArchConfig.from_bert_config(model.config)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        model.save_pretrained(tmp)
        if tokenizer is not None:
            from langtickets.vocab import load_tokenizer

            load_tokenizer(tokenizer).save_pretrained(tmp)
        write_json(tmp / ARCH_FILE, {"name": name, "seed": seed, "arch": arch.to_dict()})


def read_arch(path: str | Path) -> tuple[str, ArchConfig]:
    """(name, architecture) from an ``arch.json`` file or a model folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / ARCH_FILE
    if not path.is_file():
        raise InputError(path, "architecture file not found", "build the model with `langtickets init-model`")
    data = read_json(path)
    return str(data.get("name", "model")), ArchConfig.from_dict(data["arch"], source=path)


def load_model(path: str | Path) -> BertForMaskedLM:
    """Load a model folder written by :func:`save_model` (or any local BERT MLM checkpoint)."""
    from transformers import AutoModelForMaskedLM

    if not (Path(path) / "config.json").is_file():
        raise InputError(path, "not a model folder (no config.json)", "pass a folder made by `langtickets init-model`")
    model = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
    model.eval()
    return model


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets init-model", description=init_model.__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tokenizer", type=Path, help="tokenizer.json; its vocabulary size sets the model's")
    source.add_argument("--vocab-size", type=int)
    parser.add_argument("--arch", choices=ARCH_NAMES, default="base", help="which of the three architectures")
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12, help="eta_0, layers of the base model")
    parser.add_argument("--scaled-layers", type=int, default=16, help="eta_s, layers of the scaled model")
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--intermediate", type=int, default=3072)
    parser.add_argument("--max-position", type=int, default=512)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--wide-factor", type=float, default=1.1, help="width factor of the 'wide' model")
    parser.add_argument("--seed", type=int, required=True, help="config seed; the init seed derives from it")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    vocab_size = args.vocab_size
    if args.tokenizer is not None:
        from langtickets.vocab import load_tokenizer

        vocab_size = len(load_tokenizer(args.tokenizer))
    base = ArchConfig(
        vocab_size=vocab_size, hidden=args.hidden, layers=args.layers, heads=args.heads,
        intermediate=args.intermediate, max_position=args.max_position,
        dropout=args.dropout, attention_dropout=args.dropout,
    )
    arch = architectures(base, args.scaled_layers, args.wide_factor)[args.arch]
    seed = derive_seed(args.seed, "init-model", args.arch)
    model = init_model(arch, seed)
    save_model(model, args.out, name=args.arch, seed=seed, tokenizer=args.tokenizer)
    params = sum(p.numel() for p in model.parameters())
    summary("init-model", started, arch=args.arch, layers=arch.layers, hidden=arch.hidden, params=params)
    return 0

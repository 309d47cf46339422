"""pretrain: multilingual masked-LM pretraining, dense or with language tickets (Lee & Hwang, §3.3, §4.1).

One variant per run (:data:`VARIANTS`): ``dense`` (eta_0 layers, "mBERT"), ``scaled`` (eta_s layers), ``wide``
(+10% width, "mBERT scaled" of Table 4) and ``ticket-{snip,magnitude,random}`` (the scaled model where each
batch runs through its language's ticket). Following §4.1 (BERT's recipe): one language per batch, drawn
with exponential smoothing (alpha 0.7); MLM with 15% of positions chosen, 80/10/10; AdamW (lr 1e-4,
betas 0.9/0.999, weight decay 0.01 except biases and LayerNorm); linear warm-up then linear decay;
sequence length 128 for the first 90% of the steps and 512 for the rest.

Every step is a pure function of (state, step): its language, windows, MLM corruption and dropout come from
seeds derived from ``(seed, step)``, so a run killed and resumed from a checkpoint ends with the same
weights as one never interrupted. With several processes (``accelerate launch``) every process builds the
same global batch and trains on its own slice of rows; the loss is normalised by the global number of
masked tokens, so the update does not depend on the process count.

Ticketed training, ``--masked-update frozen`` (default): masked units get no gradient from their
language's batches (the mask zeroes their outputs), but AdamW would still move them through its momentum
and weight decay; ``frozen`` keeps their weights and AdamW moments unchanged by that language's step
(:class:`langtickets.optim.FrozenUnits`), ``adamw`` is plain AdamW.

The interference measurements of §3.3 run alongside (:mod:`langtickets.interference`). The training loop
lives in :mod:`langtickets.pretrain_loop`; this module stays free of torch so the workflow can read
:data:`VARIANTS` cheaply.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langtickets.errors import ConfigError

#: variant -> (architecture of the init model, ticket method or None for a dense model). The ``-base``
#: variants wear tickets searched in the unscaled model (Figure 3's controlled comparison, r = 0.85).
VARIANTS: dict[str, tuple[str, str | None]] = {
    "dense": ("base", None),
    "scaled": ("scaled", None),
    "wide": ("wide", None),
    "ticket-snip": ("scaled", "snip"),
    "ticket-magnitude": ("scaled", "magnitude"),
    "ticket-random": ("scaled", "random"),
    "ticket-snip-base": ("base", "snip"),
    "ticket-magnitude-base": ("base", "magnitude"),
    "ticket-random-base": ("base", "random"),
}
MASKED_UPDATES = ("frozen", "adamw")


def variant_spec(variant: str) -> tuple[str, str | None]:
    """``(arch, method or None)`` of a variant name."""
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ConfigError(f"unknown pretraining variant '{variant}'; choose one of {', '.join(VARIANTS)}") from None


@dataclass(frozen=True)
class PretrainConfig:
    """Everything a pretraining run needs, as given on the command line."""

    variant: str
    init: Path
    tokens: tuple[Path, ...]
    langs: tuple[str, ...]
    out_dir: Path
    steps: int
    batch_size: int
    masks: Path | None = None
    checkpoint_dir: Path | None = None
    lr: float = 1e-4
    warmup: int = 10_000
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-6
    max_grad_norm: float = 1.0
    seq_len_short: int = 128
    seq_len_long: int = 512
    long_fraction: float = 0.1
    alpha: float = 0.7
    mlm_probability: float = 0.15
    masked_update: str = "frozen"
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    clean_checkpoints: bool = False
    uc_layers: tuple[int, ...] | None = None
    uc_steps: tuple[int, ...] = ()
    gc_every: int = 0
    gc_batch_size: int = 8
    gc_langs: tuple[str, ...] | None = None
    eval_batches: int = 4
    eval_batch_size: int = 8
    eval_seq_len: int | None = None
    seed: int = 0
    device: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        _arch, method = variant_spec(self.variant)
        if (method is None) != (self.masks is None):
            need = "needs --masks (the ticket masks.safetensors)" if method else "is dense: drop --masks"
            raise ConfigError(f"variant '{self.variant}' {need}")
        if len(self.tokens) != len(self.langs) or len(set(self.langs)) != len(self.langs):
            raise ConfigError(f"give one --tokens folder per language, each language once "
                              f"({len(self.tokens)} folders for languages {list(self.langs)})")
        for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.masked_update not in MASKED_UPDATES:
            raise ConfigError(f"--masked-update must be one of {MASKED_UPDATES}, got '{self.masked_update}'")
        if self.warmup < 0 or self.gc_every < 0 or self.eval_batches < 0:
            raise ConfigError("--warmup, --gc-every and --eval-batches must not be negative")
        unknown = sorted(set(self.gc_langs or ()) - set(self.langs))
        if unknown:
            raise ConfigError(f"--gc-langs {unknown} are not among --langs {list(self.langs)}")

    @property
    def arch(self) -> str:
        return variant_spec(self.variant)[0]

    @property
    def checkpoints(self) -> Path:
        return self.checkpoint_dir or self.out_dir / "checkpoints"

    def fingerprint(self) -> dict[str, Any]:
        """The settings a checkpoint must share with this run to be resumed (not paths, not evaluation)."""
        skip = {"init", "tokens", "out_dir", "masks", "checkpoint_dir", "checkpoint_every", "keep_checkpoints",
                "clean_checkpoints", "eval_batches", "eval_batch_size", "eval_seq_len", "device", "threads"}
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.replace(",", " ").split()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="langtickets pretrain", description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", required=True, choices=list(VARIANTS))
    p.add_argument("--init", type=Path, required=True, help="initial model folder of the variant's architecture")
    p.add_argument("--tokens", type=Path, nargs="+", required=True,
                   help="token shard folder (or its meta.json) per language")
    p.add_argument("--langs", nargs="+", required=True, help="languages, in the order of --tokens")
    p.add_argument("--masks", type=Path, help="ticket masks.safetensors (ticket-* variants only)")
    p.add_argument("--out-dir", type=Path, required=True, help="results/pretrain/{variant}")
    p.add_argument("--checkpoint-dir", type=Path, help="default: OUT_DIR/checkpoints")
    p.add_argument("--steps", type=int, required=True, help="optimiser updates")
    p.add_argument("--batch-size", type=int, required=True, help="global batch (split over processes)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=10_000, help="linear warm-up steps")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.999))
    p.add_argument("--adam-eps", type=float, default=1e-6)
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (0 = off)")
    p.add_argument("--seq-len-short", type=int, default=128)
    p.add_argument("--seq-len-long", type=int, default=512)
    p.add_argument("--long-fraction", type=float, default=0.1, help="share of the last steps at the long length")
    p.add_argument("--alpha", type=float, default=0.7, help="exponential smoothing of language sampling")
    p.add_argument("--mlm-probability", type=float, default=0.15)
    p.add_argument("--masked-update", choices=MASKED_UPDATES, default="frozen",
                   help="frozen: units masked for the batch's language keep weights and AdamW moments")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--keep-checkpoints", type=int, default=2, help="newest checkpoints kept while training")
    p.add_argument("--clean-checkpoints", action="store_true", help="delete the checkpoints after success")
    p.add_argument("--uc-layers", default="all", help="layers measured by uc/gc: 'all', 'none' or indices")
    p.add_argument("--uc-steps", type=int, nargs="*", default=[], help="steps with a uc snapshot (+ the last)")
    p.add_argument("--gc-every", type=int, default=0, help="measure gc (and uc for stability) every K steps")
    p.add_argument("--gc-batch-size", type=int, default=8)
    p.add_argument("--gc-langs", nargs="*", help="languages gc compares (default: all)")
    p.add_argument("--eval-batches", type=int, default=4, help="validation batches per language")
    p.add_argument("--eval-batch-size", type=int, default=8)
    p.add_argument("--eval-seq-len", type=int, default=0, help="sequence length of validation (0 = --seq-len-long)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--device", default="auto", help="'auto' (accelerate's choice) or 'cpu'")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    return p


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    layers = {"all": None, "none": ()}.get(args.uc_layers.strip().lower())
    if layers is None and args.uc_layers.strip().lower() != "all":
        layers = tuple(_int_list(args.uc_layers))
    values = {name: getattr(args, name) for name in PretrainConfig.__dataclass_fields__ if hasattr(args, name)}
    values.update(tokens=tuple(args.tokens), langs=tuple(args.langs), betas=tuple(args.betas), uc_layers=layers,
                  uc_steps=tuple(args.uc_steps), gc_langs=tuple(args.gc_langs) if args.gc_langs else None,
                  eval_seq_len=args.eval_seq_len or None)
    return PretrainConfig(**values)


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary
    from langtickets.pretrain_loop import Pretrainer

    config = config_from_args(_parser().parse_args(argv))
    started = time.perf_counter()
    trainer = Pretrainer(config)
    result = trainer.run()
    if trainer.is_main and config.clean_checkpoints:
        shutil.rmtree(config.checkpoints, ignore_errors=True)
    if trainer.is_main:
        summary("pretrain", started, **result)
    sys.stderr.flush()
    return 0

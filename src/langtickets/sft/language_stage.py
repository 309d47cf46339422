"""``langtickets language-sft``: a language SFT by masked language modelling (Ansell et al., §3.2, §4.2).

The pretrained MLM is fine-tuned on one language's token shard with the plan of §4.2: output embeddings
untied from the input embeddings and frozen, layer normalisation frozen, the encoder maskable, and the L1
pull towards theta0 (lambda 0.1) in both phases. K is spent on the encoder, as in the released LT-SFT code;
the MLM head's transform and output bias train fully and are stored whole (``--mlm-head maskable`` counts
them in K instead: in a small model they then take most of it, and transfer never uses them). A phase lasts
the lesser of ``--max-epochs`` epochs and ``--max-steps`` steps, at least ``--min-steps`` (§4.2: 100
epochs, 100,000 steps, minimum 30,000; batch 8, sequence length 256, AdamW at 5e-5 decayed linearly to 0).
Checkpoints are scored every ``--eval-every`` steps by the held-out MLM loss on fixed batches of the
shard's validation split; the lowest is kept.

One job trains every method asked for (``--methods``: LT-SFT, and the RAND-SFT / BitFit / full language
SFTs the baselines compose with) or, for the density sweep of §5.2, LT-SFTs at several densities
(``--densities``), so it pays the torch import once. Outputs per method ``{out_dir}/{method}.safetensors``
(per density ``d{density}.safetensors``) plus a JSON next to it: K, non-zeros, steps, the selected
checkpoints, the held-out loss of theta0 and of theta0 + phi, the ticket worn.

``--model`` is a pretraining variant's folder or any Hugging Face masked LM (``AutoModelForMaskedLM``: mBERT,
XLM-R), a local folder (offline) or a hub name; an external model's shard comes from ``tokenize --hf-tokenizer``
with its own tokenizer, checked against the model's.

Ticketed models (``--tickets language``): the language wears its own ticket throughout, so masked units get
no gradient and the SFT lives inside the language's subnetwork; ``--tickets dense`` trains on all units.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from langtickets.cli import summary
from langtickets.errors import ConfigError, InputError
from langtickets.io import write_json
from langtickets.masks import TicketMasks
from langtickets.mlm import mlm_batches
from langtickets.parallel import is_main_process
from langtickets.seeding import derive_seed
from langtickets.sft.cli import (
    METHODS,
    Budget,
    add_budget_arguments,
    add_runtime_arguments,
    fallback_from_args,
    format_density,
    setup_torch,
    ticket_for,
)
from langtickets.sft.lt_sft import bitfit, full_finetune, lt_sft, rand_sft
from langtickets.sft.params import ParameterPlan, language_sft_plan
from langtickets.sft.taskmodel import sft_summary
from langtickets.sft.training import LtSftConfig, training_steps
from langtickets.tasks.encoders import load_masked_lm
from langtickets.tasks.protocols import wearing
from langtickets.tokens import TokenShard, check_tokenizer

TRAINERS = {"lt-sft": lt_sft, "rand-sft": rand_sft, "bitfit": bitfit, "full": full_finetune}


@dataclass(frozen=True)
class LanguageSftSettings:
    """Everything a language-SFT job needs besides its inputs (defaults: §4.2)."""

    seed: int
    max_epochs: float = 100.0  # 0 = no limit in epochs
    max_steps: int = 100_000  # 0 = no limit in steps
    min_steps: int = 30_000
    batch_size: int = 8
    seq_len: int = 256
    lr: float = 5e-5
    l1: float = 0.1
    mlm_probability: float = 0.15
    eval_every: int = 1000  # 0 = only at the end of a phase
    eval_batches: int = 100
    mlm_head: str = "dense"  # the MLM head trains fully (released code) or its entries count in K ("maskable")
    tickets: str = "language"
    mask_fallback: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.mlm_head not in ("dense", "maskable"):
            raise ConfigError(f"--mlm-head must be dense or maskable, got {self.mlm_head!r}")
        if self.max_epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("give --max-epochs or --max-steps (a positive limit on a phase)")
        if self.batch_size < 1 or self.eval_batches < 1 or self.seq_len < 3:
            raise ConfigError("--batch-size and --eval-batches must be >= 1 and --seq-len >= 3")


class MlmStream:
    """Re-iterable MLM batches: each iteration restarts the same seeded stream, so both LT-SFT phases see
    the same data (``mlm_batches`` is endless; the training loop stops after its steps)."""

    def __init__(self, shard: TokenShard, settings: LanguageSftSettings, seed: int, vocab_size: int) -> None:
        self.shard, self.settings, self.seed, self.vocab_size = shard, settings, seed, vocab_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed)
        return mlm_batches(self.shard, self.settings.seq_len, self.settings.batch_size, generator,
                           vocab_size=self.vocab_size, prob=self.settings.mlm_probability)  # fmt: skip


@dataclass
class LanguageData:
    """One language's training stream, held-out batches and phase length."""

    lang: str
    shard: TokenShard
    train: MlmStream
    valid: list[dict[str, torch.Tensor]]
    steps: int
    meta: dict[str, Any] = field(default_factory=dict)


def open_shard(tokens: str | Path, lang: str, model_dir: Path, vocab_size: int) -> TokenShard:
    """The language's token shard, checked against the model's vocabulary and tokenizer (the folder's
    tokenizer.json, or for a hub model the tokenizer name the tokenize stage recorded)."""
    shard = TokenShard.open(tokens)
    if shard.meta.get("lang", lang) != lang:
        raise InputError(shard.meta_path, f"holds '{shard.meta['lang']}' tokens, not '{lang}'",
                         "pass the token folder of the language being adapted")  # fmt: skip
    if int(shard.meta["vocab_size"]) > vocab_size:
        raise InputError(shard.meta_path, f"ids go up to {shard.meta['vocab_size']} but the model has {vocab_size} "
                         "embeddings", "tokenize with the vocabulary the model was pretrained with")  # fmt: skip
    if (model_dir / "tokenizer.json").is_file():
        check_tokenizer(shard, model_dir)
    elif not model_dir.exists() and shard.meta.get("tokenizer_source", str(model_dir)) != str(model_dir):
        raise InputError(shard.meta_path, f"was tokenized with '{shard.meta['tokenizer_source']}', not with the "
                         f"tokenizer of '{model_dir}'", "tokenize with --hf-tokenizer set to the model")  # fmt: skip
    return shard


def max_positions(model: nn.Module) -> int:
    """Usable sequence length: RoBERTa-style embeddings number positions after the padding index (XLM-R: 514
    positions, 512 usable)."""
    embeddings = getattr(model.base_model, "embeddings", None)
    offset = getattr(embeddings, "padding_idx", None)
    limit = model.config.max_position_embeddings
    return limit - offset - 1 if isinstance(offset, int) and hasattr(embeddings, "position_embeddings") else limit


def language_data(shard: TokenShard, lang: str, settings: LanguageSftSettings, vocab_size: int) -> LanguageData:
    """Training stream, fixed validation batches and the phase length of §4.2's rule."""
    tokens_per_batch = settings.batch_size * (settings.seq_len - 2)
    per_epoch = max(1, math.ceil(len(shard.train) / tokens_per_batch))
    steps = training_steps(per_epoch, settings.max_epochs or None, settings.max_steps or None, settings.min_steps)
    train = MlmStream(shard, settings, derive_seed(settings.seed, "language-sft", lang, "train"), vocab_size)
    generator = torch.Generator().manual_seed(derive_seed(settings.seed, "language-sft", lang, "valid"))
    valid_stream = mlm_batches(shard, settings.seq_len, settings.batch_size, generator, split="valid",
                               vocab_size=vocab_size, prob=settings.mlm_probability)  # fmt: skip
    valid = list(itertools.islice(valid_stream, settings.eval_batches))
    meta = {"train_tokens": len(shard.train), "valid_tokens": len(shard.valid), "batches_per_epoch": per_epoch}
    return LanguageData(lang, shard, train, valid, steps, meta)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items()}


def mlm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**_to(batch, next(model.parameters()).device)).loss


def heldout_loss(model: nn.Module, batches: Sequence[dict[str, torch.Tensor]]) -> float:
    """Mean MLM loss over the fixed validation batches (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        losses = [float(mlm_loss(model, batch)) for batch in batches]
    model.train(was_training)
    return sum(losses) / len(losses)


def mlm_plan(model: nn.Module, mlm_head: str = "dense") -> ParameterPlan:
    """§4.2's plan (output embeddings untied and frozen, layer normalisation frozen) with K spent on the encoder
    only: the MLM head's transform and output bias train fully in both phases and are stored whole, as in the
    released LT-SFT code (its maskable parameters are the base model's). ``mlm_head="maskable"`` keeps them
    among the K (:func:`language_sft_plan` as is): in a small model they then take most of K."""
    plan = language_sft_plan(model)
    if mlm_head == "maskable":
        return plan
    prefix = f"{model.base_model_prefix}."
    return ParameterPlan(maskable=tuple(name for name in plan.maskable if name.startswith(prefix)),
                         dense=tuple(name for name in plan.maskable if not name.startswith(prefix)))  # fmt: skip


def train_one(model: nn.Module, data: LanguageData, method: str, budget: Budget, settings: LanguageSftSettings,
              notes: dict[str, str]):  # fmt: skip
    """One language SFT of ``method`` (the model is left at theta0); returns the SFT and its two losses."""
    k, density = budget.resolve(model.config.hidden_size, model.config.num_hidden_layers)
    config = LtSftConfig(
        phase1_steps=data.steps, phase2_steps=data.steps, k=k, density=density, lr=settings.lr,
        l1_phase1=settings.l1, l1_phase2=settings.l1, eval_every=settings.eval_every or None,
        higher_is_better=False, seed=derive_seed(settings.seed, "language-sft", data.lang, method),
        progress=settings.progress,
    )  # fmt: skip
    plan = mlm_plan(model, settings.mlm_head)

    def evaluate(current: nn.Module) -> float:
        return heldout_loss(current, data.valid)

    base_loss = heldout_loss(model, data.valid)
    sft = TRAINERS[method](model, mlm_loss, data.train, plan, config, evaluate=evaluate, kind="language",
                           notes=notes)  # fmt: skip
    sft.apply(model)
    sft_loss = heldout_loss(model, data.valid)
    sft.revert(model)
    return sft, {"base": round(base_loss, 6), "sft": round(sft_loss, 6)}


def _info(sft, data: LanguageData, budget: Budget, losses: dict, mask: str | None, settings: LanguageSftSettings,
          model_name: str) -> dict[str, Any]:  # fmt: skip
    notes = dict(sft.info.notes)
    selection = {key: notes[key] for key in sorted(notes) if key.startswith("phase")}
    described = {key: value for key, value in asdict(settings).items() if key not in ("progress", "seed")}
    return {"model": model_name, "lang": data.lang, "kind": "language", **sft_summary(sft),
            "budget": budget.describe(), "steps": data.steps, "selection": selection, "valid_loss": losses,
            "mask": mask, "data": data.meta, "seed": settings.seed, "settings": described}  # fmt: skip


def train_language_sfts(model_dir: str | Path, tokens: str | Path, lang: str, jobs: dict[Path, tuple[str, Budget]],
                        settings: LanguageSftSettings, model_name: str,
                        device: torch.device) -> list[dict]:  # fmt: skip
    """Train one SFT per ``jobs`` entry (output path -> (method, budget)); write each with its JSON."""
    model_dir = Path(model_dir)
    model = load_masked_lm(model_dir).to(device)
    shard = open_shard(tokens, lang, model_dir, model.config.vocab_size)
    if settings.seq_len > max_positions(model):
        raise ConfigError(f"--seq-len {settings.seq_len} exceeds the model's {max_positions(model)} positions; "
                          "lower it")  # fmt: skip
    masks_file = model_dir / "masks.safetensors"
    masks = TicketMasks.load(masks_file, model) if masks_file.is_file() else None
    mask = ticket_for(masks, lang, settings.tickets, settings.mask_fallback)
    data = language_data(shard, lang, settings, model.config.vocab_size)
    notes = {"lang": lang, "model": model_name, "encoder_prefix": f"{model.base_model_prefix}.",
             "mask": mask or "dense"}  # fmt: skip
    infos = []
    with wearing(model, masks, mask):
        for out, (method, budget) in jobs.items():
            sft, losses = train_one(model, data, method, budget, settings, notes)
            info = _info(sft, data, budget, losses, mask, settings, model_name)
            if is_main_process():  # data-parallel: every process holds the same SFT; one writes it
                sft.save(out)
                write_json(out.with_suffix(".json"), info)
            infos.append(info)
    return infos


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets language-sft", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True,
                        help="pretrained masked LM: a folder (results/pretrain/V/model) or a Hugging Face hub name")
    parser.add_argument("--model-name", required=True, help="the model's name in results (e.g. dense)")
    parser.add_argument("--lang", required=True)
    parser.add_argument("--tokens", type=Path, required=True, help="the language's token folder or its meta.json")
    parser.add_argument("--out-dir", type=Path, required=True,
                        help="writes {method}.safetensors (or d{density}.safetensors) and a .json beside each")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["lt-sft"])
    group = add_budget_arguments(parser)
    group.add_argument("--densities", type=float, nargs="+", help="density sweep (§5.2): LT-SFTs at these densities")
    defaults = LanguageSftSettings(seed=0)
    parser.add_argument("--max-epochs", type=float, default=defaults.max_epochs, help="0 = no limit in epochs")
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps, help="0 = no limit in steps")
    parser.add_argument("--min-steps", type=int, default=defaults.min_steps)
    for name in ("batch_size", "seq_len", "lr", "l1", "mlm_probability", "eval_every", "eval_batches"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(defaults, name)),
                            default=getattr(defaults, name))  # fmt: skip
    parser.add_argument("--mlm-head", choices=("dense", "maskable"), default=defaults.mlm_head,
                        help="the MLM head's transform and bias: trained fully (default) or among the K entries")
    add_runtime_arguments(parser)
    return parser


def jobs_from_args(args: argparse.Namespace) -> dict[Path, tuple[str, Budget]]:
    if args.densities:
        if len(set(args.densities)) != len(args.densities):
            raise ConfigError("a density is given twice in --densities")
        return {args.out_dir / f"d{format_density(d)}.safetensors": ("lt-sft", Budget(density=d))
                for d in args.densities}  # fmt: skip
    if len(set(args.methods)) != len(args.methods):
        raise ConfigError("a method is given twice in --methods")
    budget = Budget(args.k, args.density, args.reduction_factor)
    return {args.out_dir / f"{method}.safetensors": (method, budget) for method in args.methods}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    device = setup_torch(args.threads, args.device)
    settings = LanguageSftSettings(
        seed=args.seed, max_epochs=args.max_epochs, max_steps=args.max_steps, min_steps=args.min_steps,
        batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr, l1=args.l1,
        mlm_probability=args.mlm_probability, eval_every=args.eval_every, eval_batches=args.eval_batches,
        mlm_head=args.mlm_head, tickets=args.tickets, mask_fallback=fallback_from_args(args),
    )  # fmt: skip
    infos = train_language_sfts(args.model, args.tokens, args.lang, jobs_from_args(args), settings, args.model_name,
                                device)  # fmt: skip
    if not is_main_process():
        return 0
    summary("language-sft", started, model=args.model_name, lang=args.lang, sfts=len(infos),
            k=",".join(str(info["k"]) for info in infos), steps=infos[0]["steps"])  # fmt: skip
    return 0

"""Command-line options shared by ``subnetworks-imp`` and ``subnetworks-transfer``: the pretrained model,
the recipe, and each language's data as ``LANG=VALUE`` pairs, so one job can hold several languages::

    --task mlm --tokens qaa=results/tokens/qaa qac=results/tokens/qac
    --task ner --format qaa=bio qac=bio --train qaa=F qac=F --dev qaa=F qac=F [--repair-bio qaa] \\
        [--map-to-o qaa=DATE,TIME] [--data-language qaa=CODE]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from langtickets.analysis.imp_objectives import IMP_TASKS, MlmData, ObjectiveSettings
from langtickets.errors import ConfigError
from langtickets.tasks.finetune import TrainConfig

_TRAIN_FIELDS = ("batch_size", "lr", "epochs", "min_updates", "max_updates", "updates", "warmup_ratio",
                 "weight_decay", "max_grad_norm", "adam_eps", "eval_every", "eval_batch_size")  # fmt: skip


def pair(text: str) -> tuple[str, str]:
    """``LANG=VALUE`` -> ``(LANG, VALUE)``."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected LANG=VALUE (e.g. qaa=data/qaa/ner-train.txt), got {text!r}")
    return name, value


def add_objective_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, seeds, recipe and per-language data options."""
    parser.add_argument("--task", required=True, choices=IMP_TASKS)
    parser.add_argument("--model", required=True, help="pretrained model folder (results/pretrain/VARIANT/model)")
    parser.add_argument("--model-name", required=True, help="the model's name in the outputs (e.g. dense)")
    parser.add_argument("--runs", type=int, nargs="+", default=[0, 1, 2], help="run numbers (seeds); paper: 3")
    parser.add_argument("--seed", type=int, required=True, help="config seed; every run's seed derives from it")
    parser.add_argument("--device", default="auto", help="'auto' (a GPU when present), 'cpu' or 'cuda'")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    data = parser.add_argument_group("data (LANG=VALUE pairs)")
    data.add_argument("--tokens", type=pair, nargs="*", default=[], metavar="LANG=DIR", help="mlm: token folders")
    data.add_argument("--format", type=pair, nargs="*", default=[], metavar="LANG=FORMAT")
    for split in ("train", "dev"):
        data.add_argument(f"--{split}", type=pair, nargs="*", default=[], metavar="LANG=SOURCE")
    data.add_argument("--repair-bio", nargs="*", default=[], metavar="LANG", help="NER: read a stray I-X as B-X")
    data.add_argument("--map-to-o", type=pair, nargs="*", default=[], metavar="LANG=T1,T2", help="NER: types read as O")
    data.add_argument("--data-language", type=pair, nargs="*", default=[], metavar="LANG=CODE",
                      help="PAN-X prefix / NLI language column to require")  # fmt: skip
    recipe = parser.add_argument_group("recipe (defaults: the project's fine-tuning recipe)")
    defaults = TrainConfig()
    for name in _TRAIN_FIELDS:
        recipe.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(defaults, name)),
                            default=getattr(defaults, name))  # fmt: skip
    recipe.add_argument("--max-length", type=int, default=128, help="tasks: sub-words per example")
    recipe.add_argument("--head-dropout", type=float, default=0.1)
    mlm = MlmData()
    recipe.add_argument("--seq-len", type=int, default=mlm.seq_len, help="mlm: sequence length")
    recipe.add_argument("--mlm-probability", type=float, default=mlm.probability)
    recipe.add_argument("--eval-batches", type=int, default=mlm.eval_batches, help="mlm: validation batches")
    recipe.add_argument("--eval-sequences", type=int, default=mlm.eval_batch_size, help="mlm: sequences per batch")


def settings_from_args(args: argparse.Namespace) -> ObjectiveSettings:
    train = TrainConfig(**{name: getattr(args, name) for name in _TRAIN_FIELDS})
    mlm = MlmData(args.seq_len, args.mlm_probability, args.eval_batches, args.eval_sequences)
    return ObjectiveSettings(train, mlm, args.max_length, {"dropout": args.head_dropout}, args.device, args.seed)


def start(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (before any model is built)."""
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)


def _by_lang(pairs: Sequence[tuple[str, str]], flag: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for lang, value in pairs:
        if lang in found:
            raise ConfigError(f"language '{lang}' is given twice in {flag}; give it once")
        found[lang] = value
    return found


def dataset_specs(args: argparse.Namespace, langs: Sequence[str]) -> dict[str, Any]:
    """A :class:`~langtickets.tasks.spec.DatasetSpec` per language from the ``LANG=VALUE`` data flags."""
    from langtickets.tasks.spec import DatasetSpec

    formats, trains, devs = (_by_lang(getattr(args, name), f"--{name}") for name in ("format", "train", "dev"))
    filters, map_to_o = _by_lang(args.data_language, "--data-language"), _by_lang(args.map_to_o, "--map-to-o")
    specs = {}
    for lang in langs:
        if lang not in formats or lang not in trains or lang not in devs:
            raise ConfigError(f"language '{lang}' needs --format, --train and --dev entries ({lang}=...)")
        specs[lang] = DatasetSpec(
            args.task, formats[lang], {"train": trains[lang], "dev": devs[lang]},
            repair_bio=True if lang in args.repair_bio else None,
            map_to_o=tuple(t for t in map_to_o.get(lang, "").split(",") if t),
            language=filters.get(lang), name=f"the command line (language {lang})",
        )  # fmt: skip
    return specs


def objectives_from_args(args: argparse.Namespace, settings: ObjectiveSettings, langs: Sequence[str]) -> dict[str, Any]:
    """The objective of every language in ``langs`` (sharing one loaded model)."""
    from langtickets.analysis.imp_objectives import load_mlm_objectives, load_task_objectives

    if args.task == "mlm":
        tokens = _by_lang(args.tokens, "--tokens")
        missing = [lang for lang in langs if lang not in tokens]
        if missing:
            raise ConfigError(f"--task mlm needs --tokens for {missing} (LANG=results/tokens/LANG)")
        return load_mlm_objectives(args.model, {lang: tokens[lang] for lang in langs}, settings)
    return load_task_objectives(args.model, args.task, dataset_specs(args, langs), settings)

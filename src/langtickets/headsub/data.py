"""Command-line plumbing shared by the ``headsub-*`` stages: per-language data as ``LANG=VALUE`` pairs, the
training recipe's flags, and featurised UD splits for the parser.

Every language's data comes as pairs, so one job holds every language::

    --format qaa=conllu qab=conllu --train qaa=F qab=F --dev qab=F --test qab=F
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langtickets.errors import ConfigError
from langtickets.headsub.training import MetaRecipe, Recipe

SPLITS = ("train", "dev", "test")
_RECIPE = {"batch_size": int, "encoder_lr": float, "head_lr": float, "mask_lr": float, "weight_decay": float,
           "warmup_ratio": float, "max_grad_norm": float}  # fmt: skip
_META = {"episodes": int, "shots": int, "inner_steps": int, "inner_encoder_lr": float, "inner_head_lr": float,
         "outer_encoder_lr": float, "outer_head_lr": float}  # fmt: skip


def pair(text: str) -> tuple[str, str]:
    """``LANG=VALUE`` -> ``(LANG, VALUE)`` (an argparse type)."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected LANG=VALUE (e.g. qaa=resources/qaa/ud-train.conllu), got {text!r}")
    return name, value


def by_lang(pairs: Iterable[tuple[str, str]], flag: str) -> dict[str, str]:
    """``{lang: value}``; a language given twice is a :class:`ConfigError` naming the flag."""
    found: dict[str, str] = {}
    for lang, value in pairs:
        if lang in found:
            raise ConfigError(f"{flag} names '{lang}' twice; give one value per language")
        found[lang] = value
    return found


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data (LANG=VALUE pairs; UD CoNLL-U)")
    group.add_argument("--format", type=pair, nargs="*", default=[], metavar="LANG=FORMAT")
    for split in SPLITS:
        group.add_argument(f"--{split}", type=pair, nargs="*", default=[], metavar="LANG=FILE")


def dataset_specs(args: argparse.Namespace, needs: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``{lang: DatasetSpec}`` for dependency parsing; ``needs[lang]`` lists the splits it must have (the
    others are kept when given)."""
    from langtickets.tasks.spec import DatasetSpec

    formats = by_lang(args.format, "--format")
    files = {split: by_lang(getattr(args, split), f"--{split}") for split in SPLITS}
    specs = {}
    for lang, required in needs.items():
        absent = [split for split in required if lang not in files[split]]
        if absent:
            raise ConfigError(f"language '{lang}' needs --{' --'.join(absent)} {lang}=FILE")
        splits = {split: files[split][lang] for split in SPLITS if lang in files[split]}
        specs[lang] = DatasetSpec("dep", formats.get(lang, "conllu"), splits, name=f"the command line ({lang})")
    return specs


def read_records(specs: Mapping[str, Any]) -> dict[str, dict[str, list]]:
    """Every given split of every language (read before any model is loaded, so bad data fails fast)."""
    from langtickets.tasks.protocols import read_split

    return {lang: {split: read_split(spec, split) for split in spec.splits} for lang, spec in specs.items()}


def featurize_records(records: Mapping[str, Mapping[str, list]], specs: Mapping[str, Any], tokenizer: Any,
                      labels: Any, max_length: int) -> dict[str, dict[str, Any]]:  # fmt: skip
    from langtickets.tasks.evaluate import featurize

    return {lang: {split: featurize("dep", tokenizer, rows, labels, max_length, where=specs[lang].source(split))
                   for split, rows in splits.items()} for lang, splits in records.items()}  # fmt: skip


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """Recipe, MAML, parser-head and device flags (defaults: the paper's settings)."""
    group = parser.add_argument_group("recipe (Appendix A; Table 7)")
    for name, kind in {**_RECIPE, **_META}.items():
        default = getattr(Recipe(), name, None) if name in _RECIPE else getattr(MetaRecipe(), name)
        group.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default)
    group.add_argument("--eval-batch-size", type=int, default=64)
    group.add_argument("--max-length", type=int, default=128, help="sub-words per sentence")
    group.add_argument("--head-dropout", type=float, default=0.1)
    group.add_argument("--arc-dim", type=int, default=500)
    group.add_argument("--relation-dim", type=int, default=100)
    parser.add_argument("--device", default="auto", help="'auto' (a GPU when present), 'cpu' or 'cuda'")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def recipes(args: argparse.Namespace) -> tuple[Recipe, MetaRecipe]:
    return Recipe(**{k: getattr(args, k) for k in _RECIPE}), MetaRecipe(**{k: getattr(args, k) for k in _META})


def head_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"dropout": args.head_dropout, "arc_dim": args.arc_dim, "relation_dim": args.relation_dim}


def start_torch(args: argparse.Namespace) -> Any:
    """Apply ``--threads`` and return the torch device of ``--device``."""
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(args.device)

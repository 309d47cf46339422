"""``langtickets finetune``: fine-tune and evaluate pretrained models on downstream tasks.

Subcommands, one per protocol step (see :mod:`langtickets.tasks.protocols`)::

    finetune in-language --model DIR|HUB_NAME --model-name dense --task pos --lang de --format conllu \\
        --train F --dev F --test F --runs 0 1 2 3 4 --seed 1234 --out-dir results/eval/dense/pos/in-language/de
    finetune source      --model DIR --model-name dense --task ner --lang en --format conll2003 --train F --dev F \\
        --runs 0 1 --seed 1234 --out-dir results/finetune/dense/ner/en          # writes seed{run}/ task models
    finetune zero-shot   --task-models results/finetune/dense/ner/en --model-name dense --task ner \\
        --format masakhaner --repair-bio --map-to-o DATE --target ha=F ig=F --runs 0 1 --seed 1234 \\
        --out-dir results/eval/dense/ner/zero-shot                            # writes {lang}/seed{run}.json
    finetune few-shot    --task-models results/finetune/dense/ner/en --model-name dense --task ner --lang ha \\
        --format masakhaner --train F --test F --k 100 --updates 100 --runs 0 1 --seed 1234 --out-dir DIR

Metrics go to ``seed{run}.json`` (byte-identical on a CPU rerun); ``--timing`` writes wall-clock seconds
separately. Ticketed models wear the data language's ticket; ``--dense`` evaluates without masks, and
``--mask-fallback LANG|dense`` says what a language without a ticket wears (otherwise it is an error).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langtickets.cli import summary
from langtickets.errors import ConfigError
from langtickets.io import write_json
from langtickets.tasks.finetune import TrainConfig
from langtickets.tasks.records import TASKS
from langtickets.tasks.spec import FORMAT_TASKS, DatasetSpec

_TRAIN_FIELDS = ("batch_size", "lr", "epochs", "min_updates", "max_updates", "warmup_ratio", "weight_decay",
                 "max_grad_norm", "eval_every", "eval_batch_size")  # fmt: skip


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected LANG=VALUE (e.g. de=data/de-test.conllu), got {text!r}")
    return name, value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--model-name", required=True, help="the model's name in results and tables (e.g. dense)")
    parser.add_argument("--runs", type=int, nargs="+", default=[0], help="run numbers; each is one seed{run}")
    parser.add_argument("--seed", type=int, required=True, help="config seed; each run's seeds derive from it")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--timing", type=Path, help="write wall-clock seconds per run here (JSON)")
    parser.add_argument("--max-length", type=int, default=128, help="sub-words per example (XTREME: 128)")
    parser.add_argument("--head-dropout", type=float, default=0.1)
    parser.add_argument("--arc-dim", type=int, default=500, help="dep: biaffine arc projection size")
    parser.add_argument("--relation-dim", type=int, default=100, help="dep: biaffine relation projection size")
    parser.add_argument("--dense", action="store_true", help="ignore ticket masks: run the dense model")
    parser.add_argument("--mask-fallback", default="none",
                        help="ticket for a language without one: a language code, 'dense', or 'none' (an error)")
    parser.add_argument("--device", default="auto", help="'auto' (a GPU when present), 'cpu' or 'cuda'")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    train = parser.add_argument_group("training (paper defaults: 32, 2e-5, 2 epochs)")
    defaults = TrainConfig()
    for name in _TRAIN_FIELDS:
        kind = type(getattr(defaults, name))
        train.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name))


def _dataset(parser: argparse.ArgumentParser, splits: Sequence[str]) -> None:
    parser.add_argument("--format", required=True, choices=sorted(FORMAT_TASKS))
    for split in splits:
        parser.add_argument(f"--{split}", required=split != "dev",
                            help=f"{split} split: a file or hf:<dataset>/<config>:<split>")  # fmt: skip
    _reading(parser)
    parser.add_argument("--data-language", help="PAN-X prefix / NLI language column to require")


def _reading(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repair-bio", action="store_true", help="NER: read a stray I-X as B-X")
    parser.add_argument("--map-to-o", nargs="*", default=[], metavar="TYPE", help="NER: entity types read as O")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    for name, splits in (("in-language", ("train", "dev", "test")), ("source", ("train", "dev"))):
        sub = commands.add_parser(name, help=f"{name} fine-tuning")
        sub.add_argument("--model", required=True, help="pretrained model folder or Hugging Face model name")
        sub.add_argument("--lang", required=True, help="the data's language (and ticket)")
        _common(sub)
        _dataset(sub, splits)
    zero = commands.add_parser("zero-shot", help="score saved source models on target languages")
    zero.add_argument("--task-models", type=Path, required=True, help="folder of seed{run}/ from `finetune source`")
    zero.add_argument("--format", required=True, choices=sorted(FORMAT_TASKS))
    zero.add_argument("--target", type=_pair, nargs="+", required=True, metavar="LANG=TEST")
    zero.add_argument("--target-language", type=_pair, nargs="*", default=[], metavar="LANG=CODE",
                      help="per target: PAN-X prefix / NLI language column to require")  # fmt: skip
    _reading(zero)
    _common(zero)
    few = commands.add_parser("few-shot", help="continue saved source models on k target examples")
    few.add_argument("--task-models", type=Path, required=True, help="folder of seed{run}/ from `finetune source`")
    few.add_argument("--lang", required=True, help="the target language")
    few.add_argument("--k", type=int, required=True, help="target training examples")
    few.add_argument("--updates", type=int, required=True, help="updates on them")
    _common(few)
    _dataset(few, ("train", "test"))
    return parser


def _spec(args: argparse.Namespace, splits: dict[str, str], language: str | None, name: str) -> DatasetSpec:
    sources = {split: source for split, source in splits.items() if source}
    return DatasetSpec(args.task, args.format, sources, repair_bio=args.repair_bio or None,
                       map_to_o=tuple(args.map_to_o), language=language, name=name)  # fmt: skip


def settings_from_args(args: argparse.Namespace):
    from langtickets.tasks.protocols import RunSettings

    head: dict[str, Any] = {"dropout": args.head_dropout}
    if args.task == "dep":
        head.update(arc_dim=args.arc_dim, relation_dim=args.relation_dim)
    train = TrainConfig(**{name: getattr(args, name) for name in _TRAIN_FIELDS})
    return RunSettings(args.model_name, args.task, tuple(args.runs), args.seed, train, args.max_length, head,
                       args.dense, None if args.mask_fallback == "none" else args.mask_fallback,
                       args.device)  # fmt: skip


def _task_models(args: argparse.Namespace) -> dict[int, Path]:
    return {run: args.task_models / f"seed{run}" for run in args.runs}


def _dispatch(args: argparse.Namespace) -> tuple[list[dict], str]:
    from langtickets.tasks import protocols

    settings = settings_from_args(args)
    where = "the command line"
    if args.command in ("in-language", "source"):
        splits = {"train": args.train, "dev": args.dev}
        if args.command == "in-language":
            splits["test"] = args.test
        spec = _spec(args, splits, args.data_language, where)
        run = protocols.in_language if args.command == "in-language" else protocols.train_source
        return run(args.model, spec, args.lang, settings, args.out_dir), args.lang
    if args.command == "zero-shot":
        targets = dict(args.target)
        if len(targets) != len(args.target):
            raise ConfigError("a language is named twice in --target; give each target once")
        filters = dict(args.target_language)
        specs = {lang: _spec(args, {"test": test}, filters.get(lang), f"{where} (target {lang})")
                 for lang, test in targets.items()}  # fmt: skip
        return protocols.zero_shot(_task_models(args), specs, settings, args.out_dir), ",".join(targets)
    spec = _spec(args, {"train": args.train, "test": args.test}, args.data_language, where)
    timings = protocols.few_shot(_task_models(args), spec, args.lang, args.k, args.updates, settings, args.out_dir)
    return timings, args.lang


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    timings, langs = _dispatch(args)
    from langtickets.parallel import is_main_process

    if not is_main_process():  # data-parallel: the main process writes the files and the summary
        return 0
    if args.timing is not None:
        write_json(args.timing, {"command": args.command, "task": args.task, "model": args.model_name,
                                 "runs": timings})  # fmt: skip
    summary(f"finetune {args.command}", started, model=args.model_name, task=args.task, lang=langs,
            runs=len(args.runs))  # fmt: skip
    return 0

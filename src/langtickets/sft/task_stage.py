"""``langtickets task-sft``: task SFTs learned on top of the source language's SFT (Ansell et al., §3.2, §4.3-4.4).

For every run the pretrained encoder gets a fresh task head (seeded exactly as in the tasks stage) and is
trained with the source-language SFT applied, ``F(.; theta0 + phi_L(source))``; the source SFT is removed
afterwards, so the file holds phi_T = theta' - (theta0 + phi_L(source)) plus the head, which is trained
fully in both LT-SFT phases from the same initialisation. Checkpoints are chosen on the *source* dev split
(POS accuracy, DP LAS, NER F1, NLI accuracy; §4.3) with the source SFT applied. Methods: ``lt-sft``,
``rand-sft``, ``bitfit`` and ``full`` (full fine-tuning stored as an SFT over whole tensors).

§4.3's recipe: 10 epochs of batch 8 (phase 1 of LT-SFT: 3 epochs), lr 5e-5 decayed linearly to 0, dev
scores every 250 steps; NLI 5 epochs of batch 32 at 2e-5, every 625 steps. ``--max-steps`` caps a phase.

Multi-source training (§4.4): with several ``--source`` languages the training sets are concatenated and
shuffled in batches of one language each; that language's SFT (and ticket) is active for the step, and the
dev score is the mean over the sources' dev splits, each scored with its own language SFT.

Ticketed models wear the batch language's ticket (``--tickets language``) or none (``--tickets dense``).
Writes ``{out_dir}/seed{run}.safetensors`` and ``seed{run}.json`` (byte-identical on a CPU rerun).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from langtickets.cli import summary
from langtickets.errors import ConfigError
from langtickets.io import write_json
from langtickets.masks import MaskSwitch
from langtickets.parallel import is_main_process
from langtickets.seeding import derive_seed
from langtickets.sft.cli import (
    METHODS,
    Budget,
    add_budget_arguments,
    add_runtime_arguments,
    budget_from_args,
    check_runs,
    fallback_from_args,
    pair,
    pairs_to_dict,
    phase_steps,
    setup_torch,
    ticket_for,
)
from langtickets.sft.language_stage import TRAINERS
from langtickets.sft.params import task_sft_plan
from langtickets.sft.sparse import SparseFineTuning, applied
from langtickets.sft.task_data import (
    SourceSet,
    TaskBatches,
    check_language_sfts,
    prepare_sources,
    source_batch_order,
)
from langtickets.sft.taskmodel import sft_summary, sft_task_model
from langtickets.sft.training import LtSftConfig
from langtickets.sft.transfer import train_task_sft, train_task_sft_multisource
from langtickets.tasks.encoders import Pretrained, load_pretrained
from langtickets.tasks.evaluate import evaluate
from langtickets.tasks.records import TASKS
from langtickets.tasks.spec import FORMAT_TASKS, DatasetSpec


@dataclass(frozen=True)
class TaskSftSettings:
    """A task-SFT job's recipe (defaults: §4.3 for POS, DP and NER)."""

    task: str
    method: str
    budget: Budget
    runs: tuple[int, ...]
    seed: int
    epochs: float = 10.0
    phase1_epochs: float = 3.0
    max_steps: int = 0  # cap on a phase (0 = none)
    batch_size: int = 8
    lr: float = 5e-5
    eval_every: int = 250  # 0 = only at the end of a phase
    l1: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 128
    eval_batch_size: int = 64
    head_options: Mapping[str, Any] = field(default_factory=dict)
    tickets: str = "language"
    mask_fallback: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown method '{self.method}'; choose one of {', '.join(METHODS)}")
        if self.epochs <= 0 or self.phase1_epochs <= 0 or self.batch_size < 1:
            raise ConfigError("--epochs and --phase1-epochs must be positive and --batch-size >= 1")
        check_runs(self.runs)

    @property
    def budget_text(self) -> str:
        """The budget as recorded: K, density or reduction factor; BitFit and full fine-tuning have none."""
        return self.budget.describe() if self.method in ("lt-sft", "rand-sft") else self.method

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["budget"] = self.budget_text
        for key in ("runs", "seed", "progress", "task", "method"):
            described.pop(key)
        return described


class Tickets:
    """Switches a ticketed model to a language's ticket (per the ``--tickets`` mode); a no-op without masks."""

    def __init__(self, model: nn.Module, pretrained: Pretrained, langs: Sequence[str], tickets: str,
                 fallback: str | None) -> None:  # fmt: skip
        masks = pretrained.masks
        self.worn = {lang: ticket_for(masks, lang, tickets, fallback) for lang in langs}
        self.switch = MaskSwitch(model, masks) if masks is not None else None

    def use(self, lang: str) -> None:
        if self.switch is not None:
            self.switch.set(self.worn[lang])

    def remove(self) -> None:
        if self.switch is not None:
            self.switch.remove()


def _phases(data: SourceSet, settings: TaskSftSettings) -> tuple[int, int]:
    per_epoch = sum(-(-len(s.train.features) // settings.batch_size) for s in data.sources.values())
    return (phase_steps(settings.phase1_epochs, per_epoch, settings.max_steps),
            phase_steps(settings.epochs, per_epoch, settings.max_steps))  # fmt: skip


def _dev_score(data: SourceSet, settings: TaskSftSettings, tickets: Tickets, apply_sfts: bool):
    """The selection score: mean over the sources with a dev split (None when none has one)."""
    scored = [source for source in data.sources.values() if source.dev is not None]
    if not scored:
        return None
    pad_id = data.pretrained.tokenizer.pad_token_id

    def score(model: nn.Module) -> float:
        device = next(model.parameters()).device
        values = []
        for source in scored:
            tickets.use(source.lang)
            extra = (source.sft,) if apply_sfts and source.sft is not None else ()
            with applied(model, *extra):
                values.append(evaluate(model, source.dev, data.labels, pad_token_id=pad_id,
                                       batch_size=settings.eval_batch_size, device=device)["score"])  # fmt: skip
        return statistics.fmean(values)

    return score


def _notes(data: SourceSet, settings: TaskSftSettings, model_name: str, run: int) -> dict[str, str]:
    return {"task": settings.task, "model": model_name, "run": str(run), "sources": ",".join(data.sources),
            "labels": json.dumps(list(data.labels.names)),
            "head_options": json.dumps(dict(settings.head_options), sort_keys=True)}  # fmt: skip


def _lt_config(settings: TaskSftSettings, model: nn.Module, steps: tuple[int, int], seed: int) -> LtSftConfig:
    k, density = settings.budget.resolve(model.config.hidden_size, model.config.num_hidden_layers)
    return LtSftConfig(
        phase1_steps=steps[0], phase2_steps=steps[1], k=k, density=density, lr=settings.lr,
        max_grad_norm=settings.max_grad_norm or None, l1_phase1=settings.l1, l1_phase2=settings.l1,
        eval_every=settings.eval_every or None, higher_is_better=True, seed=derive_seed(seed, "lt-sft"),
        progress=settings.progress,
    )  # fmt: skip


def train_run(data: SourceSet, settings: TaskSftSettings, run: int, model_name: str,
              device: torch.device) -> tuple[SparseFineTuning, dict[str, Any]]:  # fmt: skip
    """One run's task SFT (§3.2; multi-source §4.4) and the facts its JSON records."""
    seed = derive_seed(settings.seed, "task-sft", run)
    model = sft_task_model(data.pretrained.fresh_encoder(), settings.task, data.labels, seed,
                           dict(settings.head_options)).to(device)  # fmt: skip
    steps = _phases(data, settings)
    config = _lt_config(settings, model, steps, seed)
    sizes = {lang: len(source.train.features) for lang, source in data.sources.items()}
    length = max(steps) if settings.method == "lt-sft" else steps[1]
    order = source_batch_order(sizes, settings.batch_size, length, derive_seed(seed, "order"))
    batches = TaskBatches(order, data.sources, data.pretrained.tokenizer.pad_token_id)
    tickets = Tickets(model, data.pretrained, list(data.sources), settings.tickets, settings.mask_fallback)

    def loss_fn(current: nn.Module, item: tuple[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        lang, batch = item
        tickets.use(lang)  # the batch language's ticket (multi-source batches hold one language each)
        return current({key: value.to(device) for key, value in batch.items()}).loss

    trainer, notes, plan = TRAINERS[settings.method], _notes(data, settings, model_name, run), task_sft_plan(model)
    sfts = {lang: source.sft for lang, source in data.sources.items() if source.sft is not None}
    try:
        if data.multi and sfts:  # each step applies its batch's source SFT (§4.4)
            sft = train_task_sft_multisource(model, sfts, lambda item: item[0], loss_fn, batches, plan, config,
                                             method=trainer, evaluate=_dev_score(data, settings, tickets, True),
                                             notes=notes)  # fmt: skip
        else:  # the source SFT stays applied throughout (§3.2)
            sft = train_task_sft(model, next(iter(sfts.values()), None), loss_fn, batches, plan, config,
                                 method=trainer, evaluate=_dev_score(data, settings, tickets, False),
                                 notes=notes)  # fmt: skip
    finally:
        tickets.remove()
    phase1 = steps[0] if settings.method == "lt-sft" else None
    return sft, {"steps": {"phase1": phase1, "phase2": steps[1]}, "mask": tickets.worn}


def run_record(sft: SparseFineTuning, facts: dict[str, Any], data: SourceSet, settings: TaskSftSettings,
               model_name: str, run: int) -> dict[str, Any]:  # fmt: skip
    """The JSON written next to a task SFT."""
    notes = sft.info.notes
    sources = data.sources.values()
    return {
        "model": model_name, "task": settings.task, "kind": "task", **sft_summary(sft), "run": run,
        "seed": settings.seed, "sources": list(data.sources), "budget": settings.budget_text, **facts,
        "selection": {key: notes[key] for key in sorted(notes) if key.startswith("phase")},
        "labels": list(data.labels.names), "head_options": dict(settings.head_options),
        "data": {s.lang: {"train": s.train.counts(), "dev": s.dev.counts() if s.dev else None} for s in sources},
        "language_sfts": {s.lang: sft_summary(s.sft, s.sft_path) if s.sft else None for s in sources},
        "settings": settings.describe(), "pretrained": data.pretrained.source,
    }  # fmt: skip


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--format", required=True, choices=sorted(FORMAT_TASKS))
    parser.add_argument("--train", type=pair, nargs="+", required=True, metavar="LANG=FILE")
    parser.add_argument("--dev", type=pair, nargs="*", default=[], metavar="LANG=FILE")
    parser.add_argument("--data-language", type=pair, nargs="*", default=[], metavar="LANG=CODE",
                        help="per source: PAN-X prefix / NLI language column to require")  # fmt: skip
    parser.add_argument("--repair-bio", action="store_true", help="NER: read a stray I-X as B-X")
    parser.add_argument("--map-to-o", nargs="*", default=[], metavar="TYPE", help="NER: entity types read as O")


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TaskSftSettings("pos", "lt-sft", Budget(k=0), (0,), 0)
    for name in ("epochs", "phase1_epochs", "max_steps", "batch_size", "lr", "eval_every", "l1", "max_grad_norm",
                 "max_length", "eval_batch_size"):  # fmt: skip
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(defaults, name)),
                            default=getattr(defaults, name))  # fmt: skip
    parser.add_argument("--head-dropout", type=float, default=0.1)
    parser.add_argument("--arc-dim", type=int, default=500, help="dep: biaffine arc projection size")
    parser.add_argument("--relation-dim", type=int, default=100, help="dep: biaffine relation projection size")
    parser.add_argument("--runs", type=int, nargs="+", default=[0], help="run numbers; each is one seed{run}")
    add_runtime_arguments(parser)


def source_specs(args: argparse.Namespace, sources: Sequence[str]) -> dict[str, DatasetSpec]:
    """One DatasetSpec per source from ``--train``/``--dev`` pairs and the shared reading flags."""
    train, dev = pairs_to_dict(args.train, "--train"), pairs_to_dict(args.dev, "--dev")
    filters = pairs_to_dict(args.data_language, "--data-language")
    extra = sorted((set(train) | set(dev)) - set(sources))
    if extra or set(sources) - set(train):
        named = sorted(set(train) | set(dev))
        raise ConfigError(f"--train/--dev must name exactly the sources {list(sources)} (got {named})")
    specs = {}
    for lang in sources:
        splits = {"train": train[lang], **({"dev": dev[lang]} if lang in dev else {})}
        specs[lang] = DatasetSpec(args.task, args.format, splits, repair_bio=args.repair_bio or None,
                                  map_to_o=tuple(args.map_to_o), language=filters.get(lang),
                                  name=f"the command line (source {lang})")  # fmt: skip
    return specs


def settings_from_args(args: argparse.Namespace, method: str, budget: Budget) -> TaskSftSettings:
    head: dict[str, Any] = {"dropout": args.head_dropout}
    if args.task == "dep":
        head.update(arc_dim=args.arc_dim, relation_dim=args.relation_dim)
    return TaskSftSettings(
        task=args.task, method=method, budget=budget, runs=tuple(args.runs), seed=args.seed, epochs=args.epochs,
        phase1_epochs=args.phase1_epochs, max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr,
        eval_every=args.eval_every, l1=args.l1, max_grad_norm=args.max_grad_norm, max_length=args.max_length,
        eval_batch_size=args.eval_batch_size, head_options=head, tickets=args.tickets,
        mask_fallback=fallback_from_args(args),
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets task-sft", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="pretrained model folder (results/pretrain/V/model)")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--source", nargs="+", required=True, help="source language(s); several = multi-source")
    parser.add_argument("--language-sft", type=pair, nargs="*", default=[], metavar="LANG=SFT",
                        help="a source's language SFT (a source without one trains on theta0)")  # fmt: skip
    parser.add_argument("--out-dir", type=Path, required=True, help="writes seed{run}.safetensors and seed{run}.json")
    add_budget_arguments(parser, required=False)
    add_data_arguments(parser)
    add_training_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    if len(set(args.source)) != len(args.source):
        raise ConfigError("a language is named twice in --source")
    sized = args.method in ("lt-sft", "rand-sft")
    if sized and (args.k, args.density, args.reduction_factor) == (None, None, None):
        raise ConfigError(f"--method {args.method} needs --k, --density or --reduction-factor")
    budget = budget_from_args(args) if sized else Budget(k=0)  # BitFit and full fine-tuning fix their own size
    settings = settings_from_args(args, args.method, budget)
    device = setup_torch(args.threads, args.device)
    specs = source_specs(args, args.source)
    language_sfts = pairs_to_dict(args.language_sft, "--language-sft")
    check_language_sfts(specs, language_sfts)  # before the model is loaded
    data = prepare_sources(load_pretrained(args.model), args.task, specs, language_sfts, settings.max_length, device)
    for run in settings.runs:
        sft, facts = train_run(data, settings, run, args.model_name, device)
        if is_main_process():  # data-parallel: every process holds the same SFT; one writes it
            sft.save(args.out_dir / f"seed{run}.safetensors")
            write_json(args.out_dir / f"seed{run}.json", run_record(sft, facts, data, settings, args.model_name, run))
    if not is_main_process():
        return 0
    summary("task-sft", started, model=args.model_name, task=args.task, method=args.method,
            sources="+".join(args.source), runs=len(settings.runs))  # fmt: skip
    return 0


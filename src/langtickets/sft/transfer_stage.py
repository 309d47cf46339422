"""``langtickets sft-transfer-eval``: zero-shot transfer by composing sparse fine-tunings (Ansell et al., §3.2).

For each method's task SFT (one per run) and each target language the task model is
``F(.; theta0 + phi_T + phi_L(target))`` with the task head (the *composed* setup), and for the methods named
by ``--task-only`` also ``F(.; theta0 + phi_T)`` (TA-only, §4.1). The target's test split is scored with the
tasks stage's evaluator (same featurisation, fallback predictions and metrics), so the numbers compare with
``finetune zero-shot``. Every SFT is applied and reverted exactly on one pretrained encoder; nothing is
copied per target.

A target without a language SFT for a method is an error, unless ``--no-language-sft`` says ``skip`` (no
composed score for it) or ``task-only`` (its composed score is the TA-only one, recorded as such): languages
without a corpus (not pretrained on) have no language SFT.

Writes ``{out_dir}/{method}/{composed|task-only}/{lang}/seed{run}.json`` (byte-identical on a CPU rerun).
Ticketed models wear each target's ticket (``--tickets language``; ``--mask-fallback`` for targets without
one) or none (``--tickets dense``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from langtickets.cli import summary
from langtickets.errors import ConfigError, InputError
from langtickets.io import write_json
from langtickets.sft.cli import (
    METHODS,
    add_runtime_arguments,
    check_runs,
    fallback_from_args,
    pair,
    pairs_to_dict,
    setup_torch,
    ticket_for,
)
from langtickets.sft.sparse import SparseFineTuning
from langtickets.sft.taskmodel import (
    SftTaskModel,
    head_of,
    load_language_sft,
    load_task_sft,
    sft_summary,
    sft_task_model,
)
from langtickets.sft.transfer import zero_shot
from langtickets.tasks.encoders import Pretrained, load_pretrained
from langtickets.tasks.evaluate import Featurized, evaluate, featurize
from langtickets.tasks.protocols import check_length, read_split, wearing
from langtickets.tasks.records import TASKS, LabelSet
from langtickets.tasks.spec import FORMAT_TASKS, DatasetSpec

COMPOSITIONS = ("composed", "task-only")
MISSING_POLICIES = ("error", "skip", "task-only")


@dataclass(frozen=True)
class EvalSettings:
    """Names and knobs shared by every score of a transfer-evaluation job."""

    model_name: str
    task: str
    source: str
    seed: int
    max_length: int = 128
    eval_batch_size: int = 64
    tickets: str = "language"
    mask_fallback: str | None = None


class Targets:
    """The targets' test splits, featurised once per label set (runs usually share one)."""

    def __init__(self, specs: Mapping[str, DatasetSpec], task: str, tokenizer: Any, max_length: int) -> None:
        self.specs, self.task, self.tokenizer, self.max_length = specs, task, tokenizer, max_length
        self.records = {lang: read_split(spec, "test") for lang, spec in specs.items()}
        self._cache: dict[tuple[str, tuple[str, ...]], Featurized] = {}

    def featurized(self, lang: str, labels: LabelSet) -> Featurized:
        key = (lang, labels.names)
        if key not in self._cache:
            self._cache[key] = featurize(self.task, self.tokenizer, self.records[lang], labels, self.max_length,
                                         where=self.specs[lang].source("test"))  # fmt: skip
        return self._cache[key]


def score_transfer(model: SftTaskModel, task_sft: SparseFineTuning, language_sft: SparseFineTuning | None,
                   data: Featurized, labels: LabelSet, pretrained: Pretrained, mask: str | None,
                   settings: EvalSettings) -> dict[str, Any]:  # fmt: skip
    """The tasks stage's scores of ``theta0 + phi_T (+ phi_L)`` with the task head, wearing ``mask``."""
    device = next(model.parameters()).device
    with zero_shot(model, task_sft, language_sft), wearing(model, pretrained.masks, mask):
        return evaluate(model, data, labels, pad_token_id=pretrained.tokenizer.pad_token_id,
                        batch_size=settings.eval_batch_size, device=device)  # fmt: skip


def transfer_record(settings: EvalSettings, lang: str, run: int, scores: dict[str, Any], method: str,
                    composition: str, task_sft: SparseFineTuning, language_sft: SparseFineTuning | None,
                    masks: dict[str, Any], **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A metrics file with the keys of the tasks stage's (model, task, protocol, lang, run, metric, score...)."""
    notes = task_sft.info.notes
    return {
        "model": settings.model_name, "task": settings.task, "protocol": "sft-transfer", "lang": lang, "run": run,
        "seed": settings.seed, "metric": scores["metric"], "score": scores["score"], "metrics": scores["metrics"],
        "test": scores["data"], "method": method, "composition": composition, "source": settings.source,
        "sources": notes.get("sources", settings.source).split(","), "mask": masks,
        "task_sft": sft_summary(task_sft, task_sft.source),
        "language_sft": sft_summary(language_sft, language_sft.source) if language_sft is not None else None,
        "settings": {"max_length": settings.max_length, "eval_batch_size": settings.eval_batch_size,
                     "tickets": settings.tickets, "mask_fallback": settings.mask_fallback},
        **extra,
    }  # fmt: skip


def load_language_sfts(paths: Mapping[tuple[str, str], str], pretrained: Pretrained, device: torch.device):
    sfts = {}
    for key, path in paths.items():
        sft = load_language_sft(path)
        sft.verify_base(pretrained.encoder)
        sfts[key] = sft.to(device)
    return sfts


def _plan(methods: Sequence[str], targets: Sequence[str], language: Mapping, task_only: Sequence[str],
          missing: str) -> list[tuple[str, str, str, bool]]:  # fmt: skip
    """``(method, composition, lang, with language SFT)`` for every score to write; fails early on a gap."""
    plan = []
    for method in methods:
        for lang in targets:
            have = (method, lang) in language
            if not have and missing == "error":
                raise ConfigError(f"no language SFT for target '{lang}' (method {method}); pass --language-sft "
                                  f"{method}:{lang}=PATH, or --no-language-sft skip|task-only")  # fmt: skip
            if have or missing == "task-only":
                plan.append((method, "composed", lang, have))
            if method in task_only:
                plan.append((method, "task-only", lang, False))
    return plan


def evaluate_transfer(pretrained: Pretrained, task_sfts: Mapping[str, Mapping[int, str]], targets: Targets,
                      language_paths: Mapping[tuple[str, str], str], task_only: Sequence[str], missing: str,
                      settings: EvalSettings, out_dir: Path, device: torch.device) -> int:  # fmt: skip
    """Score every (method, run, composition, target); returns the number of metrics files written."""
    check_length(pretrained.encoder, settings.max_length)
    plan = _plan(list(task_sfts), list(targets.specs), language_paths, task_only, missing)
    language = load_language_sfts(language_paths, pretrained, device)
    encoder = pretrained.encoder.to(device)
    written = 0
    for method, runs in task_sfts.items():
        for run, path in runs.items():
            task_sft = load_task_sft(path, settings.task)
            task_sft.verify_base(encoder)
            labels, head_options = head_of(task_sft)
            model = sft_task_model(encoder, settings.task, labels, 0, head_options).to(device)  # head from the SFT
            task_sft = task_sft.to(device)
            for plan_method, composition, lang, with_language in plan:
                if plan_method != method:
                    continue
                lang_sft = language[(method, lang)] if with_language else None
                mask = ticket_for(pretrained.masks, lang, settings.tickets, settings.mask_fallback)
                scores = score_transfer(model, task_sft, lang_sft, targets.featurized(lang, labels), labels,
                                        pretrained, mask, settings)  # fmt: skip
                extra = {"fallback": "task-only"} if composition == "composed" and not with_language else {}
                record = transfer_record(settings, lang, run, scores, method, composition, task_sft, lang_sft,
                                         {"eval": mask}, **extra)  # fmt: skip
                write_json(out_dir / method / composition / lang / f"seed{run}.json", record)
                written += 1
    return written


def _method_runs(pairs: Sequence[tuple[str, str]], runs: Sequence[int]) -> dict[str, dict[int, str]]:
    found = pairs_to_dict(pairs, "--task-sft")
    unknown = sorted(set(found) - set(METHODS))
    if unknown:
        raise ConfigError(f"--task-sft names unknown methods {unknown}; choose from {', '.join(METHODS)}")
    sfts = {}
    for method, folder in found.items():
        files = {run: Path(folder) / f"seed{run}.safetensors" for run in runs}
        for path in files.values():
            if not path.is_file():
                raise InputError(path, "task SFT not found", "run `langtickets task-sft` for this method and run first")
        sfts[method] = {run: str(path) for run, path in files.items()}
    return sfts


def _language_pairs(pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    found = {}
    for key, path in pairs_to_dict(pairs, "--language-sft").items():
        method, sep, lang = key.partition(":")
        if not sep or method not in METHODS or not lang:
            raise ConfigError(f"--language-sft expects METHOD:LANG=PATH (e.g. lt-sft:qac=...), got '{key}'")
        found[(method, lang)] = path
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets sft-transfer-eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="pretrained model folder (results/pretrain/V/model)")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--source", required=True, help="the source tag of the task SFTs (e.g. qaa or qaa+qac)")
    parser.add_argument("--task-sft", type=pair, nargs="+", required=True, metavar="METHOD=DIR",
                        help="folder of a method's seed{run}.safetensors")  # fmt: skip
    parser.add_argument("--language-sft", type=pair, nargs="*", default=[], metavar="METHOD:LANG=SFT")
    parser.add_argument("--task-only", nargs="*", default=[], choices=METHODS, help="methods also scored TA-only")
    parser.add_argument("--no-language-sft", choices=MISSING_POLICIES, default="error",
                        help="a target without a language SFT: fail, skip it, or score it task-only")  # fmt: skip
    parser.add_argument("--format", required=True, choices=sorted(FORMAT_TASKS))
    parser.add_argument("--target", type=pair, nargs="+", required=True, metavar="LANG=TEST")
    parser.add_argument("--target-language", type=pair, nargs="*", default=[], metavar="LANG=CODE")
    parser.add_argument("--repair-bio", action="store_true", help="NER: read a stray I-X as B-X")
    parser.add_argument("--map-to-o", nargs="*", default=[], metavar="TYPE", help="NER: entity types read as O")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--runs", type=int, nargs="+", default=[0])
    parser.add_argument("--out-dir", type=Path, required=True,
                        help="writes {method}/{composition}/{lang}/seed{run}.json")  # fmt: skip
    add_runtime_arguments(parser)
    return parser


def target_specs(args: argparse.Namespace) -> dict[str, DatasetSpec]:
    filters = pairs_to_dict(args.target_language, "--target-language")
    return {lang: DatasetSpec(args.task, args.format, {"test": test}, repair_bio=args.repair_bio or None,
                              map_to_o=tuple(args.map_to_o), language=filters.get(lang),
                              name=f"the command line (target {lang})")
            for lang, test in pairs_to_dict(args.target, "--target").items()}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    runs = check_runs(args.runs)
    settings = EvalSettings(args.model_name, args.task, args.source, args.seed, args.max_length,
                            args.eval_batch_size, args.tickets, fallback_from_args(args))  # fmt: skip
    task_sfts = _method_runs(args.task_sft, runs)
    language = _language_pairs(args.language_sft)
    specs = target_specs(args)
    _plan(list(task_sfts), list(specs), language, args.task_only, args.no_language_sft)  # fail before loading
    device = setup_torch(args.threads, args.device)
    pretrained = load_pretrained(args.model)
    targets = Targets(specs, args.task, pretrained.tokenizer, args.max_length)
    written = evaluate_transfer(pretrained, task_sfts, targets, language, args.task_only, args.no_language_sft,
                                settings, args.out_dir, device)  # fmt: skip
    summary("sft-transfer-eval", started, model=args.model_name, task=args.task, source=args.source,
            methods=",".join(task_sfts), targets=len(specs), files=written)  # fmt: skip
    return 0

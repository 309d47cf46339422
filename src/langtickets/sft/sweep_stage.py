"""``langtickets sft-sweep``: one row of the density grid of Ansell et al. §5.2 (Figure 3).

For one language-SFT density (the source's and every target's language SFTs were trained at it), train an
LT-SFT task SFT at each ``--task-densities`` value on ``theta0 + phi_L(source)`` and score every target on
``theta0 + phi_T + phi_L(target)``, as ``task-sft`` and ``sft-transfer-eval`` do, in one process (the grid
has many cells and each job would otherwise pay the imports twice). Task SFTs are not kept.

Writes ``{out_dir}/td{task_density}/{lang}/seed{run}.json``: the transfer metrics file plus
``language_density`` and ``task_density``; ``sft-table density`` turns them into the grid.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

from langtickets.cli import summary
from langtickets.errors import ConfigError
from langtickets.io import write_json
from langtickets.parallel import is_main_process
from langtickets.sft.cli import Budget, format_density, pair, pairs_to_dict, setup_torch, ticket_for
from langtickets.sft.task_stage import (
    add_data_arguments,
    add_training_arguments,
    prepare_sources,
    settings_from_args,
    source_specs,
    train_run,
)
from langtickets.sft.taskmodel import sft_task_model
from langtickets.sft.transfer_stage import EvalSettings, Targets, load_language_sfts, score_transfer, target_specs
from langtickets.sft.transfer_stage import transfer_record
from langtickets.tasks.encoders import load_pretrained


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets sft-sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="pretrained model folder (results/pretrain/V/model)")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--source", required=True, help="the source language")
    parser.add_argument("--source-sft", required=True, help="the source's language SFT at --language-density")
    parser.add_argument("--target", type=pair, nargs="+", required=True, metavar="LANG=TEST")
    parser.add_argument("--target-language", type=pair, nargs="*", default=[], metavar="LANG=CODE")
    parser.add_argument("--target-sft", type=pair, nargs="+", required=True, metavar="LANG=SFT",
                        help="each target's language SFT at --language-density")  # fmt: skip
    parser.add_argument("--language-density", type=float, required=True, help="recorded with every score")
    parser.add_argument("--task-densities", type=float, nargs="+", required=True)
    parser.add_argument("--out-dir", type=Path, required=True, help="writes td{density}/{lang}/seed{run}.json")
    add_data_arguments(parser)
    add_training_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    if len(set(args.task_densities)) != len(args.task_densities):
        raise ConfigError("a density is given twice in --task-densities")
    device = setup_torch(args.threads, args.device)
    base = settings_from_args(args, "lt-sft", Budget(density=args.task_densities[0]))
    specs = target_specs(args)
    target_sfts = pairs_to_dict(args.target_sft, "--target-sft")
    if set(target_sfts) != set(specs):
        raise ConfigError(f"--target-sft must name exactly the targets {sorted(specs)} (got {sorted(target_sfts)})")
    pretrained = load_pretrained(args.model)
    data = prepare_sources(pretrained, args.task, source_specs(args, [args.source]), {args.source: args.source_sft},
                           base.max_length, device)  # fmt: skip
    targets = Targets(specs, args.task, pretrained.tokenizer, base.max_length)
    language = load_language_sfts({("lt-sft", lang): path for lang, path in target_sfts.items()}, pretrained, device)
    evals = EvalSettings(args.model_name, args.task, args.source, args.seed, base.max_length, base.eval_batch_size,
                         base.tickets, base.mask_fallback)  # fmt: skip
    written = 0
    for density in args.task_densities:
        settings = dataclasses.replace(base, budget=Budget(density=density))
        for run in settings.runs:
            task_sft, _ = train_run(data, settings, run, args.model_name, device)
            model = sft_task_model(pretrained.encoder.to(device), args.task, data.labels, 0,
                                   dict(settings.head_options)).to(device)  # fmt: skip
            task_sft = task_sft.to(device)
            for lang in specs:
                mask = ticket_for(pretrained.masks, lang, settings.tickets, settings.mask_fallback)
                target_sft = language[("lt-sft", lang)]
                scores = score_transfer(model, task_sft, target_sft, targets.featurized(lang, data.labels),
                                        data.labels, pretrained, mask, evals)  # fmt: skip
                record = transfer_record(evals, lang, run, scores, "lt-sft", "composed", task_sft, target_sft,
                                         {"eval": mask}, language_density=args.language_density,
                                         task_density=density)  # fmt: skip
                if is_main_process():  # data-parallel: every process scores the same model; one writes
                    write_json(args.out_dir / f"td{format_density(density)}" / lang / f"seed{run}.json", record)
                written += 1
    if not is_main_process():
        return 0
    summary("sft-sweep", started, model=args.model_name, task=args.task, language_density=args.language_density,
            task_densities=len(args.task_densities), files=written)  # fmt: skip
    return 0

"""The one command-line entry point: ``langtickets <stage> [options]`` (or ``python -m langtickets``).

Each stage module exposes ``main(argv) -> int``; this module maps stage names to modules, imports only the
one asked for (so corpus jobs never import torch), and turns a :class:`LangticketsError` into a one-line
message on stderr with exit status 2.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Sequence

from langtickets.errors import LangticketsError

#: stage name -> module holding its ``main(argv)``
STAGES: dict[str, str] = {
    "validate-languages": "langtickets.languages",
    "build-language-table": "langtickets.langtable",
    "make-demo": "langtickets.demo.cli",
    "family-tree": "langtickets.families",
    "download": "langtickets.corpus.download",
    "extract": "langtickets.corpus.extract",
    "split": "langtickets.corpus.split",
    "train-vocab": "langtickets.vocab",
    "tokenize": "langtickets.tokens",
    "init-model": "langtickets.model",
    "snip-scores": "langtickets.tickets",
    "select-tickets": "langtickets.tickets_select",
    "export-ticket": "langtickets.export",
    "flops": "langtickets.flops",
    "pretrain": "langtickets.pretrain",
    "task-data": "langtickets.tasks.cli",
    "finetune": "langtickets.tasks.finetune_cli",
    "eval-table": "langtickets.tasks.aggregate",
    "language-sft": "langtickets.sft.language_stage",
    "task-sft": "langtickets.sft.task_stage",
    "sft-transfer-eval": "langtickets.sft.transfer_stage",
    "sft-sweep": "langtickets.sft.sweep_stage",
    "sft-table": "langtickets.sft.tables",
    "analysis-overlap": "langtickets.analysis.overlap",
    "analysis-mask-overlap": "langtickets.analysis.mask_overlap",
    "analysis-structure": "langtickets.analysis.structure",
    "analysis-interference": "langtickets.analysis.interference",
    "analysis-retrieval": "langtickets.analysis.retrieval",
    "table": "langtickets.analysis.tables",
    "figure": "langtickets.figures.cli",
    "subnetworks-imp": "langtickets.analysis.imp",
    "subnetworks-transfer": "langtickets.analysis.transfer_matrix",
    "subnetworks-heads": "langtickets.analysis.heads_cli",
    "headsub-subnetworks": "langtickets.headsub.subnetworks_cli",
    "headsub-train": "langtickets.headsub.train_cli",
    "headsub-table": "langtickets.headsub.tables",
}


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Call a stage's ``main``; report a :class:`LangticketsError` as one line and return 2."""
    try:
        return int(main(argv) or 0)
    except LangticketsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def summary(stage: str, started: float, **fields: object) -> None:
    """Print the one-line summary every stage ends its log with."""
    parts = " ".join(f"{key}={value}" for key, value in fields.items())
    print(f"[{stage}] done in {time.perf_counter() - started:.1f}s {parts}".rstrip(), file=sys.stderr)


def _usage() -> str:
    names = "\n  ".join(sorted(STAGES))
    return f"usage: langtickets <stage> [options]\n\nstages:\n  {names}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage(), end="")
        return 0 if args else 2
    stage, rest = args[0], args[1:]
    if stage not in STAGES:
        print(f"error: unknown stage '{stage}'; choose one of: {', '.join(sorted(STAGES))}", file=sys.stderr)
        return 2
    module = importlib.import_module(STAGES[stage])
    return run(module.main, rest)


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(main())

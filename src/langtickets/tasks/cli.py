"""``langtickets task-data``: load a task dataset's splits, validate them, and report counts and labels.

Runs every check the fine-tuning stages will run (formats, IOB2, trees, NLI labels) before any GPU time is
spent, and writes what it found as JSON, e.g.::

    langtickets task-data --task ner --format masakhaner --repair-bio --map-to-o DATE \\
        --split train=data/masakhaner/hau/train.txt --split test=data/masakhaner/hau/test.txt \\
        --output results/tasks/ner/hau/data.json
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from langtickets.cli import summary
from langtickets.errors import ConfigError
from langtickets.io import write_json
from langtickets.tasks.records import TASKS, NliPair, ParsedSentence, universal_relation
from langtickets.tasks.spec import FORMAT_TASKS, DatasetSpec, load_split


def label_counts(records: Sequence) -> dict[str, int]:
    """How often each label occurs: tags, universal relations, or NLI labels."""
    counts: Counter = Counter()
    for record in records:
        if isinstance(record, NliPair):
            counts[record.label] += 1
        elif isinstance(record, ParsedSentence):
            counts.update(universal_relation(d) for d in record.deprels)
        else:
            counts.update(record.tags)
    return dict(sorted(counts.items()))


def describe(spec: DatasetSpec) -> dict:
    """Load every split of ``spec`` and return its counts and label frequencies."""
    report: dict = {"task": spec.task, "format": spec.format, "splits": {}}
    for split, source in spec.splits.items():
        counts: Counter = Counter()
        records = load_split(spec, split, counts=counts)
        report["splits"][split] = {"source": source, "counts": dict(sorted(counts.items())),
                                   "labels": label_counts(records)}  # fmt: skip
    return report


def _split_argument(text: str) -> tuple[str, str]:
    name, sep, source = text.partition("=")
    if not sep or not name or not source:
        raise argparse.ArgumentTypeError(f"expected NAME=SOURCE (e.g. train=data/train.txt), got {text!r}")
    return name, source


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets task-data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--format", required=True, choices=sorted(FORMAT_TASKS))
    parser.add_argument("--split", required=True, action="append", type=_split_argument, metavar="NAME=SOURCE",
                        help="a split and its file or hf:<dataset>/<config>:<split> source (repeatable)")
    parser.add_argument("--language", default=None, help="PAN-X prefix / NLI language column to require")
    parser.add_argument("--repair-bio", action="store_true", help="read a stray I-X as B-X instead of failing")
    parser.add_argument("--map-to-o", nargs="*", default=[], metavar="TYPE", help="entity types to map to O")
    parser.add_argument("--output", type=Path, default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    splits = dict(args.split)
    if len(splits) != len(args.split):
        raise ConfigError("a split is named twice in --split; give each split once")
    spec = DatasetSpec(args.task, args.format, splits, repair_bio=args.repair_bio or None,
                       map_to_o=tuple(args.map_to_o), language=args.language, name="the command line")  # fmt: skip
    report = describe(spec)
    if args.output is not None:
        write_json(args.output, report)
    sizes = {split: sum(info["counts"].get(key, 0) for key in ("sentences", "pairs"))
             for split, info in report["splits"].items()}  # fmt: skip
    summary("task-data", started, task=args.task, **sizes)
    return 0

"""``langtickets make-demo``: generate the demo corpus, task data, parallel sentences and family tree.

Subcommands (every input, output and parameter on the command line)::

    make-demo dump --table T --lang L --seed S --documents N --out PATH.xml.bz2
    make-demo tasks --table T --lang L --seed S --train N --dev N --test N --out-dir DIR
    make-demo parallel --table T --lang L --seed S --sentences N --out PATH.txt
    make-demo family-tree --table T --langs L1 L2 ... --out PATH.tsv --newick PATH.nwk
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from langtickets.cli import summary
from langtickets.demo.dump import write_dump
from langtickets.demo.grammar import build_grammar
from langtickets.demo.parallel import write_family_tree, write_parallel
from langtickets.demo.tasks import SplitSizes, write_tasks
from langtickets.errors import ConfigError
from langtickets.languages import LanguageTable, load_table


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _common(parser: argparse.ArgumentParser, lang: bool = True) -> None:
    parser.add_argument("--table", type=Path, required=True, help="language table, e.g. config/demo-languages.tsv")
    if lang:
        parser.add_argument("--lang", required=True, help="language code from the table")
        parser.add_argument("--seed", type=int, required=True, help="the config seed; all randomness derives from it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets make-demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    dump = commands.add_parser("dump", help="a MediaWiki XML dump (bz2) of generated articles")
    _common(dump)
    dump.add_argument("--documents", type=_positive, required=True, help="number of articles")
    dump.add_argument("--out", type=Path, required=True, help="output .xml.bz2")
    tasks = commands.add_parser("tasks", help="UD, NER and NLI train/dev/test files")
    _common(tasks)
    for split in ("train", "dev", "test"):
        tasks.add_argument(f"--{split}", type=_positive, required=True, help=f"sentences (pairs) in {split}")
    tasks.add_argument("--out-dir", type=Path, required=True)
    parallel = commands.add_parser("parallel", help="parallel sentences, one per line")
    _common(parallel)
    parallel.add_argument("--sentences", type=_positive, required=True)
    parallel.add_argument("--out", type=Path, required=True)
    tree = commands.add_parser("family-tree", help="family-tree TSV and Newick file")
    _common(tree, lang=False)
    tree.add_argument("--langs", nargs="+", required=True, help="language codes, in the order to list them")
    tree.add_argument("--out", type=Path, required=True, help="output TSV")
    tree.add_argument("--newick", type=Path, required=True, help="output Newick file")
    return parser


def _dump(args: argparse.Namespace, table: LanguageTable, started: float) -> None:
    if not args.out.name.endswith(".bz2"):
        raise ConfigError(f"--out {args.out}: the dump is bz2-compressed; give a path ending in .xml.bz2")
    row = table[args.lang]
    grammar = build_grammar(table, args.lang, args.seed)
    stats = write_dump(grammar, row.wiki, row.name, args.seed, args.documents, args.out)
    pages = " ".join(f"{kind}={count}" for kind, count in sorted(stats.pages.items()))
    summary("make-demo dump", started, lang=args.lang, sentences=stats.sentences, xml_bytes=stats.text_bytes,
            bz2_bytes=args.out.stat().st_size, pages=f"[{pages}]")  # fmt: skip


def _tasks(args: argparse.Namespace, table: LanguageTable, started: float) -> None:
    sizes = SplitSizes(args.train, args.dev, args.test)
    lines = write_tasks(build_grammar(table, args.lang, args.seed), args.seed, sizes, args.out_dir)
    summary("make-demo tasks", started, lang=args.lang, files=len(lines), lines=sum(lines.values()))


def _parallel(args: argparse.Namespace, table: LanguageTable, started: float) -> None:
    write_parallel(build_grammar(table, args.lang, args.seed), args.seed, args.sentences, args.out)
    summary("make-demo parallel", started, lang=args.lang, sentences=args.sentences)


def _family_tree(args: argparse.Namespace, table: LanguageTable, started: float) -> None:
    rows = table.select(args.langs, where="--langs")
    write_family_tree(rows, args.out, args.newick)
    summary("make-demo family-tree", started, languages=len(rows), families=len({row.family for row in rows}))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    table = load_table(args.table)
    handler = {"dump": _dump, "tasks": _tasks, "parallel": _parallel, "family-tree": _family_tree}[args.command]
    handler(args, table, started)
    return 0

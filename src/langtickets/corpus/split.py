"""Split extracted articles into sentences: ``sentences.txt.gz``, one sentence a line, a blank line between documents.

The splitter comes from the rule (``--splitter``, which must match the language's row in ``--table``); see
:mod:`langtickets.corpus.splitters` for what each does. When Stanza or Trankit (or their model) is missing,
``--fallback-moses`` uses the Moses splitter instead and records why in ``split_stats.json``; without it the
stage stops with a :class:`ConfigError` that says how to install the splitter.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from langtickets.cli import summary
from langtickets.corpus.pool import ordered_map, worker_pool
from langtickets.corpus.splitters import MosesSplitter, Splitter, SplitterUnavailable, build_splitter
from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_gzip_text, open_text, write_json
from langtickets.languages import load_table

SPLITTERS = ("moses", "stanza", "trankit")
BATCH_DOCUMENTS = 64


def read_documents(path: Path) -> Iterator[str]:
    """The ``text`` of each line of a ``docs.jsonl.gz``; a malformed line is an :class:`InputError`."""
    if not path.is_file():
        raise InputError(path, "documents file not found", "run the extract stage first")
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                text = json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(path, "not a JSON object with a 'text' field", "rerun the extract stage",
                                 line=number) from None
            if not isinstance(text, str):
                raise InputError(path, "'text' is not a string", "rerun the extract stage", line=number)
            yield text


def choose_splitter(name: str, code: str, *, fallback_moses: bool, model_dir: str | None = None,
                    use_gpu: bool = False) -> tuple[Splitter, dict]:
    """Build the splitter; fall back to Moses (recorded in the returned info) only when allowed."""
    try:
        splitter = build_splitter(name, code, model_dir=model_dir, use_gpu=use_gpu)
        return splitter, {"splitter": name, "fallback": None, "reason": None}
    except SplitterUnavailable as why:
        if not fallback_moses:
            raise ConfigError(
                f"the {name} sentence splitter for language '{code}' is unavailable: {why}; run with the "
                f"envs/{name}.yaml environment (snakemake --use-conda, which also fetches the model) or set "
                "corpus.splitter_fallback: true to use the Moses splitter instead"
            ) from None
        print(f"warning: {name} unavailable for '{code}' ({why}); falling back to moses", file=sys.stderr)
        return MosesSplitter(code), {"splitter": name, "fallback": "moses", "reason": str(why)}


def _split_batch(splitter: Splitter, texts: list[str]) -> list[list[str]]:
    return [splitter.split(text) for text in texts]


def _batches(documents: Iterator[str], size: int = BATCH_DOCUMENTS) -> Iterator[list[str]]:
    batch = []
    for text in documents:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_sentences(documents: Iterator[str], splitter: Splitter, out, processes: int = 1) -> dict:
    """Write each document's sentences to ``out``, a blank line between documents; return the counts.

    With ``processes`` > 1 (Moses only) batches of documents are split in worker processes; the output
    is the same as with one process.
    """
    counts = {"documents": 0, "documents_without_sentences": 0, "sentences": 0, "characters": 0}
    first = True
    work = functools.partial(_split_batch, splitter)
    with worker_pool(processes) as pool, tqdm(unit="doc", desc="split", file=sys.stderr, mininterval=5) as bar:
        for _, split_documents in ordered_map(pool, work, _batches(documents), processes):
            for sentences in split_documents:
                counts["documents"] += 1
                if not sentences:
                    counts["documents_without_sentences"] += 1
                    continue
                out.write(("" if first else "\n") + "".join(f"{sentence}\n" for sentence in sentences))
                first = False
                counts["sentences"] += len(sentences)
                counts["characters"] += sum(map(len, sentences))
            bar.update(len(split_documents))
    return counts


def run(lang: str, splitter_name: str, table: Path, docs: Path, out: Path, stats: Path, *,
        fallback_moses: bool = False, model_dir: str | None = None, use_gpu: bool = False,
        processes: int = 1) -> dict:
    """Split ``docs`` into ``out`` and write ``stats``; return the stats record.

    Stanza and Trankit always run in one process (their models are large and may sit on a GPU).
    """
    row = load_table(table)[lang]
    if row.splitter != splitter_name:
        raise ConfigError(f"{table}: language '{lang}' uses the '{row.splitter}' splitter, not "
                          f"'{splitter_name}'; fix the table's splitter column or the rule's --splitter")
    splitter, record = choose_splitter(splitter_name, row.code, fallback_moses=fallback_moses,
                                       model_dir=model_dir, use_gpu=use_gpu)
    with atomic_gzip_text(out) as handle:
        processes = processes if splitter.name == "moses" else 1
        counts = write_sentences(read_documents(docs), splitter, handle, processes)
        if counts["documents"] == 0:
            raise InputError(docs, "no documents", "rerun the extract stage (it should never write an empty file)")
    record.update(counts, lang=lang, used=splitter.name, processes=processes,
                  prefix_source=splitter.info.get("prefix_source"), model=splitter.info.get("model"))
    write_json(stats, record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets split", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", required=True, help="language code (a row of --table)")
    parser.add_argument("--splitter", required=True, choices=SPLITTERS)
    parser.add_argument("--table", type=Path, required=True, help="language table (TSV)")
    parser.add_argument("--docs", type=Path, required=True, help="docs.jsonl.gz from the extract stage")
    parser.add_argument("--out", type=Path, required=True, help="output sentences.txt.gz")
    parser.add_argument("--stats", type=Path, required=True, help="output split_stats.json")
    parser.add_argument("--fallback-moses", action="store_true",
                        help="use the Moses splitter when stanza/trankit or its model is missing")
    parser.add_argument("--model-dir", default=None,
                        help="stanza/trankit model folder (default $STANZA_RESOURCES_DIR / $LANGTICKETS_TRANKIT_CACHE)")
    parser.add_argument("--processes", type=int, default=1, help="worker processes for the Moses splitter")
    parser.add_argument("--cpu", action="store_true",
                        help="keep stanza/trankit on the CPU (by default they use a GPU when one is visible)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    record = run(args.lang, args.splitter, args.table, args.docs, args.out, args.stats,
                 fallback_moses=args.fallback_moses, model_dir=args.model_dir, use_gpu=not args.cpu,
                 processes=max(1, args.processes))
    summary("split", started, lang=args.lang, splitter=record["used"], documents=record["documents"],
            sentences=record["sentences"], fallback=record["fallback"] or "-")
    return 0

"""Throughput of the corpus stages against the bare libraries they wrap, measured in one run.

1. A demo dump of at least ``--size-mb`` MB of XML (``langtickets make-demo dump``; real MediaWiki format).
2. Extraction MB/s (XML bytes per wall second): ``langtickets extract --processes N`` against bare
   WikiExtractor, its own command line with one extraction process (``--no-templates --json``; it still
   expands templates without definitions, as our stage does, so both clean the same way). Our stage with
   one process is timed too, to separate the gain of parallel workers from the rest. Goal: >= 1.5x on 2 cores.
3. Sentence splitting on the same documents (the first ``--split-mb`` MB of text): the split stage
   end to end (read docs.jsonl.gz, normalise, split, write sentences.txt.gz; one process as the rule runs
   it, and ``--processes N``) against bare ``sentence_splitter.SentenceSplitter.split`` on each paragraph
   already in memory. Goal: >= 0.9x.

Extraction commands run in turn ``--repeats`` times and the best wall time counts. On a shared machine
whose scheduler gives each session an equal CPU share (Linux autogroup), extra worker processes cannot
show their gain while other sessions are busy: compare the CPU seconds then, and read the wall ratios
from a quiet machine (the report records the load average).
4. Tokenization: hook for ``benchmarks/tokenize_bench.py`` (another stage's benchmark), run when present.

    python benchmarks/corpus.py --size-mb 50            # scratch folder under /tmp, removed at the end
    python benchmarks/corpus.py --size-mb 50 --keep     # keep it (and reuse its dump next time with --dump)
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "config" / "demo-languages.tsv"
LANG = "qaa"


def _langtickets(*args: str) -> list[str]:
    return [sys.executable, "-m", "langtickets", *args]


def _timed(command: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, CPU seconds of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def xml_bytes(dump: Path) -> int:
    """Decompressed size of a bz2 dump."""
    total = 0
    with bz2.open(dump, "rb") as handle:
        while chunk := handle.read(1 << 22):
            total += len(chunk)
    return total


def make_dump(scratch: Path, size_mb: float) -> Path:
    """Generate a demo dump of at least ``size_mb`` MB of XML (sized from a small calibration dump)."""
    probe = scratch / "probe.xml.bz2"
    subprocess.run(_langtickets("make-demo", "dump", "--table", str(TABLE), "--lang", LANG, "--seed", "1",
                                "--documents", "200", "--out", str(probe)), check=True, stderr=subprocess.DEVNULL)
    documents = int(size_mb * 1e6 / (xml_bytes(probe) / 200) * 1.05) + 1
    dump = scratch / f"{LANG}wiki-bench-pages-articles.xml.bz2"
    print(f"generating {documents} documents ...", file=sys.stderr)
    subprocess.run(_langtickets("make-demo", "dump", "--table", str(TABLE), "--lang", LANG, "--seed", "1",
                                "--documents", str(documents), "--out", str(dump)), check=True)
    return dump


def bench_extract(dump: Path, scratch: Path, processes: int, size: int, repeats: int) -> dict:
    """Wall time and MB/s of our extract (N and 1 processes) and of bare single-process WikiExtractor.

    The three commands run in turn ``repeats`` times and the best wall time of each is kept, so load from
    other processes on a shared machine disturbs the ratio less; CPU seconds show the work done.
    """
    runs = {
        f"ours_{processes}proc": _langtickets("extract", "--lang", LANG, "--dump", str(dump), "--docs",
                                              str(scratch / "docs.jsonl.gz"), "--stats", str(scratch / "stats.json"),
                                              "--processes", str(processes), "--min-chars", "0"),
        "ours_1proc": _langtickets("extract", "--lang", LANG, "--dump", str(dump), "--docs",
                                   str(scratch / "docs1.jsonl.gz"), "--stats", str(scratch / "stats1.json"),
                                   "--processes", "1", "--min-chars", "0"),
        "wikiextractor_1proc": [sys.executable, "-m", "wikiextractor.WikiExtractor", str(dump), "--no-templates",
                                "--processes", "1", "--json", "-q", "-o", str(scratch / "wikiextractor")],
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, command in runs.items():
            shutil.rmtree(scratch / "wikiextractor", ignore_errors=True)
            times[name].append(_timed(command))
            print(f"  {name}: wall {times[name][-1][0]:.1f}s cpu {times[name][-1][1]:.1f}s", file=sys.stderr)
    result = {}
    for name, measured in times.items():
        wall, cpu = min(measured)
        result[name] = {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                        "mb_per_s": round(size / 1e6 / wall, 2)}
    base = result["wikiextractor_1proc"]["seconds"]
    result["ratio"] = round(base / result[f"ours_{processes}proc"]["seconds"], 2)
    result["ratio_1proc"] = round(base / result["ours_1proc"]["seconds"], 2)
    return result


def _first_docs(docs: Path, limit_bytes: int, out: Path) -> list[str]:
    """Copy documents from ``docs`` into ``out`` until ``limit_bytes`` of text; return their texts."""
    texts, size = [], 0
    with gzip.open(docs, "rt", encoding="utf-8") as source, gzip.open(out, "wt", encoding="utf-8") as sink:
        for line in source:
            texts.append(json.loads(line)["text"])
            sink.write(line)
            size += len(texts[-1].encode("utf-8"))
            if size >= limit_bytes:
                break
    return texts


def bench_split(docs: Path, scratch: Path, split_mb: float, processes: int) -> dict:
    """Sentences/s of the split stage (1 and N processes) against bare sentence-splitter on the same documents."""
    from sentence_splitter import SentenceSplitter

    subset = scratch / "split-docs.jsonl.gz"
    texts = _first_docs(docs, int(split_mb * 1e6), subset)
    result: dict = {"documents": len(texts)}
    for count in sorted({1, processes}):
        stats = scratch / "split_stats.json"
        wall, cpu = _timed(_langtickets("split", "--lang", LANG, "--splitter", "moses", "--table", str(TABLE),
                                        "--docs", str(subset), "--out", str(scratch / "sentences.txt.gz"),
                                        "--stats", str(stats), "--processes", str(count)))
        sentences = json.loads(stats.read_text())["sentences"]
        result[f"ours_{count}proc"] = {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                                       "sentences": sentences, "sentences_per_s": round(sentences / wall)}
    bare_splitter = SentenceSplitter(language="en")
    started, cpu_started = time.perf_counter(), time.process_time()
    bare = sum(len(bare_splitter.split(line)) for text in texts for line in text.split("\n") if line.strip())
    bare_wall, bare_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    result["bare_sentence_splitter"] = {"seconds": round(bare_wall, 2), "cpu_seconds": round(bare_cpu, 2),
                                        "sentences": bare, "sentences_per_s": round(bare / bare_wall)}
    for count in sorted({1, processes}):
        ours = result[f"ours_{count}proc"]
        bare_rate = result["bare_sentence_splitter"]["sentences_per_s"]
        result[f"ratio_{count}proc"] = round(ours["sentences_per_s"] / bare_rate, 2)
    ours = result["ours_1proc"]
    result["cpu_ratio_1proc"] = round((ours["sentences"] / ours["cpu_seconds"]) / (bare / bare_cpu), 2)
    return result


def bench_tokenize_section(scratch: Path) -> dict | None:
    """HOOK: the tokenization section, from benchmarks/tokenize_bench.py when that file is present."""
    try:
        from tokenize_bench import bench_tokenize  # benchmarks/ is on sys.path when run as a script
    except ImportError:
        return None
    sentences, tokenizer = scratch / "sentences.txt.gz", scratch / "tokenizer.json"
    subprocess.run(_langtickets("train-vocab", "--langs", LANG, "--sentences", str(sentences), "--tokenizer",
                                str(tokenizer), "--sampling", str(scratch / "sampling.json"), "--size", "4000",
                                "--sample-sentences", "50000"), check=True, stderr=subprocess.DEVNULL)
    return bench_tokenize(sentences, tokenizer, repeats=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=50.0, help="minimum XML size of the generated dump")
    parser.add_argument("--split-mb", type=float, default=5.0, help="MB of extracted text to split")
    parser.add_argument("--processes", type=int, default=2, help="extraction processes of our stage")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each extraction command (best kept)")
    parser.add_argument("--dump", type=Path, default=None, help="reuse this dump instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="langtickets-bench-corpus-"))
    try:
        dump = args.dump or make_dump(scratch, args.size_mb)
        size = xml_bytes(dump)
        report = {"dump": str(dump), "xml_mb": round(size / 1e6, 1), "lbzip2": bool(shutil.which("lbzip2")),
                  "cores": os.cpu_count(), "load_average_before": os.getloadavg()}
        print(f"dump: {report['xml_mb']} MB of XML", file=sys.stderr)
        report["extract"] = bench_extract(dump, scratch, args.processes, size, max(1, args.repeats))
        report["split"] = bench_split(scratch / "docs.jsonl.gz", scratch, args.split_mb, args.processes)
        report["tokenize"] = bench_tokenize_section(scratch)
        report["load_average_after"] = os.getloadavg()
        print(json.dumps(report, indent=2))
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

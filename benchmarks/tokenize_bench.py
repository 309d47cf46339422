"""Throughput of the tokenize stage against bare ``tokenizers`` batch encoding of the same sentences.

The stage (``langtickets.tokens.tokenize_language``) is timed end to end: reading and counting the gzip
file, the document split, encoding, and writing the packed streams and meta.json. The baselines only call
``Tokenizer.encode_batch`` (and ``encode_batch_fast``, which skips character offsets) on the sentences
already in memory, in batches of the same size, and count tokens. Runs alternate and the best of
``repeats`` is kept for each, so load from other processes on the machine disturbs the ratio less.

    python benchmarks/tokenize_bench.py --sentences results/corpus/en/sentences.txt.gz \
        --tokenizer results/vocab/tokenizer.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tokenizers import Tokenizer

from langtickets.sentences import iter_sentences
from langtickets.tokens import TokenizeConfig, tokenize_language


def _time_stage(sentences_path: Path, tokenizer_path: Path, batch_size: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="tokenize-bench-") as folder:
        out = Path(folder)
        config = TokenizeConfig(
            lang="bench", sentences=sentences_path, tokenizer=tokenizer_path, train=out / "train.bin",
            valid=out / "valid.bin", meta=out / "meta.json", batch_size=batch_size,
        )
        started, cpu = time.perf_counter(), time.process_time()
        meta = tokenize_language(config)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    # sub-word tokens only: the [SEP] after each document is ours, the baselines have none
    return seconds, cpu, sum(split["tokens"] - split["documents"] for split in meta["splits"].values())


def _time_bare(encode: Callable, sentences: list[str], batch_size: int) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), time.process_time()
    tokens = 0
    for first in range(0, len(sentences), batch_size):
        encodings = encode(sentences[first : first + batch_size], add_special_tokens=False)
        tokens += sum(len(encoding) for encoding in encodings)
    return time.perf_counter() - started, time.process_time() - cpu, tokens


def bench_tokenize(sentences_path: str | Path, tokenizer_path: str | Path, batch_size: int = 2000,
                   repeats: int = 3) -> dict:
    """Measure tokens/s of the tokenize stage and of bare ``encode_batch`` / ``encode_batch_fast``.

    Returns a dict with ``sentences``, ``tokens``, per method ``{seconds, cpu_seconds, tokens_per_s}``
    (best of ``repeats``), and the tokens/s ratios ``ratio`` (stage / bare encode_batch) and
    ``ratio_vs_fast`` (stage / bare encode_batch_fast), on wall time and (``cpu_ratio*``) on CPU time of
    all threads, which other processes on a shared machine disturb less.
    """
    sentences_path, tokenizer_path = Path(sentences_path), Path(tokenizer_path)
    sentences = list(iter_sentences(sentences_path))
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    runs: dict[str, list[tuple[float, float, int]]] = {"stage": [], "encode_batch": [], "encode_batch_fast": []}
    for _ in range(repeats):
        runs["stage"].append(_time_stage(sentences_path, tokenizer_path, batch_size))
        runs["encode_batch"].append(_time_bare(tokenizer.encode_batch, sentences, batch_size))
        runs["encode_batch_fast"].append(_time_bare(tokenizer.encode_batch_fast, sentences, batch_size))
    counts = {tokens for times in runs.values() for _, _, tokens in times}
    if len(counts) != 1:
        raise RuntimeError(f"token counts differ between methods: {sorted(counts)}")
    tokens = counts.pop()
    wall = {name: min(run[0] for run in times) for name, times in runs.items()}
    cpu = {name: min(run[1] for run in times) for name, times in runs.items()}
    return {
        "sentences": len(sentences),
        "tokens": tokens,
        "batch_size": batch_size,
        "repeats": repeats,
        **{
            name: {"seconds": round(wall[name], 3), "cpu_seconds": round(cpu[name], 3),
                   "tokens_per_s": round(tokens / wall[name])}
            for name in runs
        },
        # tokens/s ratios: stage over baseline = baseline time over stage time
        "ratio": round(wall["encode_batch"] / wall["stage"], 3),
        "ratio_vs_fast": round(wall["encode_batch_fast"] / wall["stage"], 3),
        "cpu_ratio": round(cpu["encode_batch"] / cpu["stage"], 3),
        "cpu_ratio_vs_fast": round(cpu["encode_batch_fast"] / cpu["stage"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", required=True, type=Path, help="a sentences.txt.gz file")
    parser.add_argument("--tokenizer", required=True, type=Path, help="a tokenizer.json")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(bench_tokenize(args.sentences, args.tokenizer, args.batch_size, args.repeats), indent=2))


if __name__ == "__main__":
    main()

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


def _time_stage(sentences_path: Path, tokenizer_path: Path, batch_size: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="tokenize-bench-") as folder:
        out = Path(folder)
        config = TokenizeConfig(
            lang="bench", sentences=sentences_path, tokenizer=tokenizer_path, train=out / "train.bin",
            valid=out / "valid.bin", meta=out / "meta.json", batch_size=batch_size,
        )
        started = time.perf_counter()
        meta = tokenize_language(config)
        seconds = time.perf_counter() - started
    # sub-word tokens only: the [SEP] after each document is ours, the baselines have none
    return seconds, sum(split["tokens"] - split["documents"] for split in meta["splits"].values())


def _time_bare(encode: Callable, sentences: list[str], batch_size: int) -> tuple[float, int]:
    started = time.perf_counter()
    tokens = 0
    for first in range(0, len(sentences), batch_size):
        tokens += sum(len(encoding) for encoding in encode(sentences[first : first + batch_size], add_special_tokens=False))
    return time.perf_counter() - started, tokens


def bench_tokenize(sentences_path: str | Path, tokenizer_path: str | Path, batch_size: int = 2000,
                   repeats: int = 3) -> dict:
    """Measure tokens/s of the tokenize stage and of bare ``encode_batch`` / ``encode_batch_fast``.

    Returns a dict with ``sentences``, ``tokens``, per method ``{seconds, tokens_per_s}``, and
    ``ratio`` (stage / bare encode_batch) and ``ratio_vs_fast`` (stage / bare encode_batch_fast).
    """
    sentences_path, tokenizer_path = Path(sentences_path), Path(tokenizer_path)
    sentences = list(iter_sentences(sentences_path))
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    runs: dict[str, list[tuple[float, int]]] = {"stage": [], "encode_batch": [], "encode_batch_fast": []}
    for _ in range(repeats):
        runs["stage"].append(_time_stage(sentences_path, tokenizer_path, batch_size))
        runs["encode_batch"].append(_time_bare(tokenizer.encode_batch, sentences, batch_size))
        runs["encode_batch_fast"].append(_time_bare(tokenizer.encode_batch_fast, sentences, batch_size))
    best = {name: min(times) for name, times in runs.items()}
    if len({tokens for _, tokens in best.values()}) != 1:
        raise RuntimeError(f"token counts differ between methods: {best}")
    rate = {name: tokens / seconds for name, (seconds, tokens) in best.items()}
    return {
        "sentences": len(sentences),
        "tokens": best["stage"][1],
        "batch_size": batch_size,
        "repeats": repeats,
        **{name: {"seconds": round(best[name][0], 4), "tokens_per_s": round(rate[name])} for name in best},
        "ratio": round(rate["stage"] / rate["encode_batch"], 3),
        "ratio_vs_fast": round(rate["stage"] / rate["encode_batch_fast"], 3),
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

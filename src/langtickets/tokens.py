"""tokenize: one language's sentences -> packed, memory-mappable token-id streams train.bin / valid.bin.

Documents (not sentences) are split between train and validation with a seeded RNG, so no document
straddles the two. A language whose text is one document (a wiki with a single article) cannot be split that
way; its last sentences are held out instead, a contiguous block at the end, so no sentence is in both
streams (``validation_unit`` in ``meta.json`` says which rule applied).

Each stream is the concatenation, document by document, of its sentences' sub-word ids (no special tokens)
with the ``[SEP]`` id after every document; ids are little-endian ``uint16`` when the vocabulary has at most
65535 entries, else ``uint32``. ``meta.json`` records the format, the tokenizer's SHA-256, its special ids and
the counts. Pretraining and SNIP read the streams through :class:`TokenShard`, which hands out random
contiguous windows (to be wrapped as ``[CLS] window [SEP]``).

``--tokenizer`` takes the project's ``tokenizer.json`` (train-vocab); ``--hf-tokenizer`` instead takes an
external model's own fast tokenizer, a Hugging Face hub name (needs a network or a filled cache) or a local
folder saved by ``save_pretrained``, so sparse fine-tunings of e.g. mBERT or XLM-R train on that model's
vocabulary. Its special ids are the tokenizer's own (XLM-R's ``<s>``, ``</s>``, ``<pad>``), and ``meta.json``
names its source; the SHA-256 is that of the folder's ``tokenizer.json`` (what :func:`check_tokenizer`
compares) or, for a hub name, of the tokenizer's serialisation.

The name is ``tokens`` so it does not shadow the standard library's ``tokenize`` module.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from langtickets.cli import summary
from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, read_json, write_json
from langtickets.seeding import derive_seed
from langtickets.sentences import count_corpus, iter_documents
from langtickets.vocab import load_given, special_ids

FORMAT = "langtickets-tokens/1"
UINT16_MAX_VOCAB = 65535
SPLITS = ("train", "valid")


@dataclass(frozen=True)
class TokenizeConfig:
    """Everything the tokenize stage needs, as given on the command line."""

    lang: str
    sentences: Path
    tokenizer: Path | None
    train: Path
    valid: Path
    meta: Path
    hf_tokenizer: str | None = None  # an external model's tokenizer (hub name or folder) instead of tokenizer.json
    validation_fraction: float = 0.05
    max_train_tokens: int = 0
    seed: int = 0
    batch_size: int = 2000

    def __post_init__(self) -> None:
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"--validation-fraction {self.validation_fraction} must lie strictly between 0 and 1")
        if self.max_train_tokens < 0:
            raise ConfigError(f"--max-train-tokens {self.max_train_tokens} is negative; use 0 for no cap")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size} must be positive")
        if (self.tokenizer is None) == (self.hf_tokenizer is None):
            raise ConfigError("give exactly one of --tokenizer (tokenizer.json) and --hf-tokenizer (hub name, folder)")


def stream_dtype(vocab_size: int) -> np.dtype:
    """Little-endian ``uint16`` for vocabularies of at most 65535 entries, else ``uint32``."""
    return np.dtype("<u2") if vocab_size <= UINT16_MAX_VOCAB else np.dtype("<u4")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the tokenizer fingerprint stored in meta.json)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def held_out_count(items: int, fraction: float) -> int:
    """How many of ``items`` go to validation: ``round(fraction * items)``, at least one when there are two
    or more, and never all of them."""
    return 0 if items < 2 else min(items - 1, max(1, round(fraction * items)))


def choose_validation(documents: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the validation documents, :func:`held_out_count` of them chosen with ``rng``."""
    mask = np.zeros(documents, dtype=bool)
    mask[rng.choice(documents, size=held_out_count(documents, fraction), replace=False)] = True
    return mask


@dataclass(frozen=True)
class SplitPlan:
    """Which text is validation: ``documents`` marks whole documents; for a language of one document,
    ``tail`` > 0 instead holds out that document's last ``tail`` sentences."""

    documents: np.ndarray
    tail: int = 0

    @classmethod
    def choose(cls, documents: int, sentences: int, fraction: float, rng: np.random.Generator) -> SplitPlan:
        tail = held_out_count(sentences, fraction) if documents == 1 else 0
        return cls(choose_validation(documents, fraction, rng), tail)

    @property
    def unit(self) -> str:
        return "sentences" if self.tail else "documents"


@dataclass
class SplitWriter:
    """Appends documents to one packed stream and keeps its counts; ``cap`` 0 means unlimited."""

    handle: BinaryIO
    dtype: np.dtype
    sep_id: int
    unk_id: int
    cap: int = 0
    documents: int = 0
    sentences: int = 0
    tokens: int = 0
    unk_tokens: int = 0
    full: bool = False
    truncated: bool = False
    dropped: int = 0

    def add(self, ids: np.ndarray, sentences: int) -> None:
        """Write one document's ids followed by [SEP], unless the cap is reached (then count it dropped).

        The cap cuts at a document boundary; only a first document longer than the cap is cut inside.
        """
        if self.full:
            self.dropped += 1
            return
        if self.cap and self.tokens + len(ids) + 1 > self.cap:
            self.full = True
            if self.tokens:
                self.dropped += 1
                return
            ids, self.truncated = ids[: self.cap - 1], True
        self.handle.write(ids.astype(self.dtype, copy=False).tobytes())
        self.handle.write(np.array([self.sep_id], dtype=self.dtype).tobytes())
        self.documents += 1
        self.sentences += sentences
        self.tokens += len(ids) + 1
        self.unk_tokens += int(np.count_nonzero(ids == self.unk_id))

    def counts(self) -> dict:
        """Counts for meta.json; ``unk_rate`` is over sub-word tokens, the [SEP] separators excluded."""
        subwords = self.tokens - self.documents
        return {
            "documents": self.documents,
            "sentences": self.sentences,
            "tokens": self.tokens,
            "unk_tokens": self.unk_tokens,
            "unk_rate": self.unk_tokens / subwords if subwords else 0.0,
        }


@dataclass
class _Batch:
    """Sentences waiting to be encoded, and which split each pending document goes to."""

    sentences: list[str] = field(default_factory=list)
    documents: list[tuple[SplitWriter, int]] = field(default_factory=list)


def _write_batch(encodings: list, batch: _Batch) -> None:
    """Hand each document of an encoded batch (its sentences' ids concatenated) to its split's writer."""
    lengths = np.fromiter((len(encoding) for encoding in encodings), dtype=np.int64, count=len(encodings))
    ends = np.cumsum(lengths)
    flat = np.fromiter(chain.from_iterable(encoding.ids for encoding in encodings), dtype=np.int64,
                       count=int(ends[-1]) if len(ends) else 0)
    first = 0
    for writer, sentences in batch.documents:
        start = int(ends[first - 1]) if first else 0
        writer.add(flat[start : int(ends[first + sentences - 1])], sentences)
        first += sentences


def open_tokenizer(path: Path) -> tuple[Tokenizer, dict[str, int]]:
    """Load tokenizer.json for encoding: truncation and padding off, the BERT special ids checked."""
    tokenizer = load_given(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer, special_ids(tokenizer, path)


@dataclass(frozen=True)
class OpenedTokenizer:
    """A tokenizer ready to encode, its special ids and its identity for meta.json."""

    tokenizer: Tokenizer
    ids: dict[str, int]
    sha256: str
    source: str | None = None  # the hub name or folder of an external model's tokenizer


def open_hf_tokenizer(source: str) -> OpenedTokenizer:
    """An external model's fast tokenizer (hub name or ``save_pretrained`` folder) for encoding.

    A folder loads offline; a hub name needs a network or a filled HF_HOME cache.
    """
    from transformers import AutoTokenizer  # heavy import, only for external tokenizers

    folder = Path(source)
    try:
        loaded = AutoTokenizer.from_pretrained(source, use_fast=True, local_files_only=folder.exists())
    except (OSError, ValueError) as error:
        raise ConfigError(f"--hf-tokenizer {source}: cannot load a tokenizer ({str(error).splitlines()[0]}); give a "
                          "model folder saved with save_pretrained, or a hub name with a network or cache") from None
    if not getattr(loaded, "is_fast", False):
        raise ConfigError(f"--hf-tokenizer {source}: no fast (tokenizers) version; save one with save_pretrained")
    roles = {"pad": loaded.pad_token_id, "unk": loaded.unk_token_id, "cls": loaded.cls_token_id,
             "sep": loaded.sep_token_id, "mask": loaded.mask_token_id}  # fmt: skip
    missing = [role for role, value in roles.items() if value is None]
    if missing:
        raise InputError(source, f"the tokenizer has no {'/'.join(missing)} token", "use a masked-LM tokenizer")
    tokenizer = Tokenizer.from_str(loaded.backend_tokenizer.to_str())  # a copy: the settings below stay ours
    tokenizer.no_truncation()
    tokenizer.no_padding()
    file = folder / "tokenizer.json"
    sha = file_sha256(file) if file.is_file() else hashlib.sha256(tokenizer.to_str().encode()).hexdigest()
    return OpenedTokenizer(tokenizer, {role: int(value) for role, value in roles.items()}, sha, source)


def _open(config: TokenizeConfig) -> OpenedTokenizer:
    if config.hf_tokenizer is not None:
        return open_hf_tokenizer(config.hf_tokenizer)
    tokenizer, ids = open_tokenizer(config.tokenizer)
    return OpenedTokenizer(tokenizer, ids, file_sha256(config.tokenizer))


def _document_batches(config: TokenizeConfig, writers: Mapping[str, SplitWriter], plan: SplitPlan,
                       bar: tqdm) -> Iterator[_Batch]:
    """Group documents into batches of about ``batch_size`` sentences, routed to their split by ``plan``."""
    batch = _Batch()
    validation, tail = plan.documents, plan.tail
    remaining_valid = int(validation.sum())
    for index, document in enumerate(iter_documents(config.sentences)):
        bar.update(len(document))
        if tail:
            parts = [(writers["train"], document[:-tail]), (writers["valid"], document[-tail:])]
        else:
            parts = [(writers["valid"] if validation[index] else writers["train"], document)]
            remaining_valid -= bool(validation[index])
        for writer, part in parts:
            if writer.full:  # capped train stream: do not spend time encoding what is dropped
                writer.dropped += 1
            else:
                batch.sentences.extend(part)
                batch.documents.append((writer, len(part)))
        if len(batch.sentences) >= config.batch_size:
            yield batch
            batch = _Batch()
        if writers["train"].full and remaining_valid == 0:  # nothing left to write: skip the rest of the file
            writers["train"].dropped += len(validation) - index - 1
            break
    if batch.sentences:
        yield batch


def _encode_documents(config: TokenizeConfig, tokenizer: Tokenizer, writers: Mapping[str, SplitWriter],
                      plan: SplitPlan, sentences: int) -> None:
    # encode_batch_fast (no character offsets) releases the GIL, so one worker thread encodes batch k while
    # this thread reads batch k+1 and writes batch k-1. Writes stay in file order, so the output does not
    # depend on timing.
    pending: tuple[Future, _Batch] | None = None
    with (tqdm(total=sentences, unit="sent", desc=f"tokenize {config.lang}", file=sys.stderr, mininterval=2) as bar,
          ThreadPoolExecutor(max_workers=1) as pool):
        for batch in _document_batches(config, writers, plan, bar):
            future = pool.submit(tokenizer.encode_batch_fast, batch.sentences, add_special_tokens=False)
            if pending is not None:
                _write_batch(pending[0].result(), pending[1])
            pending = (future, batch)
        if pending is not None:
            _write_batch(pending[0].result(), pending[1])


def _meta(config: TokenizeConfig, writers: Mapping[str, SplitWriter], vocab_size: int, opened: OpenedTokenizer,
          dtype: np.dtype, plan: SplitPlan) -> dict:
    splits = {name: writer.counts() for name, writer in writers.items()}
    subwords = sum(split["tokens"] - split["documents"] for split in splits.values())
    unk = sum(split["unk_tokens"] for split in splits.values())
    meta_dir = config.meta.resolve().parent
    meta = {
        "format": FORMAT,
        "lang": config.lang,
        "dtype": "uint16" if dtype.itemsize == 2 else "uint32",
        "byteorder": "little",
        "vocab_size": vocab_size,
        "tokenizer_sha256": opened.sha256,
        "special_ids": dict(opened.ids),
        "files": {"train": _relative(config.train, meta_dir), "valid": _relative(config.valid, meta_dir)},
        "splits": splits,
        "unk_rate": unk / subwords if subwords else 0.0,
        "dropped_train_documents": writers["train"].dropped,
        "truncated_train_document": writers["train"].truncated,
        "validation_fraction": config.validation_fraction,
        "validation_unit": plan.unit,
        "max_train_tokens": config.max_train_tokens,
        "seed": config.seed,
    }
    if opened.source is not None:
        meta["tokenizer_source"] = opened.source
    return meta


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), folder)).as_posix()


def tokenize_language(config: TokenizeConfig) -> dict:
    """Run the stage for one language; write train.bin, valid.bin and meta.json; return the meta."""
    opened = _open(config)
    tokenizer, ids = opened.tokenizer, opened.ids
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    dtype = stream_dtype(vocab_size)
    counts = count_corpus(config.sentences)
    if counts.sentences == 0:
        raise InputError(config.sentences, f"no sentences for language '{config.lang}'",
                         "check the corpus stages' output for this language or remove it from the config")
    rng = np.random.default_rng(derive_seed(config.seed, "tokenize", config.lang))
    plan = SplitPlan.choose(counts.documents, counts.sentences, config.validation_fraction, rng)
    with contextlib.ExitStack() as stack:
        writers = {
            name: SplitWriter(
                handle=stack.enter_context(open(stack.enter_context(atomic_path(path)), "wb")),
                dtype=dtype, sep_id=ids["sep"], unk_id=ids["unk"],
                cap=config.max_train_tokens if name == "train" else 0,
            )
            for name, path in (("train", config.train), ("valid", config.valid))
        }
        _encode_documents(config, tokenizer, writers, plan, counts.sentences)
    meta = _meta(config, writers, vocab_size, opened, dtype, plan)
    write_json(config.meta, meta)
    return meta


def _read_meta(path: Path) -> dict:
    try:
        meta = read_json(path)
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read token metadata ({error})", "re-run the tokenize stage") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(path, f"not a {FORMAT} metadata file", "re-run the tokenize stage")
    return meta


def _map_stream(path: Path, dtype: np.dtype, tokens: int, meta_path: Path) -> np.ndarray:
    if not path.is_file() or path.stat().st_size != tokens * dtype.itemsize:
        raise InputError(path, f"missing or not {tokens} {dtype.name} ids long as {meta_path} says",
                         "re-run the tokenize stage")
    if tokens == 0:  # numpy cannot map an empty file
        empty = np.zeros(0, dtype=dtype)
        empty.flags.writeable = False
        return empty
    return np.memmap(path, dtype=dtype, mode="r", shape=(tokens,))


@dataclass(frozen=True, eq=False)
class TokenShard:
    """One language's token streams, memory-mapped read-only, with their meta.json."""

    meta: dict
    train: np.ndarray
    valid: np.ndarray
    meta_path: Path

    @classmethod
    def open(cls, path: str | Path) -> TokenShard:
        """Open a tokens folder (holding meta.json) or a meta.json path."""
        path = Path(path)
        meta_path = path / "meta.json" if path.is_dir() else path
        meta = _read_meta(meta_path)
        dtype = np.dtype("<u2") if meta["dtype"] == "uint16" else np.dtype("<u4")
        streams = {
            name: _map_stream(meta_path.parent / meta["files"][name], dtype, meta["splits"][name]["tokens"],
                              meta_path)
            for name in SPLITS
        }
        return cls(meta=meta, train=streams["train"], valid=streams["valid"], meta_path=meta_path)

    @property
    def special_ids(self) -> dict[str, int]:
        return dict(self.meta["special_ids"])

    def stream(self, split: str) -> np.ndarray:
        """The ``train`` or ``valid`` id stream."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        return self.train if split == "train" else self.valid

    def windows(self, split: str, length: int, count: int, rng: np.random.Generator | int) -> np.ndarray:
        """``count`` random contiguous windows of ``length`` ids, as an int64 array ``(count, length)``.

        Start positions are uniform over the stream (windows may span document boundaries, where the
        [SEP] id marks them). ``rng`` is a NumPy Generator or a seed.
        """
        stream = self.stream(split)
        if len(stream) < length:
            raise InputError(self.meta_path, f"the {split} stream of '{self.meta['lang']}' has {len(stream)} "
                             f"tokens, fewer than the window length {length}",
                             "use a shorter sequence length, more text or a larger validation fraction")
        rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
        starts = rng.integers(0, len(stream) - length + 1, size=count)
        return stream[starts[:, None] + np.arange(length)].astype(np.int64)  # (count, length)

    def iter_windows(self, split: str, length: int, batch: int,
                     rng: np.random.Generator | int) -> Iterator[np.ndarray]:
        """Endless iterator of ``(batch, length)`` window batches from one seeded generator."""
        rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
        while True:
            yield self.windows(split, length, batch, rng)


def check_tokenizer(meta: Mapping | TokenShard | str | Path, tokenizer_path: str | Path) -> None:
    """Raise :class:`InputError` unless ``tokenizer_path`` is the tokenizer the tokens were made with.

    ``meta`` is a meta.json mapping, its path or folder, or a :class:`TokenShard`; ``tokenizer_path`` a
    tokenizer.json or a folder holding one (e.g. a model saved with ``save_pretrained``).
    """
    if isinstance(meta, TokenShard):
        meta = meta.meta
    elif not isinstance(meta, Mapping):
        meta = TokenShard.open(meta).meta
    path = Path(tokenizer_path)
    path = path / "tokenizer.json" if path.is_dir() else path
    if not path.is_file():
        raise InputError(path, "tokenizer file not found", "pass the tokenizer.json the tokens were made with")
    sha = file_sha256(path)
    if sha != meta["tokenizer_sha256"]:
        raise InputError(path, f"this tokenizer (sha256 {sha[:12]}) does not match the one the '{meta['lang']}' "
                         f"tokens were made with (sha256 {meta['tokenizer_sha256'][:12]})",
                         "use the vocabulary of the same run, or re-run tokenize with this tokenizer")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets tokenize", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", required=True, help="language code (recorded in meta.json; seeds the split)")
    parser.add_argument("--sentences", required=True, type=Path, help="sentences.txt.gz of the language")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--tokenizer", type=Path, help="tokenizer.json from train-vocab")
    given.add_argument("--hf-tokenizer", help="an external model's tokenizer instead: hub name or local model folder")
    parser.add_argument("--train", required=True, type=Path, help="output train.bin")
    parser.add_argument("--valid", required=True, type=Path, help="output valid.bin")
    parser.add_argument("--meta", required=True, type=Path, help="output meta.json")
    parser.add_argument("--validation-fraction", type=float, default=0.05,
                        help="share of documents held out (of sentences, for a one-document language)")
    parser.add_argument("--max-train-tokens", type=int, default=0, help="cap on the train stream (0 = none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the document split")
    parser.add_argument("--batch-size", type=int, default=2000, help="sentences per encode_batch call")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = TokenizeConfig(**{name: getattr(args, name) for name in TokenizeConfig.__dataclass_fields__})
    meta = tokenize_language(config)
    train, valid = meta["splits"]["train"], meta["splits"]["valid"]
    summary("tokenize", started, lang=config.lang, dtype=meta["dtype"], train_tokens=train["tokens"],
            valid_tokens=valid["tokens"], train_docs=train["documents"], valid_docs=valid["documents"],
            unk_rate=f"{meta['unk_rate']:.4f}")
    return 0

"""train-vocab: one shared WordPiece vocabulary over all languages (or a given one).

The vocabulary is trained, as for multilingual BERT and in the multilingual-tickets paper (section 4.1,
where low-resource languages are over-sampled with smoothing factor 0.7), on sentences drawn with
exponentially smoothed language probabilities: with ``n_i`` sentences in language ``i``, its share is
``p_i = n_i / sum_j n_j`` and its sampling probability ``q_i = p_i**alpha / sum_j p_j**alpha``. Language
``i`` contributes ``round(q_i * total)`` sentences, drawn with a seeded RNG from its file (with replacement
only when the file has fewer). The Hugging Face ``tokenizers`` BERT pipeline is used throughout; the
special tokens always take ids ``[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4`` in a trained vocabulary.

Determinism: the ``tokenizers`` WordPiece trainer numbers the ``##``-continuation characters in the
iteration order of a randomly seeded Rust hash map, and those numbers break ties between merges of equal
count, so two runs on the same text give different vocabularies whatever ``RAYON_NUM_THREADS`` is. We
therefore train twice: a first pass with no merges only collects the set of continuation tokens, and the
second pass registers them up front in code-point order, which fixes every id and every tie. The result
is byte-identical across runs and thread counts (tests/test_vocab.py checks it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tqdm import tqdm

from langtickets.cli import summary
from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, write_json
from langtickets.seeding import derive_seed
from langtickets.sentences import count_corpus, iter_sentences

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

#: BERT's special tokens, in the order that fixes their ids 0..4 in a trained vocabulary
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
CONTINUATION = "##"
_ROLES = ("pad", "unk", "cls", "sep", "mask")


@dataclass(frozen=True)
class VocabConfig:
    """Everything the train-vocab stage needs, as given on the command line."""

    langs: tuple[str, ...]
    sentences: tuple[Path, ...]
    tokenizer: Path
    sampling: Path
    size: int = 8000
    alpha: float = 0.7
    sample_sentences: int = 200_000
    min_frequency: int = 2
    lowercase: bool = False
    seed: int = 0
    given: str | None = None

    def __post_init__(self) -> None:
        if len(self.langs) != len(self.sentences):
            raise ConfigError(
                f"--langs names {len(self.langs)} languages but --sentences gives {len(self.sentences)} files; "
                "pass one sentences file per language, in the same order"
            )
        if len(set(self.langs)) != len(self.langs):
            raise ConfigError(f"--langs repeats a language ({' '.join(self.langs)}); list each language once")
        if not self.langs:
            raise ConfigError("no languages given; pass --langs and --sentences")
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"--alpha {self.alpha} is outside (0, 1]; use e.g. 0.7 as in mBERT")
        if self.sample_sentences < 1 or self.size < len(SPECIAL_TOKENS) + 1 or self.min_frequency < 1:
            raise ConfigError("--sample-sentences, --size and --min-frequency must be positive (size > 5)")


@dataclass(frozen=True)
class LanguageSample:
    """One row of the sampling table: a language's size, share, smoothed probability and draw."""

    sentences: int
    share: float
    probability: float
    drawn: int


def smoothed_probabilities(counts: Mapping[str, int], alpha: float) -> dict[str, tuple[float, float]]:
    """Return ``lang -> (p_i, q_i)``: the share of sentences and the exponentially smoothed probability.

    ``q_i = p_i**alpha / sum_j p_j**alpha`` (mBERT; multilingual-tickets paper section 4.1). With
    ``alpha < 1`` low-resource languages get ``q_i > p_i``.
    """
    total = sum(counts.values())
    shares = {lang: count / total for lang, count in counts.items()}
    weights = {lang: share**alpha for lang, share in shares.items()}
    norm = sum(weights.values())
    return {lang: (shares[lang], weights[lang] / norm) for lang in counts}


def sampling_plan(counts: Mapping[str, int], alpha: float, total: int) -> dict[str, LanguageSample]:
    """Decide how many of ``total`` sentences each language contributes: ``round(q_i * total)``."""
    return {
        lang: LanguageSample(counts[lang], share, probability, round(probability * total))
        for lang, (share, probability) in smoothed_probabilities(counts, alpha).items()
    }


def draw_indices(available: int, drawn: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the sentences to draw; with replacement only when ``drawn > available``."""
    return np.sort(rng.choice(available, size=drawn, replace=drawn > available))


def iter_drawn(path: Path, indices: np.ndarray) -> Iterator[str]:
    """Stream ``path`` once and yield the sentences at ``indices`` (sorted; repeats yield repeats)."""
    unique, counts = np.unique(indices, return_counts=True)
    wanted, repeats = unique.tolist(), counts.tolist()  # Python ints: compared once per line of the file
    if not wanted:
        return
    cursor = 0
    for index, sentence in enumerate(iter_sentences(path)):
        if index == wanted[cursor]:
            for _ in range(repeats[cursor]):
                yield sentence
            cursor += 1
            if cursor == len(wanted):
                return


def count_languages(config: VocabConfig) -> dict[str, int]:
    """Sentences per language; an empty file is an :class:`InputError` naming it."""
    counts = {}
    for lang, path in zip(config.langs, config.sentences):
        counts[lang] = count_corpus(path).sentences
        if counts[lang] == 0:
            raise InputError(path, f"no sentences for language '{lang}'", "check the corpus stages' output "
                             "for this language or remove it from the config's languages")
    return counts


def bert_pipeline(lowercase: bool) -> Tokenizer:
    """An untrained BERT-style WordPiece tokenizer: normaliser, pre-tokeniser, [CLS]/[SEP] template, decoder."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix=CONTINUATION))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    tokenizer.decoder = decoders.WordPiece(prefix=CONTINUATION)
    return tokenizer


def _train_pass(files: list[str], size: int, min_frequency: int, lowercase: bool, fixed: Sequence[str]) -> Tokenizer:
    tokenizer = bert_pipeline(lowercase)
    trainer = trainers.WordPieceTrainer(
        vocab_size=size,
        min_frequency=min_frequency,
        special_tokens=list(fixed),
        continuing_subword_prefix=CONTINUATION,
        show_progress=False,
    )
    tokenizer.train(files, trainer)
    return tokenizer


def train_wordpiece(files: list[str], size: int, min_frequency: int = 2, lowercase: bool = False) -> Tokenizer:
    """Train a BERT WordPiece tokenizer on text files (one sentence a line), deterministically.

    Pass one (no merges) finds the ``##x`` continuation tokens; pass two pins them after the special
    tokens in code-point order, so hash-map order inside ``tokenizers`` can no longer change the result
    (see the module docstring). The returned tokenizer has only the five BERT special tokens as added
    tokens. The vocabulary can exceed ``size`` when the alphabet alone is larger.
    """
    alphabet = _train_pass(files, 1, min_frequency, lowercase, SPECIAL_TOKENS).get_vocab(with_added_tokens=False)
    pinned = sorted(token for token in alphabet if token.startswith(CONTINUATION))  # str order = code points
    trained = _train_pass(files, size, min_frequency, lowercase, (*SPECIAL_TOKENS, *pinned))
    # Rebuild around the trained vocabulary so the pinned ## tokens are ordinary vocabulary, not added tokens.
    tokenizer = bert_pipeline(lowercase)
    tokenizer.model = models.WordPiece(
        trained.get_vocab(with_added_tokens=False), unk_token="[UNK]", continuing_subword_prefix=CONTINUATION
    )
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def write_sample(config: VocabConfig, plan: Mapping[str, LanguageSample], out: Path) -> int:
    """Draw each language's sentences (seeded per language) into the text file ``out``; return the count."""
    written = 0
    with open(out, "w", encoding="utf-8", newline="\n") as handle:
        bar = tqdm(total=sum(row.drawn for row in plan.values()), unit="sent", desc="sample", file=sys.stderr)
        for lang, path in zip(config.langs, config.sentences):
            rng = np.random.default_rng(derive_seed(config.seed, "train-vocab", lang))
            for sentence in iter_drawn(path, draw_indices(plan[lang].sentences, plan[lang].drawn, rng)):
                handle.write(sentence + "\n")
                written += 1
                bar.update()
        bar.close()
    return written


def special_ids(tokenizer: Tokenizer, where: str | Path) -> dict[str, int]:
    """Ids of ``pad unk cls sep mask``; a tokenizer without all five BERT special tokens is an InputError."""
    ids = {role: tokenizer.token_to_id(token) for role, token in zip(_ROLES, SPECIAL_TOKENS)}
    missing = [token for role, token in zip(_ROLES, SPECIAL_TOKENS) if ids[role] is None]
    if missing:
        raise InputError(where, f"the tokenizer lacks the special token(s) {' '.join(missing)}",
                         "use a BERT-style WordPiece vocabulary with [PAD] [UNK] [CLS] [SEP] [MASK]")
    return ids


def load_given(name: str, lowercase: bool = False) -> Tokenizer:
    """Load an existing tokenizer: a ``tokenizer.json`` file, a WordPiece ``vocab.txt``, a folder holding
    either, or a Hugging Face hub name (through ``transformers.AutoTokenizer``; needs a network or cache).

    ``lowercase`` only applies to a bare ``vocab.txt``, which carries no normaliser of its own.
    """
    path = Path(name)
    if path.is_dir():
        for candidate in ("tokenizer.json", "vocab.txt"):
            if (path / candidate).is_file():
                return load_given(str(path / candidate), lowercase)
    if path.is_file():
        try:
            if path.suffix == ".txt":
                tokenizer = bert_pipeline(lowercase)
                tokenizer.model = models.WordPiece.from_file(str(path), unk_token="[UNK]")
                return tokenizer
            return Tokenizer.from_file(str(path))
        except Exception as error:  # tokenizers raises plain Exception for malformed files
            raise InputError(path, f"cannot load the tokenizer ({error})",
                             "pass a valid tokenizer.json or vocab.txt") from error
    return _load_from_hub(name)


def _load_from_hub(name: str) -> Tokenizer:
    from transformers import AutoTokenizer  # heavy import, only needed for hub names

    try:
        loaded = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"--given {name}: not a local tokenizer file or folder and could not be loaded from the Hugging Face "
            f"hub ({str(error).splitlines()[0]}); check the name, the network or HF_HOME cache, or pass a local path"
        ) from error
    backend = getattr(loaded, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(f"--given {name}: the hub tokenizer has no fast (tokenizers) version; pick another one")
    return backend


def load_tokenizer(path: str | Path, model_max_length: int | None = None) -> PreTrainedTokenizerFast:
    """Load ``tokenizer.json`` (or a folder saved by ``save_pretrained``) as a ``PreTrainedTokenizerFast``.

    The BERT special tokens are set, so ``pad_token_id`` etc. work, ``tokenizer(words,
    is_split_into_words=True).word_ids()`` gives the word alignment fine-tuning needs, and
    ``save_pretrained(folder)`` writes a folder ``AutoTokenizer.from_pretrained`` loads (its
    ``tokenizer.json`` keeps the same bytes, so :func:`langtickets.tokens.check_tokenizer` accepts it).
    """
    from transformers import PreTrainedTokenizerFast  # heavy import, kept out of the corpus jobs

    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(file, "tokenizer file not found", "run the train-vocab stage or pass the right path")
    special_ids(load_given(str(file)), file)
    extra = {} if model_max_length is None else {"model_max_length": model_max_length}
    roles = {f"{role}_token": token for role, token in zip(_ROLES, SPECIAL_TOKENS)}
    return PreTrainedTokenizerFast(tokenizer_file=str(file), **roles, **extra)


def sampling_table(config: VocabConfig, plan: Mapping[str, LanguageSample], tokenizer: Tokenizer) -> dict:
    """The content of sampling.json."""
    return {
        "alpha": config.alpha,
        "seed": config.seed,
        "sample_sentences": config.sample_sentences,
        "drawn": sum(row.drawn for row in plan.values()) if config.given is None else 0,
        "source": "trained" if config.given is None else "given",
        "given": config.given,
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "requested_vocab_size": config.size,
        "min_frequency": config.min_frequency,
        "lowercase": config.lowercase,
        "special_ids": special_ids(tokenizer, config.given or config.tokenizer),
        "languages": {
            lang: {
                "sentences": row.sentences,
                "share": row.share,
                "probability": row.probability,
                "drawn": row.drawn if config.given is None else 0,
            }
            for lang, row in plan.items()
        },
    }


def _train_on_sample(config: VocabConfig, plan: Mapping[str, LanguageSample]) -> Tokenizer:
    # The sample goes to a temporary text file next to the output: tokenizers reads files natively (fast) and
    # the two training passes then need no second draw; it is removed whatever happens.
    config.tokenizer.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=config.tokenizer.parent, prefix=".train-vocab-") as folder:
        sample = Path(folder) / "sample.txt"
        drawn = write_sample(config, plan, sample)
        print(f"training WordPiece (size {config.size}) on {drawn} sentences", file=sys.stderr)
        return train_wordpiece([str(sample)], config.size, config.min_frequency, config.lowercase)


def train_vocab(config: VocabConfig) -> dict:
    """Run the stage: count, sample, train (or load ``--given``), write tokenizer.json and sampling.json."""
    plan = sampling_plan(count_languages(config), config.alpha, config.sample_sentences)
    if config.given is not None:
        tokenizer = load_given(config.given, config.lowercase)
    else:
        tokenizer = _train_on_sample(config, plan)
    table = sampling_table(config, plan, tokenizer)
    with atomic_path(config.tokenizer) as tmp:
        tokenizer.save(str(tmp), pretty=True)
    write_json(config.sampling, table)
    return table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets train-vocab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--langs", nargs="+", required=True, help="language codes, in the order of --sentences")
    parser.add_argument("--sentences", nargs="+", required=True, type=Path, help="sentences.txt.gz per language")
    parser.add_argument("--tokenizer", required=True, type=Path, help="output tokenizer.json")
    parser.add_argument("--sampling", required=True, type=Path, help="output sampling.json")
    parser.add_argument("--size", type=int, default=8000, help="vocabulary size (default 8000)")
    parser.add_argument("--alpha", type=float, default=0.7, help="exponential smoothing factor (default 0.7)")
    parser.add_argument("--sample-sentences", type=int, default=200_000, help="sentences drawn in total")
    parser.add_argument("--min-frequency", type=int, default=2, help="minimum count of a merged pair")
    parser.add_argument("--lowercase", action="store_true", help="lowercase in the normaliser")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sentence draw")
    parser.add_argument("--given", default=None, help="use this tokenizer (file, folder or hub name) instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    config = VocabConfig(
        langs=tuple(args.langs), sentences=tuple(args.sentences), tokenizer=args.tokenizer, sampling=args.sampling,
        size=args.size, alpha=args.alpha, sample_sentences=args.sample_sentences,
        min_frequency=args.min_frequency, lowercase=args.lowercase, seed=args.seed, given=args.given,
    )
    table = train_vocab(config)
    summary("train-vocab", started, languages=len(config.langs), source=table["source"],
            drawn=table["drawn"], vocab_size=table["vocab_size"])
    return 0

"""Featurisation: words to sub-words with first-sub-word labels, sentence pairs, and padding into batches.

Word-level tasks (POS, NER, dependency parsing) follow the XTREME convention: a sentence's words are
tokenised with a fast tokenizer (``is_split_into_words=True``); each word is represented by its FIRST
sub-word, which carries the word's label, while later sub-words and special tokens get -100 (ignored by the
loss). ``word_starts`` lists the first-sub-word position of every word that fits.

Truncation: sequences are cut to ``max_length`` sub-words (special tokens included). Words whose first
sub-word falls beyond the cut are *truncated*: they are not trained on, ``num_words`` still counts them,
and the prediction helpers give them a fallback label (and the parser a fallback attachment) so metrics
score every gold word -- a truncated word counts as an error unless the fallback happens to be right,
never as a word that silently disappeared. :func:`truncation_counts` reports how many there were.

A word the tokenizer turns into nothing (e.g. only a zero-width space) would have no first sub-word; it is
replaced by the tokenizer's unknown token so it keeps a position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from langtickets.errors import ConfigError
from langtickets.tasks.records import LabelSet, NliPair, ParsedSentence, TaggedSentence, universal_relation

IGNORE_INDEX = -100
#: padding value of each feature; input_ids pad with the tokenizer's pad id
PAD_VALUES: dict[str, int] = {
    "attention_mask": 0, "token_type_ids": 0, "labels": IGNORE_INDEX, "word_starts": 0,
    "heads": IGNORE_INDEX, "relations": IGNORE_INDEX,
}  # fmt: skip


@dataclass(frozen=True)
class WordPieces:
    """One sentence's sub-word ids and the first-sub-word position of each word that fits."""

    input_ids: list[int]
    word_starts: list[int]
    num_words: int

    @property
    def truncated(self) -> int:
        return self.num_words - len(self.word_starts)


def check_tokenizer(tokenizer: Any, max_length: int) -> None:
    """A :class:`ConfigError` unless the tokenizer is fast (``word_ids``) and has a pad token."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("word-level tasks need a fast (Rust) tokenizer for word_ids(); load it with use_fast=True")
    if tokenizer.pad_token_id is None:
        raise ConfigError("the tokenizer has no pad token; set tokenizer.pad_token before featurising")
    if max_length < tokenizer.num_special_tokens_to_add(pair=False) + 1:
        raise ConfigError(f"max_length {max_length} leaves no room for a word; use at least 8 (XTREME uses 128)")


def encode_words(tokenizer: Any, words: Sequence[str], max_length: int) -> WordPieces:
    """Sub-word ids of ``words`` cut to ``max_length``, with each kept word's first sub-word position."""
    words = list(words)
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    starts = _first_positions(encoding.word_ids())
    missing = [index for index in range(len(words)) if index not in starts]
    if missing:
        vanished = _vanished(tokenizer, [words[index] for index in missing])
        if vanished:
            for position in vanished:
                words[missing[position]] = tokenizer.unk_token
            encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
            starts = _first_positions(encoding.word_ids())
    kept = len(starts)
    if sorted(starts) != list(range(kept)):
        raise ValueError("the tokenizer dropped a word inside the sentence; check its normaliser")
    return WordPieces(list(encoding["input_ids"]), [starts[i] for i in range(kept)], len(words))


def _first_positions(word_ids: Sequence[int | None]) -> dict[int, int]:
    starts: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in starts:
            starts[word] = position
    return starts


def _vanished(tokenizer: Any, words: list[str]) -> list[int]:
    """Which of ``words`` produce no sub-word at all (one tokenizer call for all of them)."""
    encoding = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    present = {word for word in encoding.word_ids() if word is not None}
    return [index for index in range(len(words)) if index not in present]


def tagging_features(
    tokenizer: Any, sentences: Sequence[TaggedSentence], labels: LabelSet, max_length: int = 128
) -> list[dict[str, Any]]:
    """POS/NER features: ``labels`` aligned to sub-words (first sub-word of a word = its tag id, else -100)."""
    check_tokenizer(tokenizer, max_length)
    features = []
    for sentence in sentences:
        tag_ids = labels.encode(sentence.tags)  # every tag, truncated or not, must be a known label
        pieces = encode_words(tokenizer, sentence.words, max_length)
        token_labels = [IGNORE_INDEX] * len(pieces.input_ids)
        for word, position in enumerate(pieces.word_starts):
            token_labels[position] = tag_ids[word]
        features.append(_word_feature(pieces, labels=token_labels))
    return features


def parsing_features(
    tokenizer: Any,
    sentences: Sequence[ParsedSentence],
    relations: LabelSet,
    max_length: int = 128,
    *,
    universal: bool = True,
) -> list[dict[str, Any]]:
    """Dependency-parsing features: word-level ``heads`` (0 = root) and ``relations`` ids, -100 where unknown.

    A kept word whose head was truncated gets -100 for both (it cannot be scored against a missing head).
    ``universal`` trains on the universal relation only (``nmod:poss`` -> ``nmod``), which is what LAS scores
    and what transfers across languages whose subtypes differ.
    """
    check_tokenizer(tokenizer, max_length)
    features = []
    for sentence in sentences:
        deprels = [universal_relation(d) if universal else d for d in sentence.deprels]
        relation_ids = relations.encode(deprels)
        pieces = encode_words(tokenizer, sentence.words, max_length)
        kept = len(pieces.word_starts)
        heads = [head if head <= kept else IGNORE_INDEX for head in sentence.heads[:kept]]
        rels = [rel if head != IGNORE_INDEX else IGNORE_INDEX for head, rel in zip(heads, relation_ids)]
        features.append(_word_feature(pieces, heads=heads, relations=rels))
    return features


def _word_feature(pieces: WordPieces, **labels: list[int]) -> dict[str, Any]:
    return {
        "input_ids": pieces.input_ids,
        "attention_mask": [1] * len(pieces.input_ids),
        "word_starts": pieces.word_starts,
        "num_words": pieces.num_words,
        **labels,
    }


def pair_features(
    tokenizer: Any, pairs: Sequence[NliPair], labels: LabelSet, max_length: int = 128, batch_size: int = 1000
) -> list[dict[str, Any]]:
    """NLI features: ``premise [SEP] hypothesis`` cut longest-first to ``max_length``, segment ids, label id."""
    features = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        encoding = tokenizer(
            [pair.premise for pair in chunk], [pair.hypothesis for pair in chunk],
            truncation=True, max_length=max_length, return_token_type_ids=True,
        )  # fmt: skip
        for index, pair in enumerate(chunk):
            features.append({
                "input_ids": encoding["input_ids"][index],
                "token_type_ids": encoding["token_type_ids"][index],
                "attention_mask": encoding["attention_mask"][index],
                "label": labels.id(pair.label),
            })  # fmt: skip
    return features


def collate(features: Sequence[Mapping[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad a list of features into a batch of tensors (right padding).

    List features are padded with their :data:`PAD_VALUES` (``input_ids`` with ``pad_token_id``); scalars
    are stacked. Word-level batches also get ``word_mask`` (B, W): True where a kept word is.
    """
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [feature[key] for feature in features]
        if isinstance(values[0], list):
            pad = pad_token_id if key == "input_ids" else PAD_VALUES.get(key, 0)
            width = max(len(value) for value in values)
            batch[key] = torch.tensor([value + [pad] * (width - len(value)) for value in values], dtype=torch.long)
        else:
            batch[key] = torch.tensor(values, dtype=torch.long)
    if "word_starts" in batch:
        lengths = torch.tensor([len(feature["word_starts"]) for feature in features])
        batch["word_mask"] = torch.arange(batch["word_starts"].shape[1])[None, :] < lengths[:, None]
    return batch


def truncation_counts(features: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many sentences and words did not fit ``max_length`` (word-level features only)."""
    cut = [feature["num_words"] - len(feature["word_starts"]) for feature in features]
    return {"truncated_sentences": sum(n > 0 for n in cut), "truncated_words": sum(cut)}

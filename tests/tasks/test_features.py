"""Featurisation: first-sub-word labels, truncation accounting, vanishing words, pairs and padding."""

from __future__ import annotations

import pytest
import torch

from langtickets.errors import ConfigError
from langtickets.tasks.features import (
    collate,
    encode_words,
    pair_features,
    parsing_features,
    tagging_features,
    truncation_counts,
)
from langtickets.tasks.records import (
    NliPair,
    ParsedSentence,
    TaggedSentence,
    nli_labels,
    relation_labels,
    upos_labels,
)

SENTENCE = TaggedSentence(("The", "unbelievable", "cats", "sat"), ("DET", "ADJ", "NOUN", "VERB"))


def test_only_the_first_sub_word_of_each_word_carries_its_label(tokenizer):
    labels = upos_labels()
    [feature] = tagging_features(tokenizer, [SENTENCE], labels, max_length=32)
    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert tokens == ["[CLS]", "the", "un", "##believ", "##able", "cat", "##s", "sat", "[SEP]"]
    ignore = -100
    assert feature["labels"] == [ignore, labels.id("DET"), labels.id("ADJ"), ignore, ignore, labels.id("NOUN"),
                                 ignore, labels.id("VERB"), ignore]  # fmt: skip
    assert feature["word_starts"] == [1, 2, 5, 7] and feature["num_words"] == 4
    assert feature["attention_mask"] == [1] * 9


def test_truncated_words_are_counted_not_dropped(tokenizer):
    features = tagging_features(tokenizer, [SENTENCE, SENTENCE], upos_labels(), max_length=6)
    # [CLS] the un ##believ ##able [SEP]: "cats" and "sat" do not fit
    assert features[0]["word_starts"] == [1, 2] and features[0]["num_words"] == 4
    assert sum(label != -100 for label in features[0]["labels"]) == 2
    assert truncation_counts(features) == {"truncated_sentences": 2, "truncated_words": 4}


def test_a_word_that_tokenises_to_nothing_keeps_a_position(tokenizer):
    pieces = encode_words(tokenizer, ["the", "\u200b", "cat"], 16)
    assert tokenizer.convert_ids_to_tokens(pieces.input_ids) == ["[CLS]", "the", "[UNK]", "cat", "[SEP]"]
    assert pieces.word_starts == [1, 2, 3] and pieces.truncated == 0


def test_tokenizer_and_label_problems_are_config_errors(tokenizer):
    class SlowTokenizer:
        is_fast = False

    with pytest.raises(ConfigError, match="need a fast"):
        tagging_features(SlowTokenizer(), [SENTENCE], upos_labels())
    with pytest.raises(ConfigError, match="label 'B-DATE' is not in the label set"):
        tagging_features(tokenizer, [TaggedSentence(("x",), ("B-DATE",))], upos_labels())
    with pytest.raises(ConfigError, match="max_length 2 leaves no room"):
        tagging_features(tokenizer, [SENTENCE], upos_labels(), max_length=2)


def test_parsing_features_use_universal_relations_and_ignore_truncated_heads(tokenizer):
    relations = relation_labels()
    sentence = ParsedSentence(("the", "cat", "unbelievable", "sat"), ("DET", "NOUN", "ADJ", "VERB"),
                              (2, 4, 2, 0), ("det", "nsubj:pass", "amod", "root"))  # fmt: skip
    [full] = parsing_features(tokenizer, [sentence], relations, max_length=32)
    assert full["heads"] == [2, 4, 2, 0]
    assert full["relations"] == [relations.id(r) for r in ("det", "nsubj", "amod", "root")]
    # max_length 6 keeps "the", "cat", "unbelievable" (its first piece fits); "cat"'s head "sat" is cut
    [cut] = parsing_features(tokenizer, [sentence], relations, max_length=6)
    assert cut["word_starts"] == [1, 2, 3]
    assert cut["heads"] == [2, -100, 2] and cut["relations"] == [relations.id("det"), -100, relations.id("amod")]


def test_pair_features_mark_segments_and_truncate(tokenizer):
    pairs = [NliPair("the cat sat on the mat", "a dog", "neutral"), NliPair("paris", "is big", "entailment")]
    first, second = pair_features(tokenizer, pairs, nli_labels(), max_length=8)
    assert tokenizer.convert_ids_to_tokens(second["input_ids"]) == ["[CLS]", "paris", "[SEP]", "is", "big", "[SEP]"]
    assert second["token_type_ids"] == [0, 0, 0, 1, 1, 1] and second["label"] == nli_labels().id("entailment")
    assert len(first["input_ids"]) == 8 and first["token_type_ids"][-3:] == [1, 1, 1]


def test_collate_pads_each_feature_with_its_own_value(tokenizer):
    features = tagging_features(
        tokenizer, [SENTENCE, TaggedSentence(("sat",), ("VERB",))], upos_labels(), max_length=32
    )
    batch = collate(features, tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, 9) and batch["input_ids"][1, 3:].eq(tokenizer.pad_token_id).all()
    assert batch["labels"][1, 3:].eq(-100).all() and batch["attention_mask"][1].tolist() == [1, 1, 1] + [0] * 6
    assert batch["word_mask"].tolist() == [[True] * 4, [True, False, False, False]]
    assert batch["num_words"].tolist() == [4, 1] and batch["word_starts"].dtype == torch.long

"""Heads on a tiny random BertModel: output shapes, trees from the parser, fallbacks, and a few-step overfit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from langtickets.tasks.features import collate, pair_features, parsing_features, tagging_features
from langtickets.tasks.heads import TaskModel, build_head, tagged_predictions
from langtickets.tasks.mst import is_tree
from langtickets.tasks.parser import parsed_predictions
from langtickets.tasks.records import (
    NliPair,
    ParsedSentence,
    TaggedSentence,
    ner_labels,
    nli_labels,
    relation_labels,
)

NER = [
    TaggedSentence(("john", "lives", "in", "london"), ("B-PER", "O", "O", "B-LOC")),
    TaggedSentence(("paris", "is", "big"), ("B-LOC", "O", "O")),
    TaggedSentence(("the", "unbelievable", "john"), ("O", "O", "B-PER")),
    TaggedSentence(("a", "cat", "sat", "on", "the", "mat"), ("O",) * 6),
] * 2
TREES = [
    ParsedSentence(("the", "cat", "sat"), ("DET", "NOUN", "VERB"), (2, 3, 0), ("det", "nsubj", "root")),
    ParsedSentence(("john", "lives", "in", "london"), ("PROPN", "VERB", "ADP", "PROPN"), (2, 0, 4, 2),
                   ("nsubj", "root", "case", "obl")),  # fmt: skip
    ParsedSentence(("paris", "is", "big"), ("PROPN", "AUX", "ADJ"), (3, 3, 0), ("nsubj", "cop", "root")),
    ParsedSentence(("a", "dog", "sat", "on", "the", "mat"), ("DET", "NOUN", "VERB", "ADP", "DET", "NOUN"),
                   (2, 3, 0, 6, 6, 3), ("det", "nsubj", "root", "case", "det", "obl")),  # fmt: skip
] * 2
PAIRS = [
    NliPair("the cat sat", "a cat sat", "entailment"), NliPair("paris is big", "london is big", "neutral"),
    NliPair("john lives in london", "john lives in paris", "contradiction"), NliPair("a dog", "a cat", "neutral"),
] * 2  # fmt: skip


def overfit(model, batch, steps=25):
    """Loss before and after a few Adam steps on one batch."""
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = model(batch).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


def test_tagging_head_shapes_overfit_and_predictions(tokenizer, tiny_bert):
    labels = ner_labels(NER)
    batch = collate(tagging_features(tokenizer, NER, labels, max_length=16), tokenizer.pad_token_id)
    model = TaskModel(tiny_bert, build_head("ner", 32, len(labels), dropout=0.0))
    output = model(batch)
    assert output.logits.shape == (8, batch["input_ids"].shape[1], len(labels)) and output.loss.ndim == 0
    first, last = overfit(model, batch)
    assert last < 0.5 * first
    model.eval()
    predicted = model.predict(batch)
    assert [len(p) for p in predicted] == [len(s.words) for s in NER]
    records, filled = tagged_predictions(NER, predicted, labels, fallback="O")
    assert filled == 0 and sum(r == s for r, s in zip(records, NER)) >= 6


def test_parser_overfits_and_always_predicts_trees(tokenizer, tiny_bert):
    relations = relation_labels()
    batch = collate(parsing_features(tokenizer, TREES, relations, max_length=16), tokenizer.pad_token_id)
    head = build_head("dep", 32, len(relations), arc_dim=24, relation_dim=16, dropout=0.0)
    model = TaskModel(tiny_bert, head)
    output = model(batch)
    assert output.logits.shape == (8, 7, 7)  # (B, W+1, W+1): root + 6 words of the longest sentence
    assert output.relation_logits.shape == (8, 6, len(relations))
    model.eval()
    untrained = model.predict(batch)  # random scores still decode to single-rooted trees
    assert all(is_tree(heads) for heads, _ in untrained)
    model.train()
    first, last = overfit(model, batch, steps=40)
    assert last < 0.5 * first
    model.eval()
    predicted = model.predict(batch)
    assert all(is_tree(heads) and len(heads) == len(s.words) for (heads, _), s in zip(predicted, TREES))
    records, _ = parsed_predictions(TREES, predicted, relations)
    right = sum(h == g for r, s in zip(records, TREES) for h, g in zip(r.heads, s.heads))
    assert right >= 0.8 * sum(len(s.words) for s in TREES)


def test_pair_head_shapes_and_overfit(tokenizer, tiny_bert):
    labels = nli_labels()
    batch = collate(pair_features(tokenizer, PAIRS, labels, max_length=24), tokenizer.pad_token_id)
    model = TaskModel(tiny_bert, build_head("nli", 32, len(labels), dropout=0.0))
    assert model(batch).logits.shape == (8, 3)
    first, last = overfit(model, batch)
    assert last < 0.5 * first
    model.eval()
    assert len(model.predict(batch)) == 8


def test_truncated_words_get_the_fallback_and_trees_stay_single_rooted():
    relations = relation_labels()
    sentence = TREES[3]
    # the parser saw only the first four words: "a dog sat on"
    kept = [([2, 3, 0, 3], [relations.id(r) for r in ("det", "nsubj", "root", "case")])]
    [record], filled = parsed_predictions([sentence], kept, relations)
    assert filled == 2 and record.heads == (2, 3, 0, 3, 3, 3) and record.deprels[4:] == ("dep", "dep")
    assert is_tree(record.heads)
    labels = ner_labels(NER)
    [tagged], filled = tagged_predictions([NER[0]], [[labels.id("B-PER")]], labels, fallback="O")
    assert filled == 3 and tagged.tags == ("B-PER", "O", "O", "O")


def test_any_encoder_returning_hidden_states_plugs_in(tokenizer):
    class TupleEncoder(nn.Module):
        config = None

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(len(tokenizer), 8)

        def forward(self, input_ids, attention_mask=None, token_type_ids=None):
            return (self.embed(input_ids),)

    labels = ner_labels(NER)
    batch = collate(tagging_features(tokenizer, NER[:2], labels), tokenizer.pad_token_id)
    model = TaskModel(TupleEncoder(), build_head("pos", 8, len(labels)))
    assert model(batch).logits.shape[:2] == batch["input_ids"].shape
    with pytest.raises(ValueError, match="unknown task 'srl'"):
        build_head("srl", 8, 2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_heads_train_and_predict_on_cuda(tokenizer, tiny_bert):
    relations = relation_labels()
    batch = collate(parsing_features(tokenizer, TREES, relations, max_length=16), tokenizer.pad_token_id)
    batch = {key: value.cuda() for key, value in batch.items()}
    model = TaskModel(tiny_bert, build_head("dep", 32, len(relations), arc_dim=24, relation_dim=16)).cuda()
    model(batch).loss.backward()
    model.eval()
    assert all(is_tree(heads) for heads, _ in model.predict(batch))

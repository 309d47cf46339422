"""retrieval: ratio-margin scores (IMP paper, Appendix E), accuracy, parallel files, mean pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from langtickets.analysis.retrieval import (
    cosine_matrix,
    layer_accuracies,
    margin_scores,
    mean_pooled_layers,
    read_parallel,
    retrieval_accuracy,
)
from langtickets.errors import InputError
from tests.ticket_fixtures import tiny_model


def test_margin_score_matches_the_formula():
    rng = np.random.default_rng(0)
    x, y, k = rng.normal(size=(5, 3)), rng.normal(size=(6, 3)), 2
    cos = cosine_matrix(x, y)
    got = margin_scores(x, y, k)
    for i in range(5):
        for j in range(6):
            near_x = sorted(cos[i, :], reverse=True)[:k]  # x's k nearest among y
            near_y = sorted(cos[:, j], reverse=True)[:k]  # y's k nearest among x
            expected = cos[i, j] / (sum(near_x) / (2 * k) + sum(near_y) / (2 * k))
            assert got[i, j] == pytest.approx(expected)


def test_translations_are_retrieved_and_shuffles_are_not():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 8))
    y = x + 0.05 * rng.normal(size=x.shape)
    assert retrieval_accuracy(margin_scores(x, y, 4)) == 1.0
    shuffled = y[np.roll(np.arange(12), 1)]
    assert retrieval_accuracy(margin_scores(x, shuffled, 4)) == 0.0
    assert retrieval_accuracy(margin_scores(x, shuffled, 4), top=12) == 1.0


def test_margin_demotes_a_hub_that_cosine_retrieves_for_everyone():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 16)) + rng.normal(size=16)
    y = x + 1.2 * rng.normal(size=x.shape)
    y[0] = x.mean(axis=0) + 0.05 * rng.normal(size=16)  # close to every query
    cos_hits = int((cosine_matrix(x, y).argmax(axis=1) == 0).sum())
    margin_hits = int((margin_scores(x, y, 4).argmax(axis=1) == 0).sum())
    assert margin_hits < cos_hits
    assert retrieval_accuracy(margin_scores(x, y, 4)) > retrieval_accuracy(cosine_matrix(x, y))


def test_top_k_accuracy_and_ties():
    scores = np.array([[0.1, 0.9, 0.5], [0.2, 0.3, 0.1], [0.5, 0.5, 0.5]])
    assert retrieval_accuracy(scores, 1) == pytest.approx(1 / 3)  # row 1 only
    assert retrieval_accuracy(scores, 2) == pytest.approx(1 / 3), "row 2's three-way tie ranks column 2 last"
    assert retrieval_accuracy(scores, 3) == 1.0


def test_layer_accuracies_over_ordered_pairs():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(10, 4))
    embeddings = {
        "lat": [base, base],
        "cyr": [base + 0.01 * rng.normal(size=base.shape), rng.normal(size=base.shape)],
        "arab": [base + 0.01 * rng.normal(size=base.shape), rng.normal(size=base.shape)],
    }
    result = layer_accuracies(embeddings, k=3, tops=[1, 5])
    assert result["0"]["top1"]["mean"] == 1.0
    assert result["0"]["top1"]["matrix"][0][0] is None
    assert result["1"]["top1"]["mean"] < 0.5 and result["1"]["top5"]["mean"] >= result["1"]["top1"]["mean"]


def test_parallel_files_must_align(tmp_path):
    (tmp_path / "a.txt").write_text("Молвo ўсё.\n北京大学。\nمرحبا بالعالم\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "c.txt").write_text("one\ntwo\n")
    (tmp_path / "d.txt").write_text("one\n\nthree\n")
    texts = read_parallel({"qaa": tmp_path / "a.txt", "qab": tmp_path / "b.txt"}, max_sentences=2)
    assert texts["qaa"] == ["Молвo ўсё.", "北京大学。"] and len(texts["qab"]) == 2
    with pytest.raises(InputError, match="align"):
        read_parallel({"qaa": tmp_path / "a.txt", "qac": tmp_path / "c.txt"})
    with pytest.raises(InputError, match=r"d.txt:2: empty line"):
        read_parallel({"qaa": tmp_path / "a.txt", "qad": tmp_path / "d.txt"})


class IdTokenizer:
    """Sentences are whitespace-separated ids; pads with 0 like a BERT tokenizer called with padding=True."""

    def __call__(self, sentences, padding, truncation, max_length, return_tensors):
        rows = [[2, *map(int, s.split()), 3][:max_length] for s in sentences]
        width = max(map(len, rows))

        class Batch(dict):
            def to(self, device):
                return self

        ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
        return Batch(input_ids=ids, attention_mask=mask)


def test_mean_pooling_ignores_padding():
    model = tiny_model(layers=2).bert.eval()
    short, long = "10 11 12", "10 11 12 13 14 15 16 17"
    alone = mean_pooled_layers(model, IdTokenizer(), [short], 4, 64, "cpu")
    batched = mean_pooled_layers(model, IdTokenizer(), [short, long], 4, 64, "cpu")
    assert len(alone) == 3, "embeddings plus two layers"
    for layer in range(3):
        assert np.allclose(alone[layer][0], batched[layer][0], atol=1e-5)

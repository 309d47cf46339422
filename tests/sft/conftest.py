"""Tiny BERT models and batches for the SFT tests (built from BertConfig; nothing from a hub)."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForTokenClassification

VOCAB = 120
LABELS = 5


def tiny_config(hidden: int = 32, **overrides) -> BertConfig:
    settings = dict(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=32,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    settings.update(overrides)
    return BertConfig(**settings)


def make_mlm(seed: int = 0, hidden: int = 32) -> BertForMaskedLM:
    torch.manual_seed(seed)
    return BertForMaskedLM(tiny_config(hidden))


def make_tagger(mlm: BertForMaskedLM, seed: int = 1) -> BertForTokenClassification:
    """A token classifier sharing ``mlm``'s encoder, with a freshly initialised head."""
    torch.manual_seed(seed)
    tagger = BertForTokenClassification(tiny_config(mlm.config.hidden_size, num_labels=LABELS))
    tagger.bert.load_state_dict(mlm.bert.state_dict())
    return tagger


def mlm_batches(n: int = 3, seed: int = 7) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        ids = torch.randint(5, VOCAB, (4, 12), generator=generator)
        labels = torch.where(torch.rand(ids.shape, generator=generator) < 0.3, ids, torch.full_like(ids, -100))
        batches.append({"input_ids": ids, "labels": labels})
    return batches


def tagging_batches(n: int = 3, seed: int = 8, language: str | None = None) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        ids = torch.randint(5, VOCAB, (4, 12), generator=generator)
        batch = {"input_ids": ids, "labels": ids % LABELS}
        if language is not None:
            batch["language"] = language
        batches.append(batch)
    return batches


def model_loss(model, batch) -> torch.Tensor:
    return model(input_ids=batch["input_ids"], labels=batch["labels"]).loss


def snapshot(model) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Bitwise equality of two snapshots (NaN-free tensors)."""
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


@pytest.fixture
def mlm() -> BertForMaskedLM:
    return make_mlm()


@pytest.fixture
def tagger(mlm) -> BertForTokenClassification:
    return make_tagger(mlm)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared CPU the thread pool's waits dominate.

    Module scope, so it also covers module-scoped fixtures that train (set up after it)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

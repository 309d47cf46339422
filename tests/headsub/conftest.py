"""Fixtures for the head-subnetwork tests: a tiny BERT with 2 x 2 heads, its tokenizer, and small UD files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from tests.tasks.conftest import make_tokenizer

# words the tiny tokenizer knows (tests/tasks/conftest.py), with a UPOS tag each
NOUNS = ["cat", "dog", "mat", "john", "paris", "london"]
VERBS = ["sat", "lives", "is"]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy shared CPU OpenMP threads spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tokenizer():
    return make_tokenizer()


def tiny_bert(vocab_size: int = 40, seed: int = 0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)  # fmt: skip
    return BertModel(config, add_pooling_layer=False)


def sentence(rng: random.Random, index: int) -> str:
    """One CoNLL-U sentence: 'the NOUN VERB on the NOUN .' with a fixed tree (the verb is the root)."""
    subject, verb, obj = rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)
    rows = [("the", "DET", 2, "det"), (subject, "NOUN", 3, "nsubj"), (verb, "VERB", 0, "root"), ("on", "ADP", 6, "case"),
            ("the", "DET", 6, "det"), (obj, "NOUN", 3, "obl"), (".", "PUNCT", 3, "punct")]  # fmt: skip
    lines = [f"# sent_id = s{index}", f"# text = the {subject} {verb} on the {obj} ."]
    lines += [f"{i}\t{w}\t{w}\t{pos}\t_\t_\t{head}\t{rel}\t_\t_" for i, (w, pos, head, rel) in enumerate(rows, 1)]
    return "\n".join(lines) + "\n\n"


def write_conllu(path: Path, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sentence(rng, i) for i in range(count)), encoding="utf-8")
    return path


@pytest.fixture
def ud_files(tmp_path):
    """``{lang: {split: path}}`` for four tiny languages with train, dev and test splits."""
    return {lang: {split: write_conllu(tmp_path / "ud" / lang / f"{split}.conllu", size, seed=31 * i + j)
                   for j, (split, size) in enumerate((("train", 24), ("dev", 8), ("test", 8)))}
            for i, lang in enumerate(("qaa", "qac", "qae", "qai"))}  # fmt: skip


@pytest.fixture
def model_dir(tmp_path, tokenizer):
    """A tiny pretrained model folder in the Hugging Face layout (what the pretrain stage writes)."""
    folder = tmp_path / "model"
    tiny_bert(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

"""Tiny Hugging Face models with their own fast tokenizers (a BERT and an XLM-R), built locally: what
tasks.external_models names in the SFT tests (nothing comes from the hub)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaTokenizerFast,
)

#: documents (blank-line separated) in several scripts, repeated so both splits hold text
TEXTS = [
    "the cat sat on the mat", "a dog ran in the park", "Кошка сидит на ковре", "Собака бежит по парку",
    "猫坐在垫子上", "狗在公园里跑", "القطة جلست على السجادة", "الكلب يركض في الحديقة",
]  # fmt: skip

def _words() -> list[str]:
    return sorted({word for text in TEXTS for word in text.split()})


def _chars() -> list[str]:
    return sorted({char for text in TEXTS for char in text if not char.isspace()})


def bert_tokenizer() -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer over the texts' words and characters, with BERT's special tokens."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_words(), *_chars(), *(f"##{c}" for c in _chars())]
    backend = Tokenizer(models.WordPiece({token: i for i, token in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip


def xlmr_tokenizer() -> XLMRobertaTokenizerFast:
    """A SentencePiece-style unigram tokenizer with XLM-R's special tokens (<s>=0 <pad>=1 </s>=2 <unk>=3, then
    the pieces, <mask> last)."""
    pieces = [(token, 0.0) for token in ("<s>", "<pad>", "</s>", "<unk>")]
    pieces += [(f"\u2581{word}", -2.0) for word in _words()] + [(char, -5.0) for char in _chars()]
    pieces += [("\u2581", -3.0), ("<mask>", 0.0)]
    backend = Tokenizer(models.Unigram(pieces, unk_id=3))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    return XLMRobertaTokenizerFast(tokenizer_object=backend)


def tiny_model(kind: str, vocab_size: int):
    small = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64)  # fmt: skip
    torch.manual_seed(0)
    if kind == "bert":
        return BertForMaskedLM(BertConfig(**small, max_position_embeddings=32))
    return XLMRobertaForMaskedLM(XLMRobertaConfig(**small, max_position_embeddings=34, pad_token_id=1, bos_token_id=0,
                                                  eos_token_id=2, type_vocab_size=1))  # fmt: skip


def save_external_model(folder: Path, kind: str) -> Path:
    """A tiny ``kind`` ("bert" or "xlmr") masked LM and its tokenizer, saved with save_pretrained in ``folder``."""
    tokenizer = bert_tokenizer() if kind == "bert" else xlmr_tokenizer()
    tiny_model(kind, len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

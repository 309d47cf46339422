"""train-vocab: smoothed sampling, fixed special ids, byte-identical reruns, given tokenizers, loading."""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from langtickets import cli
from langtickets.errors import ConfigError, InputError
from langtickets.vocab import (
    SPECIAL_TOKENS,
    VocabConfig,
    draw_indices,
    iter_drawn,
    load_given,
    load_tokenizer,
    sampling_plan,
    smoothed_probabilities,
    train_vocab,
)

# Small vocabularies per script; sentences are drawn from them with a seeded RNG so word pieces repeat.
WORDS = {
    "en": "the river city north bridge market people history winter summer music station built old new".split(),
    "ru": "город река мост рынок люди история зима лето музыка вокзал построен старый новый север".split(),
    "zh": "城市 河流 北方 桥梁 市场 人民 历史 冬天 夏天 音乐 车站 建造 古老 新的".split(),
    "ar": "المدينة النهر الجسر السوق الناس التاريخ الشتاء الصيف الموسيقى المحطة بنيت القديمة الجديدة".split(),
}
DOCUMENTS = {"en": 40, "ru": 12, "zh": 6, "ar": 2}  # en high-resource, ar low-resource


def write_language(folder: Path, lang: str, documents: int, per_document: int = 8) -> Path:
    rng = random.Random(lang)
    joiner, stop = ("", "。") if lang == "zh" else (" ", ".")
    docs = [
        "\n".join(joiner.join(rng.choices(WORDS[lang], k=rng.randint(4, 12))) + stop for _ in range(per_document))
        for _ in range(documents)
    ]
    path = folder / lang / "sentences.txt.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n\n".join(docs) + "\n")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    return {lang: write_language(tmp_path / "corpus", lang, n) for lang, n in DOCUMENTS.items()}


def config_for(corpus: dict[str, Path], out: Path, **overrides) -> VocabConfig:
    fields = dict(
        langs=tuple(corpus), sentences=tuple(corpus.values()), tokenizer=out / "tokenizer.json",
        sampling=out / "sampling.json", size=300, alpha=0.7, sample_sentences=600, min_frequency=2, seed=11,
    )
    return VocabConfig(**{**fields, **overrides})


def test_smoothing_matches_the_formula_by_hand():
    # p = (0.8, 0.15, 0.05), alpha = 0.5: q_i = sqrt(p_i) / (sqrt(.8) + sqrt(.15) + sqrt(.05))
    #                                      = sqrt(p_i) / 1.5053323
    table = smoothed_probabilities({"en": 800, "ru": 150, "ar": 50}, alpha=0.5)
    assert table["en"] == pytest.approx((0.8, 0.5941726), abs=1e-6)
    assert table["ru"] == pytest.approx((0.15, 0.2572843), abs=1e-6)
    assert table["ar"] == pytest.approx((0.05, 0.1485431), abs=1e-6)
    plan = sampling_plan({"en": 800, "ru": 150, "ar": 50}, alpha=0.5, total=1000)
    assert [plan[lang].drawn for lang in ("en", "ru", "ar")] == [594, 257, 149]


def test_alpha_one_keeps_shares_and_low_alpha_upsamples_low_resource():
    counts = {"en": 900, "ar": 100}
    assert smoothed_probabilities(counts, 1.0)["ar"] == pytest.approx((0.1, 0.1))
    share, probability = smoothed_probabilities(counts, 0.7)["ar"]
    assert probability == pytest.approx(0.1**0.7 / (0.1**0.7 + 0.9**0.7))
    assert probability > share and smoothed_probabilities(counts, 0.7)["en"][1] < 0.9


def test_sampling_json_records_the_plan(corpus, tmp_path):
    table = train_vocab(config_for(corpus, tmp_path / "out"))
    written = json.loads((tmp_path / "out" / "sampling.json").read_text(encoding="utf-8"))
    assert written == table
    sentences = {lang: 8 * n for lang, n in DOCUMENTS.items()}
    total = sum(sentences.values())
    norm = sum((n / total) ** 0.7 for n in sentences.values())
    for lang, row in written["languages"].items():
        assert row["sentences"] == sentences[lang]
        assert row["share"] == pytest.approx(sentences[lang] / total)
        assert row["probability"] == pytest.approx((sentences[lang] / total) ** 0.7 / norm)
        assert row["drawn"] == round(row["probability"] * 600)
    assert written["languages"]["ar"]["probability"] > written["languages"]["ar"]["share"]
    assert written["languages"]["en"]["probability"] < written["languages"]["en"]["share"]
    assert written["drawn"] == sum(row["drawn"] for row in written["languages"].values())
    assert (written["alpha"], written["seed"], written["source"]) == (0.7, 11, "trained")
    assert written["vocab_size"] == Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json")).get_vocab_size()


def test_draw_is_seeded_and_uses_replacement_only_when_short(corpus):
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    assert np.array_equal(draw_indices(100, 30, rng()), draw_indices(100, 30, rng()))
    assert len(set(draw_indices(100, 30, rng()).tolist())) == 30  # enough sentences: no repeats
    indices = draw_indices(16, 50, rng())  # ar has 16 sentences, 50 wanted
    drawn = list(iter_drawn(corpus["ar"], indices))
    lines = [line for line in gzip.open(corpus["ar"], "rt", encoding="utf-8").read().split("\n") if line]
    assert len(drawn) == 50 and set(drawn) <= set(lines)


def test_special_tokens_have_fixed_ids_and_are_the_only_added_tokens(corpus, tmp_path):
    train_vocab(config_for(corpus, tmp_path))
    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert sorted(token.content for token in tokenizer.get_added_tokens_decoder().values()) == sorted(SPECIAL_TOKENS)
    encoding = tokenizer.encode("river", "город")
    assert encoding.ids[0] == 2 and encoding.ids[-1] == 3 and encoding.ids.count(3) == 2
    assert encoding.type_ids[-1] == 1
    assert tokenizer.encode("城市", add_special_tokens=False).tokens == ["城", "市"]  # CJK characters split


def test_training_is_byte_identical_across_runs(corpus, tmp_path):
    # Plain tokenizers training is not: its ##-token ids follow a randomly seeded hash map (see vocab.py).
    train_vocab(config_for(corpus, tmp_path / "a"))
    train_vocab(config_for(corpus, tmp_path / "b"))
    for name in ("tokenizer.json", "sampling.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sorted(path.name for path in (tmp_path / "a").iterdir()) == ["sampling.json", "tokenizer.json"]


def test_cli_is_byte_identical_with_one_rayon_thread(corpus, tmp_path, monkeypatch):
    import subprocess
    import sys

    train_vocab(config_for(corpus, tmp_path / "a"))
    args = ["--langs", *corpus, "--sentences", *map(str, corpus.values()),
            "--tokenizer", str(tmp_path / "b" / "t.json"), "--sampling", str(tmp_path / "b" / "s.json"), "--size", "300", "--alpha", "0.7",
            "--sample-sentences", "600", "--min-frequency", "2", "--seed", "11"]
    monkeypatch.setenv("RAYON_NUM_THREADS", "1")
    subprocess.run([sys.executable, "-m", "langtickets", "train-vocab", *args], check=True, capture_output=True)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "t.json").read_bytes()


def test_lowercase_switch(corpus, tmp_path):
    train_vocab(config_for(corpus, tmp_path / "cased"))
    train_vocab(config_for(corpus, tmp_path / "lower", lowercase=True))
    cased = Tokenizer.from_file(str(tmp_path / "cased" / "tokenizer.json"))
    lower = Tokenizer.from_file(str(tmp_path / "lower" / "tokenizer.json"))
    assert lower.encode("River").ids == lower.encode("river").ids
    assert cased.encode("River").ids != cased.encode("river").ids


def test_empty_language_file_is_an_input_error_naming_it(corpus, tmp_path):
    empty = tmp_path / "corpus" / "ar" / "sentences.txt.gz"
    with gzip.open(empty, "wt", encoding="utf-8") as handle:
        handle.write("\n\n")
    with pytest.raises(InputError, match=r"ar/sentences\.txt\.gz.*no sentences"):
        train_vocab(config_for(corpus, tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_mismatched_langs_and_sentences_is_a_config_error(corpus, tmp_path, capsys):
    with pytest.raises(ConfigError, match="--langs names 3 languages but --sentences gives 4"):
        config_for(corpus, tmp_path, langs=("en", "ru", "zh"))
    status = cli.main(["train-vocab", "--langs", "en", "ru", "--sentences", str(corpus["en"]),
                       "--tokenizer", str(tmp_path / "t.json"), "--sampling", str(tmp_path / "s.json")])
    assert status == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_given_local_tokenizer_file_folder_and_vocab_txt(corpus, tmp_path):
    train_vocab(config_for(corpus, tmp_path / "trained"))
    original = tmp_path / "trained" / "tokenizer.json"
    table = train_vocab(config_for(corpus, tmp_path / "given", given=str(original)))
    assert (tmp_path / "given" / "tokenizer.json").read_bytes() == original.read_bytes()
    assert table["source"] == "given" and table["drawn"] == 0
    assert table["languages"]["ar"]["probability"] > table["languages"]["ar"]["share"]

    folder = tmp_path / "hf"
    load_tokenizer(original).save_pretrained(folder)
    assert load_given(str(folder)).get_vocab() == Tokenizer.from_file(str(original)).get_vocab()

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join([*SPECIAL_TOKENS, "river", "city", "##s", "г", "##ород"]) + "\n", encoding="utf-8")
    from_txt = load_given(str(vocab))
    assert from_txt.encode("rivers город", add_special_tokens=False).tokens == ["river", "##s", "г", "##ород"]


def test_given_hub_name_offline_is_a_config_error(corpus, tmp_path):
    with pytest.raises(ConfigError, match="no-such-org/no-such-tokenizer"):
        train_vocab(config_for(corpus, tmp_path, given="no-such-org/no-such-tokenizer"))


def test_given_tokenizer_without_bert_special_tokens_is_rejected(corpus, tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[UNK]\n[PAD]\nriver\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"\[CLS\] \[SEP\] \[MASK\]"):
        train_vocab(config_for(corpus, tmp_path / "out", given=str(vocab)))


def test_load_tokenizer_word_ids_and_save_pretrained_round_trip(corpus, tmp_path):
    from transformers import AutoTokenizer

    train_vocab(config_for(corpus, tmp_path))
    tokenizer = load_tokenizer(tmp_path / "tokenizer.json", model_max_length=128)
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id) == (0, 1, 2)
    assert (tokenizer.sep_token_id, tokenizer.mask_token_id, tokenizer.model_max_length) == (3, 4, 128)
    words = ["rivers", "город", "城市", "التاريخ"]
    encoding = tokenizer(words, is_split_into_words=True)
    word_ids = encoding.word_ids()
    assert word_ids[0] is None and word_ids[-1] is None
    assert [w for w in word_ids[1:-1]] == sorted(w for w in word_ids[1:-1]) and set(word_ids[1:-1]) == {0, 1, 2, 3}
    assert word_ids.count(2) == 2  # the two CJK characters are two sub-words of one word

    tokenizer.save_pretrained(tmp_path / "model")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert reloaded(words, is_split_into_words=True).input_ids == encoding.input_ids
    assert reloaded.mask_token_id == 4
    # same bytes, so the tokens' tokenizer_sha256 still matches a model folder
    assert (tmp_path / "model" / "tokenizer.json").read_bytes() == (tmp_path / "tokenizer.json").read_bytes()
    assert math.isclose(len(reloaded), Tokenizer.from_file(str(tmp_path / "tokenizer.json")).get_vocab_size())

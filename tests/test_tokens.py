"""tokenize: document-level split, packed streams that decode back, caps, dtypes, shards and checks."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models

from langtickets import cli
from langtickets.errors import InputError
from langtickets.tokens import (
    TokenizeConfig,
    TokenShard,
    check_tokenizer,
    choose_validation,
    held_out_count,
    stream_dtype,
    tokenize_language,
)
from langtickets.vocab import SPECIAL_TOKENS, bert_pipeline, load_tokenizer, train_wordpiece

# Ten short documents in four scripts; one language's file in the pipeline is usually one script, but the
# shared vocabulary must handle them all.
DOCUMENTS = [
    ["The river flows north through the old city.", "Its bridge was built in winter."],
    ["Река течёт на север через старый город.", "Мост построили зимой.", "Летом там рынок."],
    ["城市的河流向北流。", "桥是在冬天建造的。"],
    ["يتدفق النهر شمالا عبر المدينة القديمة.", "بني الجسر في الشتاء."],
    ["Music plays at the station every summer."],
    ["Люди любят историю этого города.", "Вокзал новый."],
    ["夏天的音乐很好听。", "车站很新。", "人民喜欢历史。"],
    ["السوق مفتوح في الصيف.", "الناس يحبون التاريخ."],
    ["The new market opened near the bridge.", "People came from the north.", "It was summer."],
    ["Зимой река замерзает."],
]


def write_sentences(path: Path, documents: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n\n".join("\n".join(document) for document in documents) + "\n")
    return path


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("vocab")
    text = folder / "text.txt"
    text.write_text("\n".join(sentence for document in DOCUMENTS for sentence in document) * 3, encoding="utf-8")
    path = folder / "tokenizer.json"
    train_wordpiece([str(text)], size=400, min_frequency=2).save(str(path), pretty=True)
    return path


@pytest.fixture
def sentences(tmp_path) -> Path:
    return write_sentences(tmp_path / "corpus" / "xx" / "sentences.txt.gz", DOCUMENTS)


def make_config(sentences: Path, tokenizer: Path, out: Path, **overrides) -> TokenizeConfig:
    fields = dict(lang="xx", sentences=sentences, tokenizer=tokenizer, train=out / "train.bin",
                  valid=out / "valid.bin", meta=out / "meta.json", validation_fraction=0.2, seed=3)
    return TokenizeConfig(**{**fields, **overrides})


def expected_documents(tokenizer_path: Path, documents=DOCUMENTS) -> list[list[int]]:
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    return [
        [i for sentence in document for i in tokenizer.encode(sentence, add_special_tokens=False).ids] + [3]
        for document in documents
    ]


def split_at_sep(stream: np.ndarray, sep: int = 3) -> list[list[int]]:
    ends = np.flatnonzero(stream == sep) + 1
    return [chunk.tolist() for chunk in np.split(np.asarray(stream), ends)[:-1]]


def test_streams_decode_to_the_documents_and_no_document_is_split(sentences, tokenizer_file, tmp_path):
    meta = tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "out"))
    shard = TokenShard.open(tmp_path / "out")
    expected = expected_documents(tokenizer_file)
    train, valid = split_at_sep(shard.train), split_at_sep(shard.valid)
    assert sorted(train + valid) == sorted(expected)  # every document whole, in exactly one split
    assert len(valid) == round(0.2 * len(DOCUMENTS)) == meta["splits"]["valid"]["documents"]
    # each stream keeps file order
    assert train == [doc for doc in expected if doc in train] and valid == [doc for doc in expected if doc in valid]
    assert meta["splits"]["train"]["tokens"] == len(shard.train) and shard.train[-1] == 3
    assert meta["splits"]["train"]["sentences"] + meta["splits"]["valid"]["sentences"] == sum(map(len, DOCUMENTS))
    decoder = Tokenizer.from_file(str(tokenizer_file))
    english = next(doc for doc in train + valid if doc == expected[0])
    assert decoder.decode(english[:-1]) == " ".join(DOCUMENTS[0])
    assert meta["special_ids"] == {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    assert (meta["dtype"], meta["byteorder"]) == ("uint16", "little")
    assert meta["files"] == {"train": "train.bin", "valid": "valid.bin"}


def test_reruns_are_byte_identical_and_the_seed_moves_the_split(sentences, tokenizer_file, tmp_path):
    tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "a"))
    tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "b", batch_size=3))
    for name in ("train.bin", "valid.bin", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    masks = {tuple(choose_validation(10, 0.2, np.random.default_rng(seed))) for seed in range(6)}
    assert len(masks) > 1


def test_validation_count_rules():
    rng = np.random.default_rng(0)
    assert choose_validation(1, 0.05, rng).sum() == 0
    assert choose_validation(2, 0.05, rng).sum() == 1  # at least one validation document
    assert choose_validation(3, 0.9, rng).sum() == 2  # never all documents
    assert choose_validation(1000, 0.05, rng).sum() == 50
    assert [held_out_count(n, 0.2) for n in (0, 1, 2, 10, 11)] == [0, 0, 1, 2, 2]


def test_single_document_holds_out_its_last_sentences(tmp_path, tokenizer_file):
    """A one-article wiki: the last round(0.2 * 21) = 4 sentences are the validation text, in order."""
    sentences = [sentence for document in DOCUMENTS for sentence in document]
    path = write_sentences(tmp_path / "one.txt.gz", [sentences])
    meta = tokenize_language(make_config(path, tokenizer_file, tmp_path / "out"))
    shard = TokenShard.open(tmp_path / "out" / "meta.json")
    assert len(sentences) == 21
    head, tail = sentences[:-4], sentences[-4:]
    assert split_at_sep(shard.train) == expected_documents(tokenizer_file, [head])
    assert split_at_sep(shard.valid) == expected_documents(tokenizer_file, [tail])
    assert meta["validation_unit"] == "sentences"
    assert (meta["splits"]["train"]["sentences"], meta["splits"]["valid"]["sentences"]) == (17, 4)
    # several documents: whole documents, as before
    several = tokenize_language(make_config(write_sentences(tmp_path / "two.txt.gz", DOCUMENTS[:2]),
                                            tokenizer_file, tmp_path / "two"))  # fmt: skip
    assert several["validation_unit"] == "documents" and several["splits"]["valid"]["documents"] == 1


def test_single_sentence_gives_an_empty_validation_stream(tmp_path, tokenizer_file):
    path = write_sentences(tmp_path / "one.txt.gz", [DOCUMENTS[4]])
    meta = tokenize_language(make_config(path, tokenizer_file, tmp_path / "out"))
    shard = TokenShard.open(tmp_path / "out" / "meta.json")
    assert meta["splits"]["valid"]["tokens"] == 0 and len(shard.valid) == 0
    assert (tmp_path / "out" / "valid.bin").stat().st_size == 0
    assert split_at_sep(shard.train) == expected_documents(tokenizer_file, [DOCUMENTS[4]])


def test_train_cap_cuts_at_a_document_boundary(sentences, tokenizer_file, tmp_path):
    full = tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "full"))
    train_docs = split_at_sep(TokenShard.open(tmp_path / "full").train)
    cap = len(train_docs[0]) + len(train_docs[1]) + 1  # two documents fit, the third does not
    meta = tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "cap", max_train_tokens=cap))
    shard = TokenShard.open(tmp_path / "cap")
    assert split_at_sep(shard.train) == train_docs[:2]
    assert meta["dropped_train_documents"] == len(train_docs) - 2 and not meta["truncated_train_document"]
    assert shard.valid.tolist() == TokenShard.open(tmp_path / "full").valid.tolist()
    assert full["splits"]["valid"] == meta["splits"]["valid"]


def test_train_cap_below_the_first_document_truncates_it(sentences, tokenizer_file, tmp_path):
    meta = tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "cap", max_train_tokens=4))
    shard = TokenShard.open(tmp_path / "cap")
    assert len(shard.train) == 4 and shard.train[-1] == 3 and meta["truncated_train_document"]


def test_dtype_is_uint16_up_to_65535_entries_else_uint32(tmp_path):
    assert stream_dtype(65535) == np.dtype("<u2") and stream_dtype(65536) == np.dtype("<u4")
    tokens = [*SPECIAL_TOKENS, *(f"filler{i}" for i in range(70_000)), "river", "##s"]
    vocab = {token: i for i, token in enumerate(tokens)}
    big = bert_pipeline(lowercase=False)
    big.model = models.WordPiece(vocab, unk_token="[UNK]")
    big.add_special_tokens(list(SPECIAL_TOKENS))
    big.save(str(tmp_path / "big.json"))
    path = write_sentences(tmp_path / "s.txt.gz", [["rivers river"], ["river x"]])
    meta = tokenize_language(make_config(path, tmp_path / "big.json", tmp_path / "out"))
    shard = TokenShard.open(tmp_path / "out")
    assert meta["dtype"] == "uint32" and shard.train.dtype == np.dtype("<u4")
    assert sorted(split_at_sep(shard.train) + split_at_sep(shard.valid)) == sorted(
        [[70005, 70006, 70005, 3], [70005, 1, 3]]
    )
    assert meta["unk_rate"] == pytest.approx(1 / 5)


def test_windows_are_contiguous_in_bounds_seeded_and_read_only(sentences, tokenizer_file, tmp_path):
    tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "out"))
    shard = TokenShard.open(tmp_path / "out")
    windows = shard.windows("train", 8, 50, np.random.default_rng(1))
    assert windows.shape == (50, 8) and windows.dtype == np.int64
    every = np.lib.stride_tricks.sliding_window_view(np.asarray(shard.train, dtype=np.int64), 8)
    assert all((every == window).all(axis=1).any() for window in windows)
    assert np.array_equal(windows, shard.windows("train", 8, 50, 1))
    assert not np.array_equal(windows, shard.windows("train", 8, 50, 2))
    whole = shard.windows("train", len(shard.train), 3, 0)
    assert (whole == np.asarray(shard.train)).all()
    assert next(shard.iter_windows("valid", 4, 2, 0)).shape == (2, 4)
    with pytest.raises(InputError, match="fewer than the window length"):
        shard.windows("valid", len(shard.valid) + 1, 1, 0)
    with pytest.raises(ValueError):
        shard.train[0] = 7


def test_truncated_stream_is_detected_when_opening(sentences, tokenizer_file, tmp_path):
    tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "out"))
    data = (tmp_path / "out" / "train.bin").read_bytes()
    (tmp_path / "out" / "train.bin").write_bytes(data[:-2])
    with pytest.raises(InputError, match="train.bin.*re-run the tokenize stage"):
        TokenShard.open(tmp_path / "out")


def test_tokenizer_mismatch_is_detected(sentences, tokenizer_file, tmp_path):
    tokenize_language(make_config(sentences, tokenizer_file, tmp_path / "out"))
    check_tokenizer(tmp_path / "out", tokenizer_file)
    load_tokenizer(tokenizer_file).save_pretrained(tmp_path / "model")  # how the model stage stores it
    check_tokenizer(TokenShard.open(tmp_path / "out"), tmp_path / "model")
    other = tmp_path / "other.json"
    text = tmp_path / "other.txt"
    text.write_text("entirely different words here\n" * 5, encoding="utf-8")
    train_wordpiece([str(text)], size=50).save(str(other))
    with pytest.raises(InputError, match="does not match"):
        check_tokenizer(tmp_path / "out" / "meta.json", other)


@pytest.mark.parametrize("content", [b"", b"\n\n \n"])
def test_empty_input_is_an_input_error_and_leaves_nothing(content, tokenizer_file, tmp_path):
    path = tmp_path / "empty.txt.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(InputError, match=r"empty\.txt\.gz: no sentences"):
        tokenize_language(make_config(path, tokenizer_file, tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_corrupt_gzip_is_an_input_error(tokenizer_file, tmp_path):
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(gzip.compress("a sentence\n".encode() * 100)[:-20])
    with pytest.raises(InputError, match=r"bad\.txt\.gz:\d+: cannot read"):
        tokenize_language(make_config(path, tokenizer_file, tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_tokenizer_without_special_tokens_is_rejected(sentences, tmp_path):
    plain = bert_pipeline(lowercase=False)
    plain.model = models.WordPiece({"[UNK]": 0, "river": 1}, unk_token="[UNK]")
    plain.save(str(tmp_path / "plain.json"))
    with pytest.raises(InputError, match=r"plain\.json: the tokenizer lacks"):
        tokenize_language(make_config(sentences, tmp_path / "plain.json", tmp_path / "out"))


def test_cli_with_the_rule_flags(sentences, tokenizer_file, tmp_path, capsys):
    out = tmp_path / "results" / "tokens" / "xx"
    status = cli.main(["tokenize", "--lang", "xx", "--sentences", str(sentences), "--tokenizer", str(tokenizer_file),
                       "--train", str(out / "train.bin"), "--valid", str(out / "valid.bin"),
                       "--meta", str(out / "meta.json"), "--validation-fraction", "0.05",
                       "--max-train-tokens", "0", "--seed", "1234"])
    assert status == 0
    assert "[tokenize] done" in capsys.readouterr().err
    meta = TokenShard.open(out).meta
    assert meta["lang"] == "xx" and meta["seed"] == 1234 and meta["splits"]["valid"]["documents"] == 1
    assert cli.main(["tokenize", "--lang", "xx", "--sentences", str(tmp_path / "missing.gz"), "--tokenizer",
                     str(tokenizer_file), "--train", "t", "--valid", "v", "--meta", "m"]) == 2

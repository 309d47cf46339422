"""NLI readers on real AmericasNLI, XNLI, MultiNLI (JSONL, TXT, GLUE TSV, XNLI-MT) and KorNLI files."""

from __future__ import annotations

from collections import Counter

import pytest

from langtickets.errors import InputError
from langtickets.tasks.nli import read_nli
from langtickets.tasks.records import NliPair


def test_americasnli_aymara(shared_data):
    pairs = read_nli(shared_data / "americasnli" / "dev" / "aym.tsv", "americasnli", language="aym")
    assert len(pairs) == 743
    assert Counter(p.label for p in pairs) == {"neutral": 247, "contradiction": 248, "entailment": 248}
    assert pairs[0] == NliPair(
        "Jupax sanwa: Mamita, utankastwa.", "Yatiñ utan awtux jaytawayki ukxpachaw mamaytapar jawsanxa.", "neutral"
    )
    # quotes are ordinary characters (no CSV quoting): every row keeps its four fields
    assert any('"' in p.premise + p.hypothesis for p in pairs)


def test_xnli_tsv_and_jsonl_filtered_by_language(shared_data):
    folder = shared_data / "nli" / "hf_dummy" / "XNLI-1.0"
    counts = Counter()
    [german] = read_nli(folder / "xnli.dev.tsv", "xnli", language="de", counts=counts)
    assert german == NliPair("und er hat gesagt, Mama ich bin daheim.",
                             "Er rief seine Mutter an, sobald er aus dem Schulbus stieg.", "neutral")  # fmt: skip
    assert counts["other_language"] == 14
    arabic = read_nli(folder / "xnli.dev.jsonl", "xnli", language="ar")
    assert [p.label for p in arabic] == ["neutral", "contradiction", "entailment", "neutral", "contradiction"]
    with pytest.raises(InputError, match="no labelled pairs for language 'fo'"):
        read_nli(folder / "xnli.dev.jsonl", "xnli", language="fo")


def test_multinli_layouts_give_the_same_pairs(shared_data):
    folder = shared_data / "nli" / "hf_dummy"
    from_jsonl = read_nli(folder / "multinli_1.0" / "multinli_1.0_dev_matched.jsonl", "multinli")
    from_txt = read_nli(folder / "multinli_1.0" / "multinli_1.0_dev_matched.txt", "multinli")
    from_glue = read_nli(folder / "glue_MNLI" / "dev_matched.tsv", "multinli")
    # the sample JSONL holds one pair more than the TXT sample; the shared pairs agree field for field
    assert len(from_jsonl) == 5 and from_txt == from_jsonl[:4] and from_glue == from_jsonl[:2]
    assert from_jsonl[0].premise == "The new rights are nice enough" and from_jsonl[0].label == "neutral"
    # rows of the TXT release may omit trailing empty annotator columns
    assert len(read_nli(folder / "multinli_1.0" / "multinli_1.0_train.txt", "multinli")) == 4


def test_xnli_mt_translated_multinli_and_kornli(shared_data):
    folder = shared_data / "nli" / "hf_dummy" / "XNLI-MT-1.0" / "multinli"
    english = read_nli(folder / "multinli.train.en.tsv", "multinli")
    assert english[0].hypothesis == "Product and geography are what make cream skimming work ."
    assert [p.label for p in english] == ["neutral", "entailment", "entailment", "entailment"]
    korean = read_nli(shared_data / "nli" / "kornli_xnli_dev.ko.tsv", "xnli")
    assert len(korean) == 1000
    assert Counter(p.label for p in korean) == {"neutral": 334, "contradiction": 333, "entailment": 333}


def test_multinli_dash_rows_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mnli.jsonl"
    path.write_text(
        '{"sentence1": "a", "sentence2": "b", "gold_label": "-"}\n'
        '{"sentence1": "c", "sentence2": "d", "gold_label": "contradictory"}\n', encoding="utf-8",
    )  # fmt: skip
    counts = Counter()
    assert read_nli(path, "multinli", counts=counts) == [NliPair("c", "d", "contradiction")]
    assert counts["skipped_no_gold_label"] == 1
    with pytest.raises(InputError, match=r"mnli.jsonl:1: the label is missing"):
        read_nli(path, "xnli")


@pytest.mark.parametrize(
    "name, text, line, problem",
    [
        ("a.tsv", "language\tpremise\thypothesis\tlabel\naym\tp\th\tmaybe\n", 2, "unknown label 'maybe'"),
        ("a.tsv", "language\tpremise\thypothesis\tlabel\naym\tp\th\t\n", 2, "the label is missing"),
        ("a.tsv", "language\tpremise\thypothesis\tlabel\naym\tp\th\tneutral\tx\n", 2, "5 tab-separated values"),
        ("a.tsv", "language\tpremise\thypothesis\nfoo\tp\th\n", 1, "the header has no label column"),
        ("a.tsv", "language\tpremise\tlabel\naym\tp\tneutral\n", 2, "no 'hypothesis' or 'hypo' or 'sentence2'"),
        ("a.jsonl", '{"premise": "p", "hypothesis": "h", "label": "neutral"}\n{"premise": \n', 2, "not valid JSON"),
        ("a.jsonl", '["p", "h", "neutral"]\n', 1, "not a JSON object"),
    ],
    ids=["unknown-label", "missing-label", "extra-column", "no-label-column", "no-hypothesis", "bad-json", "not-object"],
)
def test_malformed_nli_is_a_one_line_error_naming_file_and_row(tmp_path, name, text, line, problem):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_nli(path, "americasnli")
    assert str(caught.value).startswith(f"{path}:{line}: ") and problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_glue_test_file_without_labels_is_refused(shared_data):
    with pytest.raises(InputError, match="header has no label column"):
        read_nli(shared_data / "nli" / "hf_dummy" / "glue_MNLI" / "test_matched.tsv", "multinli")

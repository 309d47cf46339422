"""NER readers on real PAN-X, Rahimi-format and MasakhaNER files; CoNLL-2003 layout; BIO errors and repair."""

from __future__ import annotations

from collections import Counter

import pytest

from langtickets.errors import InputError
from langtickets.tasks.ner import read_ner
from langtickets.tasks.records import TaggedSentence

AMHARIC_FIRST = ("ግድም", "-", "«የማሪና", "አሹር", "ንጉሥ»", "ተባለ፤", "ከርሱ", "በኋላ", "ግን", "አሦር", "ነጻ", "ሆነ።")


def test_panx_plain_amharic(shared_data):
    counts = Counter()
    sentences = read_ner(shared_data / "panx" / "amh" / "train.txt", "panx", counts=counts)
    assert (len(sentences), counts["words"]) == (100, 622)  # blank-line blocks and lines, counted with awk
    assert sentences[0].words == AMHARIC_FIRST
    assert sentences[0].tags[3] == "B-LOC" and sentences[0].tags.count("O") == 10
    assert any(s.tags[:2] == ("B-PER", "I-PER") for s in sentences)


def test_panx_rahimi_prefix_is_stripped_to_the_same_sentence(shared_data):
    rahimi = shared_data / "panx" / "hf_dummy_rahimi_format"
    [sentence] = read_ner(rahimi / "am" / "train", "panx", language="am")
    assert sentence.words == AMHARIC_FIRST
    [cantonese] = read_ner(rahimi / "zh-yue" / "train", "panx", language="zh-yue")
    assert cantonese.words[:2] == ("R", "E") and cantonese.words[-4:] == ("亞", "馬", "遜", "河")
    assert cantonese.tags[-4:] == ("B-LOC", "I-LOC", "I-LOC", "I-LOC")


def test_panx_prefix_of_another_language_is_an_error(shared_data):
    path = shared_data / "panx" / "hf_dummy_rahimi_format" / "am" / "train"
    with pytest.raises(InputError, match=r":1: tokens carry the language prefix 'am:' but the dataset is for 'de'"):
        read_ner(path, "panx", language="de")


def test_plain_tokens_with_colons_keep_them(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("en:x O\nhttp://a.b O\n\n", encoding="utf-8")  # prefixes differ: not a PAN-X prefix
    assert read_ner(path, "panx")[0].words == ("en:x", "http://a.b")


def test_masakhaner_stray_inside_tag_errors_by_default_and_repairs_on_request(shared_data):
    path = shared_data / "masakhaner" / "hau" / "train.txt"
    with pytest.raises(InputError) as caught:
        read_ner(path, "masakhaner")
    # the upstream file breaks a sentence inside "hukumar kiwon | lafiya ta jahar" (an ORG)
    assert str(caught.value).startswith(f"{path}:17929: 'I-ORG' follows the start of the sentence")
    assert "repair_bio: true" in str(caught.value)
    counts = Counter()
    sentences = read_ner(path, "masakhaner", repair_bio=True, counts=counts)
    assert (len(sentences), counts["words"], counts["bio_repaired"]) == (1912, 55010, 1)
    lafiya = next(s for s in sentences if s.words[:3] == ("lafiya", "ta", "jahar"))
    assert lafiya.tags[:3] == ("B-ORG", "I-ORG", "I-ORG")


def test_masakhaner_date_mapped_to_o(shared_data):
    counts = Counter()
    sentences = read_ner(shared_data / "masakhaner" / "hau" / "train.txt", "masakhaner", repair_bio=True,
                         map_to_o={"DATE"}, counts=counts)  # fmt: skip
    kinds = {tag[2:] for s in sentences for tag in s.tags if tag != "O"}
    assert kinds == {"PER", "ORG", "LOC"}
    assert counts["mapped_to_o"] == 660 + 1023  # B-DATE + I-DATE lines in the file


CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
in IN B-PP O
Paris NNP B-NP I-LOC
Texas NNP B-NP B-LOC

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP I-LOC
"""


def test_conll2003_skips_docstart_and_converts_iob1(tmp_path):
    path = tmp_path / "eng.testa"
    path.write_text(CONLL2003, encoding="utf-8")
    counts = Counter()
    sentences = read_ner(path, "conll2003", map_to_o={"MISC"}, counts=counts)
    assert sentences == [
        TaggedSentence(("EU", "rejects", "German", "call", "."), ("B-ORG", "O", "O", "O", "O")),
        TaggedSentence(("Peter", "Blackburn", "in", "Paris", "Texas"), ("B-PER", "I-PER", "O", "B-LOC", "B-LOC")),
        TaggedSentence(("BRUSSELS",), ("B-LOC",)),
    ]
    assert counts["documents"] == 2 and counts["mapped_to_o"] == 1
    with pytest.raises(InputError, match=r"eng.testa:3: 'I-ORG' follows the start of the sentence"):
        read_ner(path, "conll2003", repair_bio=False)


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("a O\nb B-PER\nc I-LOC\n", 3, "'I-LOC' follows 'B-PER'"),
        ("a O\nb I-PER\n", 2, "'I-PER' follows 'O'"),
        ("a O\nb S-PER\n", 2, "tag 'S-PER' is not IOB2"),
        ("a O\nb\n", 2, "expected 2 columns 'token TAG', found 1"),
        ("a O\nb c O\n", 2, "found 3"),
    ],
    ids=["inside-after-other-type", "inside-after-o", "bioes", "missing-tag", "extra-column"],
)
def test_malformed_ner_is_a_one_line_error_naming_file_and_line(tmp_path, text, line, problem):
    path = tmp_path / "ner.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_ner(path, "masakhaner")
    assert str(caught.value).startswith(f"{path}:{line}: ") and problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_conll2003_needs_four_columns(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text("EU I-ORG\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"eng.train:1: expected 4 space-separated columns"):
        read_ner(path, "conll2003")

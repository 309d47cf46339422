"""CoNLL-U reading on real treebanks (English-EWT, French-GSD) and one-line errors on malformed files."""

from __future__ import annotations

from collections import Counter

import pytest

from langtickets.errors import InputError
from langtickets.tasks.records import MultiwordToken
from langtickets.tasks.ud import read_conllu, write_conllu


def ud_file(shared_data, treebank, name):
    return shared_data / "ud" / treebank / name


def test_english_ewt_words_multiword_tokens_and_empty_nodes(shared_data):
    counts = Counter()
    sentences = read_conllu(ud_file(shared_data, "UD_English-EWT", "en_ewt-ud-dev.conllu"), counts=counts)
    # counted independently with awk over the ID column
    assert len(sentences) == 1500
    assert counts["words"] == sum(len(s.words) for s in sentences) == 20061
    assert counts["multiword_tokens"] == 278 and counts["empty_nodes"] == 4
    today = next(s for s in sentences if s.words[:3] == ("Today", "'s", "incident"))
    assert today.heads[:4] == (3, 1, 4, 0)
    assert today.deprels[0] == "nmod:poss" and today.upos[:2] == ("NOUN", "PART")
    assert today.multiword[0] == MultiwordToken(1, 2, "Today's")
    assert today.surface_tokens()[:2] == [("Today's", 1, 2), ("incident", 3, 3)]
    # the empty node 8.1 (a copy of "write") is not a word
    quote = next(s for s in sentences if s.words[:4] == ('"', "They", "can", "freely"))
    assert quote.words[7:9] == ("like", "about")


def test_french_gsd_multiword_tokens_are_split_into_syntactic_words(shared_data):
    counts = Counter()
    sentences = read_conllu(ud_file(shared_data, "UD_French-GSD", "fr_gsd-ud-dev.conllu"), counts=counts)
    assert (len(sentences), counts["words"], counts["multiword_tokens"]) == (500, 12052, 338)
    rajesh = next(s for s in sentences if s.words[:2] == ("Rajesh", "Bhagwan"))
    assert rajesh.words[17:20] == ("de", "les", "projets")
    assert rajesh.multiword[:2] == (MultiwordToken(18, 19, "des"), MultiwordToken(23, 24, "du"))
    assert [form for form, _, _ in rajesh.surface_tokens()][17:19] == ["des", "projets"]
    assert rajesh.heads[17:19] == (20, 20) and rajesh.deprels[19] == "obl:arg"


def test_written_predictions_read_back_equal(shared_data, tmp_path):
    sentences = read_conllu(ud_file(shared_data, "UD_French-GSD", "fr_gsd-ud-dev.conllu"))[:50]
    write_conllu(tmp_path / "pred.conllu", sentences)
    assert read_conllu(tmp_path / "pred.conllu") == sentences


def _line(ident, form, upos="NOUN", head="0", deprel="root", columns=10):
    fields = [str(ident), form, "_", upos, "_", "_", str(head), deprel, "_", "_"]
    return "\t".join(fields[:columns] + ["_"] * (columns - 10))


GOOD = [_line(1, "a", "DET", 2, "det"), _line(2, "b"), _line(3, "c", "PUNCT", 2, "punct")]


@pytest.mark.parametrize(
    "lines, line_number, problem",
    [
        ([GOOD[0], _line(2, "b", columns=9), GOOD[2]], 3, "expected 10 tab-separated columns, found 9"),
        ([GOOD[0], _line(2, "b", columns=11), GOOD[2]], 3, "found 11"),
        ([GOOD[0], GOOD[1], _line(3, "c", "PUNCT", "x", "punct")], 4, "'x' is not a valid value"),
        ([GOOD[0], GOOD[1], _line(3, "c", "PUNCT", 7, "punct")], 4, "head 7 is out of range"),
        ([GOOD[0], GOOD[1], _line(3, "c", "PUNCT", "_", "punct")], 4, "HEAD is '_'"),
        ([_line(1, "a", "DET", 2, "det"), _line(2, "b", head=1), GOOD[2]], 2, "no word has head 0"),
        ([_line(1, "a", "DET", 3, "det"), GOOD[1], _line(3, "c", "PUNCT", 1, "punct")], 2, "cycle 1 -> 3 -> 1"),
        ([_line(1, "a", "DET", 0, "root"), GOOD[1], GOOD[2]], 3, "words 1 and 2 both have head 0"),
        ([GOOD[0], _line(3, "b"), GOOD[2]], 3, "word id 3 is out of order: expected 2"),
        ([GOOD[0], _line(2, "b", "NOUNY"), GOOD[2]], 3, "UPOS 'NOUNY' is not one of the 17 UD tags"),
        ([GOOD[0], _line(2, "b", deprel="subject"), GOOD[2]], 3, "DEPREL 'subject' is not a UD relation"),
        ([GOOD[0], "3-4\tbc" + "\t_" * 8, *GOOD[1:]], 3, "multiword token 3-4 does not start at the next word 2"),
    ],
    ids=["9-columns", "11-columns", "head-not-int", "head-range", "head-missing", "no-root", "cycle",
         "two-roots", "id-order", "bad-upos", "bad-deprel", "mwt-misplaced"],
)  # fmt: skip
def test_malformed_conllu_is_a_one_line_error_naming_file_and_line(tmp_path, lines, line_number, problem):
    path = tmp_path / "bad.conllu"
    path.write_text("# sent_id = 1\n" + "\n".join(lines) + "\n\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_conllu(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_number}: ") and problem in message
    assert "\n" not in message


def test_missing_and_empty_files_are_errors(tmp_path):
    with pytest.raises(InputError, match="CoNLL-U file not found"):
        read_conllu(tmp_path / "absent.conllu")
    (tmp_path / "empty.conllu").write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no sentences"):
        read_conllu(tmp_path / "empty.conllu")

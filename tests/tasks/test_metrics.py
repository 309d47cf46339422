"""Metrics against small examples worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from langtickets.tasks.metrics import attachment_scores, nli_accuracy, ner_scores, pos_accuracy
from langtickets.tasks.records import MultiwordToken, NliPair, ParsedSentence, TaggedSentence
from langtickets.tasks.ud_eval import ud_scores


def tagged(*rows):
    return [TaggedSentence(tuple(f"w{i}" for i in range(len(tags))), tuple(tags)) for tags in rows]


def test_pos_accuracy_counts_words_not_sentences():
    gold = tagged(["DET", "NOUN", "VERB"], ["PRON", "VERB"])
    predicted = tagged(["DET", "VERB", "VERB"], ["PRON", "NOUN"])
    assert pos_accuracy(gold, predicted) == pytest.approx(3 / 5)  # DET, VERB, PRON right of 5 words


def test_ner_f1_default_and_strict_modes():
    gold = tagged(["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"])
    predicted = tagged(["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "I-ORG", "O"])
    # gold entities: PER(0-1), LOC(3), ORG(0-1 of sentence 2) = 3
    # default mode reads the stray I-ORG as opening an entity: PER, ORG(3), ORG(0-1) = 3 predicted,
    # PER and the sentence-2 ORG are right: P = R = F1 = 2/3
    assert ner_scores(gold, predicted) == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    # strict IOB2 drops the entity without B-: PER, ORG(3) = 2 predicted, 1 right:
    # P = 1/2, R = 1/3, F1 = 2 * (1/6) / (5/6) = 0.4
    assert ner_scores(gold, predicted, strict=True) == pytest.approx({"precision": 0.5, "recall": 1 / 3, "f1": 0.4})


FRENCH = ParsedSentence(
    ("Il", "parle", "de", "le", "chat"), ("PRON", "VERB", "ADP", "DET", "NOUN"), (2, 0, 5, 5, 2),
    ("nsubj", "root", "case", "det", "obl:arg"), (MultiwordToken(3, 4, "du"),),
)  # fmt: skip
ENGLISH = ParsedSentence(("John", "lives"), ("PROPN", "VERB"), (2, 0), ("nsubj", "root"))


def test_uas_las_over_words_with_universal_relations():
    predicted = [
        ParsedSentence(FRENCH.words, FRENCH.upos, (2, 0, 5, 2, 2), ("nsubj", "root", "mark", "det", "obl"),
                       FRENCH.multiword),  # fmt: skip
        ParsedSentence(ENGLISH.words, ENGLISH.upos, (0, 1), ("root", "dep")),
    ]
    # Il ✓✓, parle ✓✓, de head ✓ relation mark≠case, le head 2≠5, chat ✓ and obl = universal part of obl:arg;
    # John and lives both get the wrong head: UAS = 4/7, LAS = 3/7 (7 words)
    scores = attachment_scores([FRENCH, ENGLISH], predicted)
    assert scores == pytest.approx({"uas": 4 / 7, "las": 3 / 7, "upos": 1.0})


def test_predictions_with_their_own_tokenisation_are_aligned_through_the_text():
    # the prediction keeps "du" as one word: de/le cannot align with it (no common form), Il, parle and
    # chat align. Heads: Il->parle ✓, parle root ✓, chat->parle ✓ = 3 correct;
    # P = 3/4 predicted words, R = 3/5 gold words, F1 = 2 * 0.45 / 1.35 = 2/3
    predicted = ParsedSentence(("Il", "parle", "du", "chat"), ("PRON", "VERB", "ADP", "NOUN"), (2, 0, 4, 2),
                               ("nsubj", "root", "case", "obl"))  # fmt: skip
    scores = ud_scores([FRENCH], [predicted])
    assert scores["UAS"] == pytest.approx({"precision": 3 / 4, "recall": 3 / 5, "f1": 2 / 3})
    assert scores["words"] == {"gold": 5, "predicted": 4, "aligned": 3}
    assert attachment_scores([FRENCH], [predicted])["las"] == pytest.approx(2 / 3)


def _words(*tokens):
    """A sentence from conll18-style tokens: 'abc' is a word, 'ab a b' a multiword token over words a, b."""
    words, multiword = [], []
    for token in tokens:
        form, *parts = token.split(" ")
        if parts:
            multiword.append(MultiwordToken(len(words) + 1, len(words) + len(parts), form))
        words.extend(parts or [form])
    size = len(words)
    return ParsedSentence(tuple(words), ("X",) * size, (0,) + (1,) * (size - 1), ("dep",) * size, tuple(multiword))


@pytest.mark.parametrize(
    "gold, predicted, aligned",
    [
        (["abc a b c"], ["a", "b", "c"], 3),
        (["abcd a b c d"], ["ab a b", "cd c d"], 4),
        (["abc a b c", "de d e"], ["a", "bcd b c d", "e"], 5),
        (["abcd"], ["a", "b", "c", "d"], 0),
        (["a", "bc", "d"], ["a", "b", "c", "d"], 2),
        (["a", "bc b c", "d"], ["a", "b", "cd"], 2),
        (["abc a BX c", "def d EX f"], ["ab a b", "cd c d", "ef e f"], 4),
        (["a", "bc b c", "d"], ["ab AX BX", "cd CX a"], 1),
    ],
)
def test_word_alignment_cases(gold, predicted, aligned):
    # multiword regions align by the longest common subsequence of lower-cased forms (BX matches b)
    assert ud_scores([_words(*gold)], [_words(*predicted)])["words"]["aligned"] == aligned


def test_different_texts_cannot_be_scored():
    with pytest.raises(ValueError, match="spell different texts from character 0"):
        ud_scores([_words("a")], [_words("b")])


def test_nli_accuracy_and_length_checks():
    gold = [NliPair("p", "h", label) for label in ("entailment", "neutral", "contradiction", "contradiction")]
    assert nli_accuracy(gold, ["entailment", "contradiction", "contradiction", "neutral"]) == 0.5
    with pytest.raises(ValueError, match="4 gold labels but 3 predicted"):
        nli_accuracy(gold, ["entailment"] * 3)
    with pytest.raises(ValueError, match="sentence 0: 3 gold words but 2 predicted"):
        pos_accuracy(tagged(["A", "B", "C"]), tagged(["A", "B"]))

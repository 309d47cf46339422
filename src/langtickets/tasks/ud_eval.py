"""UPOS, UAS and LAS the way the CoNLL 2018 shared task evaluation (conll18_ud_eval) computes them.

Scores are over syntactic words, F1 of precision (correct / predicted words) and recall (correct / gold
words). Gold and predicted words are aligned through the text, so predictions with their own tokenisation
can be scored too:

* both sides' surface tokens, with spaces (Unicode category Zs) removed, must spell the same characters;
* words outside multiword tokens align when their character spans are equal;
* around a multiword token (where spans cannot tell words apart, e.g. French ``du`` = ``de le``) the
  smallest region that no multiword token of either side sticks out of is found, and its words align along
  the longest common subsequence of their lower-cased forms;
* a word's head is right when both are the root, or when the predicted head word is aligned to the gold
  head word; LAS also needs the universal part of the relation (before ``:``) to match.

When the prediction keeps the gold words (as this project's parser does), every word aligns and precision,
recall and F1 all equal plain accuracy over words.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from langtickets.tasks.records import ParsedSentence, universal_relation


@dataclass(frozen=True)
class _Word:
    form: str
    start: int  # character span of the word's surface token in the whitespace-free text
    end: int
    multiword: bool
    head: int  # index of the head word in the whole stream, -1 for the root
    upos: str
    relation: str


def _stream(sentences: Sequence[ParsedSentence]) -> tuple[list[_Word], str]:
    words: list[_Word] = []
    text: list[str] = []
    offset = base = 0
    for sentence in sentences:
        for form, first, last in sentence.surface_tokens():
            chars = "".join(c for c in form if unicodedata.category(c) != "Zs")
            text.append(chars)
            for index in range(first - 1, last):
                head = sentence.heads[index]
                words.append(_Word(
                    sentence.words[index], offset, offset + len(chars), last > first,
                    base + head - 1 if head else -1, sentence.upos[index],
                    universal_relation(sentence.deprels[index]),
                ))  # fmt: skip
            offset += len(chars)
        base += len(sentence.words)
    return words, "".join(text)


def align_words(gold: Sequence[ParsedSentence], predicted: Sequence[ParsedSentence]) -> dict[int, int]:
    """Predicted word index -> gold word index (indices over all sentences), as conll18_ud_eval aligns."""
    gold_words, gold_text = _stream(gold)
    system_words, system_text = _stream(predicted)
    _check_same_text(gold_text, system_text)
    return _align(gold_words, system_words)


def _check_same_text(gold: str, system: str) -> None:
    if gold == system:
        return
    at = next((i for i, (a, b) in enumerate(zip(gold, system)) if a != b), min(len(gold), len(system)))
    raise ValueError(
        f"gold and predicted tokens spell different texts from character {at} "
        f"(gold {gold[at:at + 20]!r}, predicted {system[at:at + 20]!r}); predictions must cover the same text"
    )


def _align(gold: list[_Word], system: list[_Word]) -> dict[int, int]:
    pairs: dict[int, int] = {}
    gi = si = 0
    while gi < len(gold) and si < len(system):
        if gold[gi].multiword or system[si].multiword:
            gs, ss, gi, si = _multiword_region(gold, system, gi, si)
            pairs.update(_lcs_pairs(gold, system, range(gs, gi), range(ss, si)))
        elif (gold[gi].start, gold[gi].end) == (system[si].start, system[si].end):
            pairs[si] = gi
            gi, si = gi + 1, si + 1
        elif gold[gi].start <= system[si].start:
            gi += 1
        else:
            si += 1
    return pairs


def _multiword_region(gold: list[_Word], system: list[_Word], gi: int, si: int) -> tuple[int, int, int, int]:
    """``(gold_start, system_start, gold_end, system_end)`` of the smallest span of words around the multiword
    token at ``gi`` or ``si`` that no multiword token sticks out of."""
    # a plain word that starts before the multiword token stays outside the region
    if gold[gi].multiword:
        end = gold[gi].end
        si += not system[si].multiword and system[si].start < gold[gi].start
    else:
        end = system[si].end
        gi += gold[gi].start < system[si].start
    gs, ss = gi, si
    while not _past(gold, gi, end) or not _past(system, si, end):
        take_gold = gi < len(gold) and (si >= len(system) or gold[gi].start <= system[si].start)
        word = gold[gi] if take_gold else system[si]
        if word.multiword:
            end = max(end, word.end)
        gi, si = (gi + 1, si) if take_gold else (gi, si + 1)
    return gs, ss, gi, si


def _past(words: list[_Word], index: int, end: int) -> bool:
    """Whether ``words[index]`` lies beyond a region ending at ``end`` (a plain word may not stick out of it)."""
    if index >= len(words):
        return True
    word = words[index]
    return word.start >= end if word.multiword else word.end > end


def _lcs_pairs(gold: list[_Word], system: list[_Word], g_range: range, s_range: range) -> dict[int, int]:
    """Align words of a multiword region along the longest common subsequence of lower-cased forms."""
    g_forms = [gold[i].form.lower() for i in g_range]
    s_forms = [system[i].form.lower() for i in s_range]
    # table[i][j]: LCS length of g_forms[i:] and s_forms[j:]
    table = [[0] * (len(s_forms) + 1) for _ in range(len(g_forms) + 1)]
    for i in range(len(g_forms) - 1, -1, -1):
        for j in range(len(s_forms) - 1, -1, -1):
            if g_forms[i] == s_forms[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs: dict[int, int] = {}
    i = j = 0
    while i < len(g_forms) and j < len(s_forms):
        if g_forms[i] == s_forms[j]:
            pairs[s_range[j]] = g_range[i]
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _f1(correct: int, gold: int, system: int) -> dict[str, float]:
    precision = correct / system if system else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def ud_scores(gold: Sequence[ParsedSentence], predicted: Sequence[ParsedSentence]) -> dict[str, dict[str, float]]:
    """``{"UPOS"|"UAS"|"LAS": {"precision", "recall", "f1"}, "words": {"gold", "predicted", "aligned"}}``."""
    gold_words, gold_text = _stream(gold)
    system_words, system_text = _stream(predicted)
    if not gold_words:
        raise ValueError("no gold words to score")
    _check_same_text(gold_text, system_text)
    pairs = _align(gold_words, system_words)
    correct = {"UPOS": 0, "UAS": 0, "LAS": 0}
    for si, gi in pairs.items():
        g, s = gold_words[gi], system_words[si]
        correct["UPOS"] += g.upos == s.upos
        head_right = (g.head == -1 and s.head == -1) or (s.head != -1 and pairs.get(s.head) == g.head)
        correct["UAS"] += head_right
        correct["LAS"] += head_right and g.relation == s.relation
    scores: dict[str, dict[str, float]] = {
        metric: _f1(count, len(gold_words), len(system_words)) for metric, count in correct.items()
    }
    scores["words"] = {"gold": len(gold_words), "predicted": len(system_words), "aligned": len(pairs)}
    return scores

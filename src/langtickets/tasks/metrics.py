"""Task metrics: POS accuracy, NER entity F1 (seqeval), UAS/LAS (CoNLL 2018), NLI accuracy.

These are the selection and report metrics of both papers: accuracy for POS, labelled attachment score
for DP, entity-level F1 for NER (LT-SFT section 4.3; XTREME's NER/POS protocol in Multilingual Lottery
Tickets section 4.1), accuracy for NLI. Every function takes gold and predicted records in the same order and
returns plain floats (or dicts of floats) ready for :func:`langtickets.io.write_json`.
"""

from __future__ import annotations

from collections.abc import Sequence

from langtickets.tasks.records import NliPair, ParsedSentence, TaggedSentence
from langtickets.tasks.ud_eval import ud_scores


def _same_length(gold: Sequence, predicted: Sequence, what: str) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold {what} but {len(predicted)} predicted")
    if not gold:
        raise ValueError(f"no {what} to score")


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Fraction of positions where the labels agree."""
    _same_length(gold, predicted, "labels")
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)


def _tag_lists(gold: Sequence[TaggedSentence], predicted: Sequence[TaggedSentence]) -> tuple[list, list]:
    _same_length(gold, predicted, "sentences")
    for number, (g, p) in enumerate(zip(gold, predicted)):
        if len(g.words) != len(p.words):
            raise ValueError(f"sentence {number}: {len(g.words)} gold words but {len(p.words)} predicted")
    return [list(s.tags) for s in gold], [list(s.tags) for s in predicted]


def pos_accuracy(gold: Sequence[TaggedSentence], predicted: Sequence[TaggedSentence]) -> float:
    """Tag accuracy over all words (XTREME POS; for UD, the syntactic words)."""
    gold_tags, predicted_tags = _tag_lists(gold, predicted)
    return accuracy([t for s in gold_tags for t in s], [t for s in predicted_tags for t in s])


def ner_scores(
    gold: Sequence[TaggedSentence], predicted: Sequence[TaggedSentence], *, strict: bool = False
) -> dict[str, float]:
    """Entity-level micro precision, recall and F1 with seqeval.

    The default mode is conlleval's (an ``I-X`` without a ``B-X`` still opens an entity), what XTREME and
    MasakhaNER report; ``strict=True`` uses seqeval's strict IOB2 mode, where such an entity does not count.
    """
    # seqeval pulls in scikit-learn (~2 s): import it only when NER is scored.
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    gold_tags, predicted_tags = _tag_lists(gold, predicted)
    options = {"mode": "strict", "scheme": IOB2} if strict else {}
    return {
        "precision": float(precision_score(gold_tags, predicted_tags, zero_division=0, **options)),
        "recall": float(recall_score(gold_tags, predicted_tags, zero_division=0, **options)),
        "f1": float(f1_score(gold_tags, predicted_tags, zero_division=0, **options)),
    }


def attachment_scores(gold: Sequence[ParsedSentence], predicted: Sequence[ParsedSentence]) -> dict[str, float]:
    """UAS and LAS F1 (and UPOS F1) over syntactic words as the CoNLL 2018 evaluation computes them.

    See :mod:`langtickets.tasks.ud_eval` for the word alignment; LAS compares the universal relation only.
    """
    scores = ud_scores(gold, predicted)  # aligns the whole text, so sentence breaks may differ
    return {"uas": scores["UAS"]["f1"], "las": scores["LAS"]["f1"], "upos": scores["UPOS"]["f1"]}


def nli_accuracy(gold: Sequence[NliPair], predicted: Sequence[str]) -> float:
    """Accuracy of predicted labels against the pairs' gold labels."""
    return accuracy([pair.label for pair in gold], predicted)

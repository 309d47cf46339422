"""Featurise a split for a task model, predict, and score with the papers' metrics.

Report metrics: POS accuracy, NER entity F1 (with precision and recall), DP UAS and LAS, NLI accuracy
(multilingual-tickets section 4.1; LT-SFT section 4.3). :data:`SELECTION_METRIC` names the one that picks
the dev checkpoint and fills the tables.

Labels the model never saw. POS, DP and NLI use fixed inventories (17 UPOS tags, 37 universal relations,
3 NLI labels), which every reader validates. NER's label set is built from the *training* split, so a dev
or test split (or a zero-shot target) may carry an entity type the head has no class for. Such words are
never dropped: the gold records keep their tags, so every such entity counts as missed (a false negative)
and the word can only be predicted wrong; ``unseen_label_words`` and ``unseen_labels`` report them. In a
*training* split (few-shot on a target whose types differ from the source's) such words are not trained on
(their label becomes -100) and are counted the same way.

Words cut by ``max_length`` get a fallback prediction (``NOUN``, ``O``, or an attachment to the root word
with ``dep``) and are scored, so truncation shows up as errors and in ``fallback_words``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from langtickets.errors import InputError
from langtickets.tasks.features import (
    IGNORE_INDEX,
    collate,
    pair_features,
    parsing_features,
    tagging_features,
    truncation_counts,
)
from langtickets.tasks.heads import tagged_predictions
from langtickets.tasks.metrics import attachment_scores, ner_scores, nli_accuracy, pos_accuracy
from langtickets.tasks.parser import parsed_predictions
from langtickets.tasks.records import (
    LabelSet,
    NliPair,
    ParsedSentence,
    TaggedSentence,
    ner_labels,
    nli_labels,
    relation_labels,
    upos_labels,
)

#: the metric that picks the dev checkpoint and fills the tables
SELECTION_METRIC: dict[str, str] = {"pos": "accuracy", "ner": "f1", "dep": "las", "nli": "accuracy"}
#: the prediction given to a word that did not fit max_length
FALLBACK_TAG: dict[str, str] = {"pos": "NOUN", "ner": "O", "dep": "dep"}


def task_labels(task: str, train: Sequence[Any] = ()) -> LabelSet:
    """The head's label set: fixed for pos, dep and nli; for ner, the types of the training split."""
    if task == "ner":
        return ner_labels(train)
    return {"pos": upos_labels, "dep": relation_labels, "nli": nli_labels}[task]()


@dataclass
class Featurized:
    """A split ready for a task model: the gold records, their features and what could not be encoded."""

    task: str
    records: list
    features: list[dict[str, Any]]
    unseen: Counter = field(default_factory=Counter)  # gold label -> words/pairs the head has no class for

    @property
    def words(self) -> int:
        if self.task == "nli":
            return 0
        return sum(len(record.words) for record in self.records)

    def counts(self) -> dict[str, Any]:
        """Examples, words, truncation and unseen-label counts for the metrics file."""
        counts: dict[str, Any] = {"examples": len(self.records)}
        if self.task != "nli":
            counts.update(words=self.words, **truncation_counts(self.features))
        counts["unseen_label_words"] = sum(self.unseen.values())
        counts["unseen_labels"] = dict(sorted(self.unseen.items()))
        return counts


def featurize(
    task: str, tokenizer: Any, records: Sequence[Any], labels: LabelSet, max_length: int, *, where: str = "the split"
) -> Featurized:
    """Features of ``records`` for ``task``; an empty split is an :class:`InputError` naming ``where``."""
    records = list(records)
    if not records:
        raise InputError(where, "the split holds no examples", "point the dataset at a non-empty file")
    if task in ("pos", "ner"):
        return _tagging(task, tokenizer, records, labels, max_length)
    if task == "dep":
        return Featurized(task, records, parsing_features(tokenizer, records, labels, max_length))
    return Featurized(task, records, pair_features(tokenizer, records, labels, max_length))


def _tagging(
    task: str, tokenizer: Any, sentences: list[TaggedSentence], labels: LabelSet, max_length: int
) -> Featurized:
    unseen = Counter(tag for sentence in sentences for tag in sentence.tags if tag not in labels)
    if not unseen:
        return Featurized(task, sentences, tagging_features(tokenizer, sentences, labels, max_length))
    # Encode with a stand-in label, then take the stand-in back out: those words are not trained on.
    stand_in = labels.names[0]
    encodable = [TaggedSentence(s.words, tuple(t if t in labels else stand_in for t in s.tags)) for s in sentences]
    features = tagging_features(tokenizer, encodable, labels, max_length)
    for sentence, feature in zip(sentences, features):
        for word, position in enumerate(feature["word_starts"]):
            if sentence.tags[word] not in labels:
                feature["labels"][position] = IGNORE_INDEX
    return Featurized(task, sentences, features, unseen)


@torch.no_grad()
def predict(
    model: nn.Module, features: Sequence[dict[str, Any]], pad_token_id: int, batch_size: int, device: torch.device
) -> list:
    """The head's predictions for every example, in order (model switched to eval mode)."""
    model.eval()
    predictions: list = []
    for start in range(0, len(features), batch_size):
        batch = collate(features[start:start + batch_size], pad_token_id)
        predictions += model.predict({key: value.to(device) for key, value in batch.items()})
    return predictions


def score(task: str, records: Sequence[Any], predictions: Sequence[Any], labels: LabelSet) -> tuple[dict, int]:
    """``(metrics, fallback_words)``: the task's metrics over every gold word (or pair)."""
    if task == "nli":
        gold: Sequence[NliPair] = records
        return {"accuracy": nli_accuracy(gold, labels.decode(predictions))}, 0
    if task == "dep":
        trees: Sequence[ParsedSentence] = records
        predicted, filled = parsed_predictions(trees, predictions, labels, FALLBACK_TAG["dep"])
        scores = attachment_scores(trees, predicted)
        return {"uas": scores["uas"], "las": scores["las"]}, filled
    tagged, filled = tagged_predictions(records, predictions, labels, FALLBACK_TAG[task])
    if task == "pos":
        return {"accuracy": pos_accuracy(records, tagged)}, filled
    return ner_scores(records, tagged), filled


def evaluate(
    model: nn.Module, data: Featurized, labels: LabelSet, *, pad_token_id: int, batch_size: int, device: torch.device
) -> dict[str, Any]:
    """Metrics of ``model`` on a featurized split, with the split's counts and the headline ``score``."""
    predictions = predict(model, data.features, pad_token_id, batch_size, device)
    metrics, filled = score(data.task, data.records, predictions, labels)
    metrics = {key: round(float(value), 6) for key, value in metrics.items()}
    return {
        "metric": SELECTION_METRIC[data.task],
        "score": metrics[SELECTION_METRIC[data.task]],
        "metrics": metrics,
        "data": {**data.counts(), "fallback_words": filled},
    }

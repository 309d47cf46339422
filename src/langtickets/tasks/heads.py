"""Task heads on a pluggable encoder: token tagging (POS, NER) and sentence-pair classification (NLI).

The encoder is any module called as ``encoder(input_ids=..., attention_mask=..., [token_type_ids=...])``
that returns ``last_hidden_state`` (a ``transformers`` BertModel, a ticketed model from
:mod:`langtickets.model`, or anything with that contract). A :class:`TaskModel` joins an encoder and a head;
``model.encoder`` stays reachable so per-language ticket masks or sparse fine-tunings can be applied to it.

* :class:`TaggingHead` -- "the standard token-level single-layer multiclass head" (Ansell et al., LT-SFT,
  section 4.3; Hu et al., XTREME): one linear layer over every sub-word, trained on first sub-words only.
* :class:`PairClassificationHead` -- "a two-layer multi-class classification head atop the output
  corresponding to the [CLS] token" (LT-SFT section 4.3): dropout, dense, tanh, dropout, linear.
* the shallow biaffine parser lives in :mod:`langtickets.tasks.parser`.

Heads return a :class:`HeadOutput` (loss when the batch has labels) and predict label ids per word or pair;
:func:`tagged_predictions` turns those into records with a fallback tag for truncated words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from langtickets.tasks.features import IGNORE_INDEX
from langtickets.tasks.records import LabelSet, TaggedSentence

Batch = Mapping[str, torch.Tensor]
_ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class HeadOutput:
    """``logits``: tagging (B, T, L); pairs (B, L); parsing arc scores (B, W+1, W+1) as [dependent, head]."""

    loss: torch.Tensor | None
    logits: torch.Tensor
    relation_logits: torch.Tensor | None = None  # parsing: (B, W, R) at the gold heads


def encoder_states(encoder: nn.Module, batch: Batch) -> torch.Tensor:
    """The encoder's last hidden states (B, T, H) for a batch; other batch keys are not passed on."""
    output = encoder(**{key: batch[key] for key in _ENCODER_INPUTS if key in batch})
    if hasattr(output, "last_hidden_state"):
        return output.last_hidden_state
    return output[0] if isinstance(output, (tuple, list)) else output


def hidden_size_of(encoder: nn.Module) -> int:
    config = getattr(encoder, "config", None)
    if config is not None and hasattr(config, "hidden_size"):
        return int(config.hidden_size)
    raise ValueError("cannot tell the encoder's hidden size; pass hidden_size explicitly")


def gather_words(hidden: torch.Tensor, word_starts: torch.Tensor) -> torch.Tensor:
    """First-sub-word vectors (B, W, H) from hidden states (B, T, H) and positions (B, W)."""
    index = word_starts.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
    return hidden.gather(1, index)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over targets that are not -100; zero (with a graph) when there are none."""
    flat_targets = targets.reshape(-1)
    if not (flat_targets != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat_targets, ignore_index=IGNORE_INDEX)


class TaggingHead(nn.Module):
    """One linear layer on every sub-word; the loss uses the first-sub-word ``labels`` (others -100)."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, batch: Batch) -> HeadOutput:
        logits = self.classifier(self.dropout(hidden))  # (B, T, L)
        loss = masked_cross_entropy(logits, batch["labels"]) if "labels" in batch else None
        return HeadOutput(loss, logits)

    @torch.no_grad()
    def predict(self, hidden: torch.Tensor, batch: Batch) -> list[list[int]]:
        """Label ids of the kept words of each sentence (first sub-word's argmax)."""
        best = self.forward(hidden, batch).logits.argmax(-1)  # (B, T)
        words = best.gather(1, batch["word_starts"])
        return [row[mask].tolist() for row, mask in zip(words, batch["word_mask"])]


class PairClassificationHead(nn.Module):
    """Two layers on the [CLS] vector: dropout, dense (H->H), tanh, dropout, linear (H->labels)."""

    def __init__(self, hidden_size: int, num_labels: int = 3, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, batch: Batch) -> HeadOutput:
        cls = self.dropout(hidden[:, 0])
        logits = self.classifier(self.dropout(torch.tanh(self.dense(cls))))  # (B, L)
        loss = masked_cross_entropy(logits, batch["label"]) if "label" in batch else None
        return HeadOutput(loss, logits)

    @torch.no_grad()
    def predict(self, hidden: torch.Tensor, batch: Batch) -> list[int]:
        return self.forward(hidden, batch).logits.argmax(-1).tolist()


class TaskModel(nn.Module):
    """An encoder and a task head: ``model(batch)`` gives a :class:`HeadOutput`, ``predict`` label ids.

    Call ``model.eval()`` before predicting (dropout); ``predict`` runs without gradients.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, batch: Batch) -> HeadOutput:
        return self.head(encoder_states(self.encoder, batch), batch)

    @torch.no_grad()
    def predict(self, batch: Batch) -> list:
        return self.head.predict(encoder_states(self.encoder, batch), batch)


def build_head(task: str, hidden_size: int, num_labels: int, **options: float | int) -> nn.Module:
    """The head for a task: pos/ner -> TaggingHead, nli -> PairClassificationHead, dep -> BiaffineParsingHead.

    ``num_labels`` is the number of tags, NLI classes or dependency relations; ``options`` go to the head
    (``dropout``; for dep also ``arc_dim``, ``relation_dim``).
    """
    if task in ("pos", "ner"):
        return TaggingHead(hidden_size, num_labels, **options)
    if task == "nli":
        return PairClassificationHead(hidden_size, num_labels, **options)
    if task == "dep":
        from langtickets.tasks.parser import BiaffineParsingHead  # parser imports this module's helpers

        return BiaffineParsingHead(hidden_size, num_labels, **options)
    raise ValueError(f"unknown task {task!r}; choose pos, dep, ner or nli")


def tagged_predictions(
    sentences: Sequence[TaggedSentence], predicted: Sequence[Sequence[int]], labels: LabelSet, fallback: str
) -> tuple[list[TaggedSentence], int]:
    """Predicted records over the gold words; truncated words get ``fallback`` (e.g. ``O``, ``NOUN``).

    Returns the records and how many words got the fallback.
    """
    labels.id(fallback)  # the fallback must be a label the head could have predicted
    records, filled = [], 0
    for sentence, ids in zip(sentences, predicted, strict=True):
        tags = labels.decode(ids) + [fallback] * (len(sentence.words) - len(ids))
        filled += len(sentence.words) - len(ids)
        records.append(TaggedSentence(sentence.words, tuple(tags)))
    return records, filled

"""The shallow biaffine dependency parser used for DP in the LT-SFT paper (section 4.3).

Dozat & Manning (2017) score arcs with a biaffine product of dependent and head projections of word
vectors and score relations with a biaffine classifier; the *shallow* variant of Glavas & Vulic (2021)
puts this directly on the transformer's output instead of on extra BiLSTM layers. Here:

* word vectors are the encoder's first-sub-word vectors; the [CLS] vector stands for the root (index 0);
* four single-layer projections (linear + ReLU + dropout): arc-dependent, arc-head (``arc_dim``), and
  relation-dependent, relation-head (``relation_dim``);
* arc score ``s[d, h] = dep_d^T U head_h + u^T head_h`` (the second term is D&M's head prior);
* relation scores ``r[d, h, k] = [dep_d; 1]^T W_k [head_h; 1]``, computed only at the gold head while
  training (as D&M do) and at the predicted head while decoding;
* loss = cross-entropy over each word's possible heads + cross-entropy over relations;
* decoding: Chu-Liu/Edmonds over the arc log-probabilities with a single root
  (:func:`langtickets.tasks.mst.decode_tree`), so every prediction is a tree.

Biaffine weights start at zero (the projections are random, so gradients still flow): every arc starts
equally likely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from langtickets.tasks.features import IGNORE_INDEX
from langtickets.tasks.heads import Batch, HeadOutput, gather_words, masked_cross_entropy
from langtickets.tasks.mst import decode_tree
from langtickets.tasks.records import LabelSet, ParsedSentence


def _projection(hidden_size: int, size: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden_size, size), nn.ReLU(), nn.Dropout(dropout))


class BiaffineParsingHead(nn.Module):
    """Arc and relation biaffine scorers over first-sub-word vectors plus a [CLS] root."""

    def __init__(
        self, hidden_size: int, num_relations: int, arc_dim: int = 500, relation_dim: int = 100, dropout: float = 0.1
    ):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.arc_dep = _projection(hidden_size, arc_dim, dropout)
        self.arc_head = _projection(hidden_size, arc_dim, dropout)
        self.rel_dep = _projection(hidden_size, relation_dim, dropout)
        self.rel_head = _projection(hidden_size, relation_dim, dropout)
        self.arc_weight = nn.Parameter(torch.zeros(arc_dim, arc_dim))
        self.arc_head_prior = nn.Parameter(torch.zeros(arc_dim))
        self.rel_weight = nn.Parameter(torch.zeros(num_relations, relation_dim + 1, relation_dim + 1))

    def word_vectors(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        """(B, W+1, H): the [CLS] vector as root, then each kept word's first sub-word."""
        words = gather_words(hidden, batch["word_starts"])
        return self.dropout(torch.cat([hidden[:, :1], words], dim=1))

    def arc_scores(self, vectors: torch.Tensor, batch: Batch) -> torch.Tensor:
        """(B, W+1, W+1) scores [dependent, head]; padding heads and self-loops set to the dtype minimum."""
        dep, head = self.arc_dep(vectors), self.arc_head(vectors)  # (B, W+1, A)
        scores = dep @ self.arc_weight @ head.transpose(1, 2) + (head @ self.arc_head_prior)[:, None, :]
        root = torch.ones_like(batch["word_mask"][:, :1])
        allowed = torch.cat([root, batch["word_mask"]], dim=1)[:, None, :]  # (B, 1, W+1)
        size = scores.shape[-1]
        allowed = allowed & ~torch.eye(size, dtype=torch.bool, device=scores.device)[None]
        return scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)

    def relation_scores(self, vectors: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """(B, W, R) relation scores of each word with the head given in ``heads`` (B, W; -100 -> root)."""
        dep = self.rel_dep(vectors[:, 1:])
        head_vectors = vectors.gather(1, heads.clamp(min=0).unsqueeze(-1).expand(-1, -1, vectors.shape[-1]))
        head = self.rel_head(head_vectors)
        dep = torch.cat([dep, torch.ones_like(dep[..., :1])], dim=-1)
        head = torch.cat([head, torch.ones_like(head[..., :1])], dim=-1)
        return torch.einsum("bwi,rij,bwj->bwr", dep, self.rel_weight, head)

    def forward(self, hidden: torch.Tensor, batch: Batch) -> HeadOutput:
        vectors = self.word_vectors(hidden, batch)
        arcs = self.arc_scores(vectors, batch)
        if "heads" not in batch:
            return HeadOutput(None, arcs)
        relations = self.relation_scores(vectors, batch["heads"])
        loss = masked_cross_entropy(arcs[:, 1:], batch["heads"]) + masked_cross_entropy(relations, batch["relations"])
        return HeadOutput(loss, arcs, relations)

    @torch.no_grad()
    def predict(self, hidden: torch.Tensor, batch: Batch) -> list[tuple[list[int], list[int]]]:
        """(heads, relation ids) for the kept words of each sentence; the heads always form a tree."""
        vectors = self.word_vectors(hidden, batch)
        log_probs = self.arc_scores(vectors, batch).log_softmax(-1).double().cpu().numpy()
        lengths = batch["word_mask"].sum(1).tolist()
        trees = [decode_tree(_finite(log_probs[b, : n + 1, : n + 1])) for b, n in enumerate(lengths)]
        padded = torch.full(batch["word_mask"].shape, IGNORE_INDEX, dtype=torch.long)
        for b, tree in enumerate(trees):
            padded[b, : len(tree)] = torch.tensor(tree, dtype=torch.long)
        relations = self.relation_scores(vectors, padded.to(vectors.device)).argmax(-1).cpu()
        return [(tree, relations[b, : len(tree)].tolist()) for b, tree in enumerate(trees)]


def _finite(scores: np.ndarray) -> np.ndarray:
    """Masked entries (the dtype minimum, -inf after log-softmax) become -inf: forbidden arcs for the MST."""
    scores = scores.copy()
    scores[scores < -1e30] = -np.inf
    return scores


def parsed_predictions(
    sentences: Sequence[ParsedSentence],
    predicted: Sequence[tuple[Sequence[int], Sequence[int]]],
    relations: LabelSet,
    fallback_relation: str = "dep",
) -> tuple[list[ParsedSentence], int]:
    """Predicted trees over the gold words (UPOS and multiword tokens copied from gold).

    Truncated words are attached to the predicted root word with ``fallback_relation``, which keeps the tree
    single-rooted. Returns the records and how many words got the fallback.
    """
    relations.id(fallback_relation)
    records, filled = [], 0
    for sentence, (heads, rel_ids) in zip(sentences, predicted, strict=True):
        missing = len(sentence.words) - len(heads)
        root_word = list(heads).index(0) + 1
        all_heads = tuple(heads) + (root_word,) * missing
        deprels = tuple(relations.decode(rel_ids)) + (fallback_relation,) * missing
        records.append(ParsedSentence(sentence.words, sentence.upos, all_heads, deprels, sentence.multiword))
        filled += missing
    return records, filled

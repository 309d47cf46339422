"""Scoring and few-shot fine-tuning at test time (Choenni et al., section 4.5).

For a target language the trained model is fine-tuned on 20 target examples for 20 updates (each update
sees all of them) and then scores the target's test split (LAS, CoNLL 2018), wearing the subnetwork of the
most similar fine-tuning language (:mod:`langtickets.headsub.similarity`; the full model wears none). The
examples come from the development split when there is one, otherwise from the test split, and are then
removed from it. "The same hyperparameter values as during training": non-episodic models take Adam steps
at the training learning rates; meta-trained models take the learner's SGD steps at the inner learning
rates (the test-time counterpart of MAML's inner loop). The mask itself stays fixed (a dynamic model wears
its fine-tuning language's final binary mask), and dropout is on while adapting, as in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from langtickets.errors import ConfigError
from langtickets.headsub.training import (
    MetaRecipe,
    Recipe,
    build_optimizer,
    inner_adapt,
    learning_rates,
    masked_loss,
    to_device,
    trainable,
)
from langtickets.headsub.use import MaskUse
from langtickets.tasks.evaluate import Featurized, evaluate
from langtickets.tasks.features import collate

FRAMEWORKS = ("nonep", "meta")


@dataclass(frozen=True)
class FewShotSettings:
    """Section 4.5: 20 examples, 20 updates, LAS averaged over 5 seeds."""

    examples: int = 20
    updates: int = 20
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)

    def __post_init__(self) -> None:
        if self.examples < 1 or self.updates < 0 or not self.seeds:
            raise ConfigError(f"few-shot needs examples >= 1, updates >= 0 and at least one seed, got {self}")


def score(model: nn.Module, use: MaskUse, lang: str | None, data: Featurized, labels: Any, pad_id: int,
          batch_size: int, device: torch.device) -> dict[str, float]:  # fmt: skip
    """LAS and UAS of ``data`` with ``lang``'s subnetwork on (the model is left in eval mode)."""
    with torch.no_grad(), use.wearing(model, lang):
        result = evaluate(model, data, labels, pad_token_id=pad_id, batch_size=batch_size, device=device)
    return {"las": result["metrics"]["las"], "uas": result["metrics"]["uas"]}


def split_shots(pool: Featurized, test: Featurized, k: int, seed: int, from_test: bool) -> tuple[list, Featurized]:
    """``k`` seeded examples of ``pool``; when they come from the test split they leave it."""
    if k > len(pool.features):
        raise ConfigError(f"few-shot needs {k} examples but the split holds {len(pool.features)}; lower "
                          "headsub.fewshot.examples")  # fmt: skip
    chosen = sorted(np.random.default_rng(seed).choice(len(pool.features), size=k, replace=False).tolist())
    shots = [pool.features[i] for i in chosen]
    if not from_test:
        return shots, test
    rest = [i for i in range(len(test.features)) if i not in set(chosen)]
    if not rest:
        raise ConfigError("the test split would be empty after taking the few-shot examples; lower the examples")
    return shots, Featurized(test.task, [test.records[i] for i in rest], [test.features[i] for i in rest])


def adapt(model: nn.Module, use: MaskUse, lang: str | None, shots: Sequence[dict], framework: str, recipe: Recipe,
          meta: MetaRecipe, updates: int, seed: int, pad_id: int, device: torch.device) -> list[float]:  # fmt: skip
    """``updates`` updates on the shots (all of them per update) in place; returns the losses."""
    if framework not in FRAMEWORKS:
        raise ConfigError(f"unknown framework '{framework}'; choose one of {', '.join(FRAMEWORKS)}")
    batch = to_device(collate(list(shots), pad_id), device)
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        if framework == "meta":
            lrs = learning_rates(model, meta.inner_encoder_lr, meta.inner_head_lr)
            losses = inner_adapt(trainable(model), lrs, lambda: masked_loss(model, use, lang, batch), updates)
        else:
            params = trainable(model)
            optimizer = build_optimizer(model, [], recipe, recipe.encoder_lr, recipe.head_lr)
            for _ in range(updates):
                loss = masked_loss(model, use, lang, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
                optimizer.step()
                losses.append(float(loss.detach()))
    model.eval()
    return losses

"""Unstructured weight masks of the IMP subnetworks (IMP paper, section 3 "Sub-networks", Algorithm 1).

A subnetwork is ``f(x; m * theta)`` with a binary mask ``m`` over the *prunable* weights, which are, as in
the paper's released code (after Chen et al.'s BERT-Tickets), the six weight matrices of every transformer
layer: Q, K, V, the attention output projection, and the feed-forward W1 and W2. Biases, embeddings,
LayerNorms and the task heads (the MLM head, a tagger or classifier) are never pruned ("we do not prune the
task heads", section 5); the models here carry no pooler, so none is pruned either. Masks are keyed by the
weight's path inside the encoder's layer list (``layer.{i}.attention.self.query.weight``), so the same key
names a weight in a masked-LM model and in a task model built on the same encoder.

Masks are enforced with PyTorch's public pruning reparametrisation (``torch.nn.utils.prune``):
:func:`wearing` attaches ``weight = weight_orig * weight_mask`` to every prunable module, so a pruned
weight is exactly zero in every forward pass and its ``weight_orig`` entry receives a zero gradient;
leaving the block makes the product permanent (``prune.remove``). :func:`magnitude_prune` ranks the
remaining weights by magnitude over all prunable matrices together ("global" pruning) with
``prune.global_unstructured`` and ``L1Unstructured`` and an exact count.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils import prune

from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, dumps_json
from langtickets.masks import find_bert_layers

#: the prunable linear modules of a BERT layer, by their path inside the layer
PRUNABLE = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
METADATA_KEY = "langtickets"


def prunable_modules(model: nn.Module) -> dict[str, nn.Linear]:
    """``{"layer.{i}.{path}.weight": linear module}`` for the one BERT encoder inside ``model``, in order."""
    modules = {}
    for index, layer in enumerate(find_bert_layers(model)):
        for path in PRUNABLE:
            modules[f"layer.{index}.{path}.weight"] = layer.get_submodule(path)
    return modules


def pruned_counts(total: int, rate: float, rounds: int) -> list[int]:
    """Weights pruned after each round ``0..rounds`` when every round removes ``rate`` of the ORIGINAL ones.

    Algorithm 1 prunes p% of the original parameters per round (five rounds of 10% reach 50%); the count
    after round ``r`` is ``r * rate * total`` rounded half up, so each round lands on the asked sparsity.
    """
    if not 0 < rate <= 1 or rounds < 0 or rounds * rate > 1 + 1e-9:
        raise ConfigError(f"IMP needs 0 < rate <= 1 and rounds * rate <= 1, got rate {rate} and {rounds} rounds")
    return [min(total, int(r * rate * total + 0.5)) for r in range(rounds + 1)]


@dataclass(frozen=True)
class WeightMasks:
    """Boolean masks (True = the weight is kept) over a model's prunable weights, with a free-form record."""

    masks: Mapping[str, torch.Tensor]
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, mask in self.masks.items():
            if mask.dtype != torch.bool:
                raise ValueError(f"mask {key} has dtype {mask.dtype}; masks are bool tensors")

    @classmethod
    def dense(cls, model: nn.Module) -> WeightMasks:
        """All-True masks for ``model``'s prunable weights (the unpruned network)."""
        modules = prunable_modules(model)
        return cls({key: torch.ones_like(module.weight, dtype=torch.bool) for key, module in modules.items()})

    @property
    def total(self) -> int:
        return sum(mask.numel() for mask in self.masks.values())

    @property
    def pruned(self) -> int:
        return sum(int((~mask).sum()) for mask in self.masks.values())

    @property
    def sparsity(self) -> float:
        """Share of the prunable weights that are pruned."""
        return self.pruned / self.total if self.total else 0.0

    def check(self, modules: Mapping[str, nn.Module], where: str = "<weight masks>") -> None:
        """Raise :class:`InputError` unless the masks cover exactly ``modules`` with matching shapes."""
        if set(modules) != set(self.masks):
            missing, extra = sorted(set(modules) - set(self.masks)), sorted(set(self.masks) - set(modules))
            raise InputError(where, f"masks do not match the model (missing {missing[:2]}, unexpected {extra[:2]})",
                             "use masks made for this architecture")  # fmt: skip
        for key, module in modules.items():
            if tuple(self.masks[key].shape) != tuple(module.weight.shape):
                raise InputError(where, f"mask {key} has shape {tuple(self.masks[key].shape)}, the weight "
                                 f"{tuple(module.weight.shape)}", "use masks made for this architecture")  # fmt: skip

    def save(self, path: str | Path) -> None:
        """Write a safetensors file of bool tensors; ``info`` goes into the metadata (sorted JSON)."""
        meta = {**self.info, "pruned": self.pruned, "total": self.total, "sparsity": round(self.sparsity, 8)}
        tensors = {key: mask.contiguous() for key, mask in self.masks.items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={METADATA_KEY: dumps_json(meta)})

    @classmethod
    def load(cls, path: str | Path) -> WeightMasks:
        """Read a file written by :meth:`save`; a missing or foreign file is an :class:`InputError`."""
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                info = json.loads((handle.metadata() or {})[METADATA_KEY])
            tensors = load_file(str(path))
        except FileNotFoundError:
            raise InputError(path, "weight-mask file not found", "run the subnetworks_imp rule first") from None
        except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as error:
            raise InputError(path, f"not an IMP weight-mask file ({error})",
                             "pass a masks file written by `langtickets subnetworks-imp`") from None  # fmt: skip
        try:
            return cls(tensors, info)
        except ValueError as error:
            raise InputError(path, str(error), "pass a masks file written by `langtickets subnetworks-imp`") from None


@contextlib.contextmanager
def wearing(model: nn.Module, masks: WeightMasks) -> Iterator[dict[str, nn.Linear]]:
    """Enforce ``masks`` on ``model`` inside the block (``prune.custom_from_mask``); yields the modules.

    Pruned weights are zero in every forward pass and their ``weight_orig`` entries get zero gradient, so
    they stay zero through training. On exit the masked weights are made permanent (``prune.remove``).
    """
    modules = prunable_modules(model)
    masks.check(modules)
    for key, module in modules.items():
        prune.custom_from_mask(module, "weight", masks.masks[key].to(module.weight.device))
    try:
        yield modules
    finally:
        for module in modules.values():
            prune.remove(module, "weight")


def current_masks(modules: Mapping[str, nn.Module]) -> WeightMasks:
    """The masks the modules wear now (inside :func:`wearing`)."""
    return WeightMasks({key: module.weight_mask.detach().to("cpu", torch.bool).clone()
                        for key, module in modules.items()})  # fmt: skip


def magnitude_prune(modules: Mapping[str, nn.Module], count: int) -> WeightMasks:
    """Prune ``count`` more weights: the remaining ones of lowest magnitude over all modules together.

    ``modules`` come from :func:`wearing`. The magnitudes are those of the weights as trained
    (``weight_orig * weight_mask``, recomputed here because the module's ``weight`` attribute is only
    refreshed on the next forward pass). Returns the new masks (the old ones with ``count`` more zeros).
    """
    if count <= 0:
        return current_masks(modules)
    pairs = [(module, "weight") for module in modules.values()]
    scores = {(module, "weight"): (module.weight_orig * module.weight_mask).detach() for module in modules.values()}
    remaining = sum(int(module.weight_mask.sum()) for module in modules.values())
    if count > remaining:
        raise ConfigError(f"cannot prune {count} weights: only {remaining} remain")
    prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, importance_scores=scores, amount=count)
    return current_masks(modules)


def random_masks(template: WeightMasks, pruned: int, generator: torch.Generator) -> WeightMasks:
    """Masks of the template's shapes with exactly ``pruned`` weights removed uniformly at random over all
    prunable weights together (the paper's random subnetwork at the same sparsity, section 5 / Table 2)."""
    total = template.total
    if not 0 <= pruned <= total:
        raise ConfigError(f"cannot prune {pruned} of {total} weights")
    flat = torch.ones(total, dtype=torch.bool)
    flat[torch.randperm(total, generator=generator)[:pruned]] = False
    masks, start = {}, 0
    for key, mask in template.masks.items():
        masks[key] = flat[start:start + mask.numel()].view_as(mask).clone()
        start += mask.numel()
    return WeightMasks(masks)

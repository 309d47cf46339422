"""Language-specific subnetwork masks (Choenni et al., section 4.3) and the thresholds that make them.

A subnetwork of language ``l`` is a binary mask ``xi_l`` that is True where a unit is enabled:

* ``kind="heads"`` (the paper's structured masks, section 4.3): one ``[layers, heads]`` tensor per
  language (key ``heads``); a disabled head's output is multiplied by zero
  (:func:`langtickets.analysis.heads.head_gates`);
* ``kind="weights"`` (the unstructured magnitude baseline of section 8): one tensor per attention weight
  matrix -- Q, K, V and the attention output projection of every layer, keyed like
  :mod:`langtickets.analysis.weight_masks` (``layer.{i}.attention.self.query.weight``); embeddings and the
  feed-forward layers are never masked (section 8, note 5).

:class:`LanguageMasks` holds one mask set per language and is stored as one safetensors file (tensor
``{lang}/{key}``, a JSON record in the metadata). :func:`keep_mask` is the threshold of dynamic subnetworks
(section 4.3.2): exactly ``floor(share * n)`` lowest weights are dropped (20% of 144 heads is the paper's
28), ties broken by position, and
:func:`straight_through` passes the gradient through it as if it were the identity (Bengio et al. 2013).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from langtickets.analysis.weight_masks import PRUNABLE
from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, dumps_json
from langtickets.masks import find_bert_layers

KINDS = ("heads", "weights")
HEADS_KEY = "heads"
#: the attention weight matrices of a BERT layer (section 8 masks only these)
ATTENTION_PATHS = PRUNABLE[:4]
METADATA_KEY = "langtickets-headsub"


def attention_modules(model: nn.Module) -> dict[str, nn.Linear]:
    """``{"layer.{i}.{path}.weight": linear}`` for Q, K, V and the attention output of every layer."""
    return {f"layer.{i}.{path}.weight": layer.get_submodule(path)
            for i, layer in enumerate(find_bert_layers(model)) for path in ATTENTION_PATHS}  # fmt: skip


@dataclass(frozen=True)
class LanguageMasks:
    """Binary masks (True = enabled) per language: ``masks[lang][key]`` with ``kind`` heads or weights."""

    kind: str
    masks: Mapping[str, Mapping[str, torch.Tensor]]
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"mask kind must be one of {', '.join(KINDS)}, got '{self.kind}'")
        for lang, tensors in self.masks.items():
            if "/" in lang or not tensors:
                raise ConfigError(f"bad language '{lang}' or empty mask set")
            if any(mask.dtype != torch.bool for mask in tensors.values()):
                raise ConfigError(f"masks of '{lang}' must be bool tensors")

    @property
    def languages(self) -> list[str]:
        return list(self.masks)

    def of(self, lang: str) -> Mapping[str, torch.Tensor]:
        """The masks of ``lang``; a language without one is a :class:`ConfigError`."""
        if lang not in self.masks:
            raise ConfigError(f"no {self.kind} subnetwork for language '{lang}' (have: {', '.join(self.masks)})")
        return self.masks[lang]

    def disabled(self, lang: str) -> int:
        """Disabled units (heads or weights) of ``lang``."""
        return sum(int((~mask).sum()) for mask in self.of(lang).values())

    def total(self, lang: str) -> int:
        return sum(mask.numel() for mask in self.of(lang).values())

    def save(self, path: str | Path) -> None:
        """One safetensors file: tensors ``{lang}/{key}``; kind, languages and ``info`` in the metadata."""
        from safetensors.torch import save_file

        tensors = {f"{lang}/{key}": mask.contiguous().cpu() for lang, masks in self.masks.items()
                   for key, mask in masks.items()}  # fmt: skip
        record = {"kind": self.kind, "languages": self.languages, "info": dict(self.info)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={METADATA_KEY: dumps_json(record)})

    @classmethod
    def load(cls, path: str | Path) -> LanguageMasks:
        """Read a file written by :meth:`save`; a missing or foreign file is an :class:`InputError`."""
        from safetensors import SafetensorError, safe_open

        fix = "pass a masks file written by `langtickets headsub-subnetworks`"
        try:
            with safe_open(str(path), framework="pt") as handle:
                record = json.loads((handle.metadata() or {})[METADATA_KEY])
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
        except FileNotFoundError:
            raise InputError(path, "subnetwork mask file not found", "run the headsub_subnetworks rule") from None
        except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as error:
            raise InputError(path, f"not a head-subnetwork mask file ({error})", fix) from None
        masks: dict[str, dict[str, torch.Tensor]] = {lang: {} for lang in record["languages"]}
        for name, tensor in sorted(tensors.items()):
            lang, _, key = name.partition("/")
            if lang not in masks:
                raise InputError(path, f"tensor '{name}' of an unlisted language", fix)
            masks[lang][key] = tensor
        try:
            return cls(record["kind"], masks, record.get("info", {}))
        except ConfigError as error:
            raise InputError(path, str(error), fix) from None


def drop_count(drop_share: float, total: int) -> int:
    """``floor(drop_share * total)``: section 4.3.2 drops 20% of 144 heads as 28 (a hair of tolerance keeps
    0.3 x 10 at 3)."""
    if not 0 <= drop_share <= 1:
        raise ConfigError(f"the share to drop must lie in [0, 1], got {drop_share}")
    return int(math.floor(drop_share * total + 1e-9))


def keep_mask(scores: torch.Tensor, drop_share: float) -> torch.Tensor:
    """Bool mask of ``scores``' shape with exactly ``floor(drop_share * n)`` lowest entries False.

    Ties go by position (a stable sort), so the choice is deterministic (section 4.3.2's threshold).
    """
    flat = scores.detach().reshape(-1)
    drop = drop_count(drop_share, flat.numel())
    keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)
    keep[torch.sort(flat, stable=True).indices[:drop]] = False
    return keep.view(scores.shape)


def straight_through(scores: torch.Tensor, drop_share: float) -> torch.Tensor:
    """The binary mask of :func:`keep_mask` as floats in the forward pass; in the backward pass the
    threshold counts as the identity, so ``d loss / d scores = d loss / d mask`` (Bengio et al. 2013)."""
    hard = keep_mask(scores, drop_share).to(scores.dtype)
    return hard + (scores - scores.detach())  # the bracket is exactly 0, so the forward value stays binary


def union(masks: Iterable[torch.Tensor]) -> torch.Tensor:
    """Enabled where any mask is enabled (section 4.3.1: the union over seeds keeps sometimes-important
    heads)."""
    masks = list(masks)
    if not masks:
        raise ConfigError("the union of subnetworks needs at least one mask")
    result = masks[0].clone()
    for mask in masks[1:]:
        result |= mask
    return result


def random_like(masks: LanguageMasks, generator: torch.Generator) -> LanguageMasks:
    """Masks with each language's number of disabled units, placed uniformly at random over all of its
    units together (section 8, "Shuffle": the same number of enabled heads, randomly chosen)."""
    shuffled = {}
    for lang in masks.languages:
        template = masks.of(lang)
        total = sum(mask.numel() for mask in template.values())
        flat = torch.ones(total, dtype=torch.bool)
        flat[torch.randperm(total, generator=generator)[: masks.disabled(lang)]] = False
        shuffled[lang], start = {}, 0
        for key, mask in template.items():
            shuffled[lang][key] = flat[start:start + mask.numel()].view(mask.shape).clone()
            start += mask.numel()
    return LanguageMasks(masks.kind, shuffled, {**masks.info, "baseline": "random"})


def disabled_counts(masks: LanguageMasks, langs: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """``{lang: {"disabled": n, "total": n}}``."""
    return {lang: {"disabled": masks.disabled(lang), "total": masks.total(lang)} for lang in langs or masks.languages}

"""How a model wears a language's subnetwork: the training variants of Choenni et al. (sections 4.3, 4.6, 8).

A *variant* names the masks and how they are used:

* ``full`` -- no masks (the FULL baseline, section 4.6);
* ``static`` / ``dynamic`` -- the pruned head subnetworks (section 4.3.1), held fixed (SN_static) or trained
  with the model (SN_dyna, section 4.3.2);
* ``random-static`` / ``random-dynamic`` -- random head masks with each language's number of disabled
  heads (section 8: "Shuffle", and DR, a dynamic run started from a random subnetwork);
* ``magnitude-static`` / ``magnitude-dynamic`` -- unstructured masks over the attention weights found by
  magnitude pruning (section 8, "Unstructured pruning").

**Dynamic masks** (section 4.3.2): each language gets real-valued mask weights, initialised to the static
mask times a small positive value (``init``; disabled units start at 0). At every forward pass the weights
are thresholded so that exactly ``drop_share`` of them (20%) are zero, and the straight-through estimator
sends the gradient of the binary mask to the weights unchanged. A seeded jitter of 1e-3 x ``init`` breaks
the ties among equal initial weights, so which extra units the first threshold drops is drawn at random
instead of always being the lowest indices.

Heads are gated with :func:`langtickets.analysis.heads.head_gates`; weight masks with
``torch.nn.utils.parametrize`` (``weight = original * mask``, so masked entries get zero gradient and the
original values come back when the parametrisation is removed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from langtickets.analysis.heads import head_gates
from langtickets.errors import ConfigError
from langtickets.headsub.masks import HEADS_KEY, LanguageMasks, attention_modules, keep_mask, straight_through

VARIANTS = ("full", "static", "dynamic", "random-static", "random-dynamic", "magnitude-static", "magnitude-dynamic")
#: variant -> the masks it starts from (see :func:`mask_source`)
SOURCES = {"static": "heads", "dynamic": "heads", "random-static": "random", "random-dynamic": "random",
           "magnitude-static": "magnitude", "magnitude-dynamic": "magnitude"}  # fmt: skip


def mask_source(variant: str) -> str | None:
    """``heads``, ``random`` or ``magnitude`` (the subnetworks file a variant needs), ``None`` for full."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant '{variant}'; choose one of {', '.join(VARIANTS)}")
    return SOURCES.get(variant)


def is_dynamic(variant: str) -> bool:
    return variant.endswith("dynamic")


@dataclass(frozen=True)
class DynamicSettings:
    """Section 4.3.2: the share thresholded away at every step, the initial weight of enabled units."""

    drop_share: float = 0.2
    init: float = 0.01

    def __post_init__(self) -> None:
        if not 0 <= self.drop_share < 1 or self.init <= 0:
            raise ConfigError(f"dynamic masks need 0 <= drop_share < 1 and init > 0, got {self}")


class MaskUse:
    """No masks (the full model); the base of the masked variants."""

    variant = "full"

    def trainable(self) -> list[nn.Parameter]:
        """Mask weights the optimiser updates (dynamic variants only)."""
        return []

    @contextlib.contextmanager
    def installed(self, model: nn.Module) -> Iterator[None]:
        """Whatever must stay on the model while it trains or is scored (the weight parametrisation)."""
        yield

    @contextlib.contextmanager
    def wearing(self, model: nn.Module, lang: str | None) -> Iterator[None]:
        """Forward passes inside the block use ``lang``'s subnetwork (``None``: the full model)."""
        yield

    def current(self) -> LanguageMasks | None:
        """The binary masks now in use (after the threshold for dynamic ones); ``None`` for the full model."""
        return None


def _initial_scores(mask: torch.Tensor, init: float, generator: torch.Generator, device: torch.device) -> nn.Parameter:
    """Mask weights on ``device`` (made leaf parameters there, so an optimiser can hold them)."""
    jitter = torch.rand(mask.shape, generator=generator) * init * 1e-3
    return nn.Parameter((mask.cpu().float() * init + jitter).to(device))


class _Masked(MaskUse):
    """Shared bookkeeping of head and weight masks: static tensors or dynamic mask weights per language."""

    def __init__(self, variant: str, masks: LanguageMasks, dynamic: DynamicSettings | None, seed: int,
                 device: torch.device):  # fmt: skip
        self.variant, self.kind, self.dynamic, self.info = variant, masks.kind, dynamic, dict(masks.info)
        self.static = {lang: {k: m.to(device) for k, m in masks.of(lang).items()} for lang in masks.languages}
        self.scores: dict[str, dict[str, nn.Parameter]] = {}
        if dynamic is not None:
            generator = torch.Generator().manual_seed(seed)
            self.scores = {lang: {key: _initial_scores(mask, dynamic.init, generator, device)
                                  for key, mask in tensors.items()}
                           for lang, tensors in self.static.items()}  # fmt: skip

    def trainable(self) -> list[nn.Parameter]:
        return [p for tensors in self.scores.values() for p in tensors.values()]

    def masks_of(self, lang: str) -> dict[str, torch.Tensor]:
        """Float masks of ``lang`` for the forward pass: fixed, or thresholded with straight-through
        gradients. A dynamic language's units compete together (one threshold over all its units)."""
        if lang not in self.static:
            raise ConfigError(f"no subnetwork for language '{lang}' (have: {', '.join(self.static)})")
        if self.dynamic is None:
            return {key: mask.float() for key, mask in self.static[lang].items()}
        scores = self.scores[lang]
        flat = straight_through(torch.cat([s.reshape(-1) for s in scores.values()]), self.dynamic.drop_share)
        pieces = torch.split(flat, [s.numel() for s in scores.values()])
        return {key: piece.view(s.shape) for (key, s), piece in zip(scores.items(), pieces)}

    def current(self) -> LanguageMasks:
        if self.dynamic is None:
            fixed = {lang: {key: mask.cpu() for key, mask in tensors.items()} for lang, tensors in self.static.items()}
            return LanguageMasks(self.kind, fixed, self.info)
        binary = {}
        for lang, scores in self.scores.items():
            keep = keep_mask(torch.cat([s.detach().reshape(-1) for s in scores.values()]), self.dynamic.drop_share)
            pieces = torch.split(keep.cpu(), [s.numel() for s in scores.values()])
            binary[lang] = {key: piece.view(s.shape).clone() for (key, s), piece in zip(scores.items(), pieces)}
        return LanguageMasks(self.kind, binary, {**self.info, "dynamic": True})


class HeadMaskUse(_Masked):
    """Head subnetworks: every head's output is multiplied by its gate (section 4.3)."""

    @contextlib.contextmanager
    def wearing(self, model: nn.Module, lang: str | None) -> Iterator[None]:
        if lang is None:
            yield
            return
        with head_gates(model, self.masks_of(lang)[HEADS_KEY]):
            yield


class _WeightMask(nn.Module):
    """A parametrisation ``weight -> weight * mask`` whose mask the owner switches per language."""

    def __init__(self, owner: WeightMaskUse, key: str):
        super().__init__()
        self.owner_lookup = owner.lookup  # a bound method of a plain object: no parameters are registered
        self.key = key

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        mask = self.owner_lookup(self.key)
        return weight if mask is None else weight * mask


class WeightMaskUse(_Masked):
    """Unstructured masks over the attention weights (section 8), applied by parametrisation."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._active: Mapping[str, torch.Tensor] | None = None

    def lookup(self, key: str) -> torch.Tensor | None:
        return None if self._active is None else self._active[key]

    @contextlib.contextmanager
    def installed(self, model: nn.Module) -> Iterator[None]:
        from torch.nn.utils import parametrize

        modules = attention_modules(model)
        missing = set(next(iter(self.static.values()))) ^ set(modules)
        if missing:
            raise ConfigError(f"weight masks do not fit the model (e.g. {sorted(missing)[0]}); use masks made for it")
        for key, module in modules.items():
            parametrize.register_parametrization(module, "weight", _WeightMask(self, key))
        try:
            yield
        finally:
            for module in modules.values():
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)

    @contextlib.contextmanager
    def wearing(self, model: nn.Module, lang: str | None) -> Iterator[None]:
        self._active = None if lang is None else self.masks_of(lang)
        try:
            yield
        finally:
            self._active = None


def build_use(variant: str, subnetworks: Mapping[str, LanguageMasks], dynamic: DynamicSettings, seed: int,
              device: torch.device) -> MaskUse:  # fmt: skip
    """The :class:`MaskUse` of ``variant``; ``subnetworks`` maps ``heads``/``random``/``magnitude`` to masks."""
    source = mask_source(variant)
    if source is None:
        return MaskUse()
    if source not in subnetworks:
        raise ConfigError(f"variant '{variant}' needs the '{source}' subnetworks; pass --{source} MASKS")
    masks = subnetworks[source]
    settings = dynamic if is_dynamic(variant) else None
    cls = HeadMaskUse if masks.kind == "heads" else WeightMaskUse
    return cls(variant, masks, settings, seed, device)

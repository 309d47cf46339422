"""Per-language structured masks and how a model wears them (Lee & Hwang, §3.1 "NAS search space").

Each transformer layer has three masks over units:

* ``mu_q`` -- hidden units of the attention scores: rows of Q and of K together (the same vector gates both;
  with several heads it covers every head's slice of the hidden dimension);
* ``mu_v`` -- rows of V, hence columns of the attention output projection W0;
* ``mu_w`` -- intermediate units: rows of W1 and b1, hence columns of W2.

A :class:`TicketMasks` holds, for an ordered list of languages, one ``[languages x units]`` bool tensor per
(layer, kind), keyed ``layer.{i}.{kind}``. A model carries the masks of all languages and the batch's
language selects them: :class:`MaskSwitch` installs forward hooks once and ``.set(lang)`` switches per batch.

Why forward hooks rather than a weight parametrisation: a hook multiplies the projection's *output* by the
mask (``mu * (W h + b)``, exactly the paper's equations, bias included), leaves the parameters and the
``state_dict`` untouched (checkpoints and ``save_pretrained`` work while masks are active), is removed exactly
by its handle, and switching language costs a dictionary swap. The price is one element-wise multiply per
masked projection. Masking outputs gives masked units exactly zero gradient: rows of Q/K/V/W1 and b1 see a
zero upstream gradient, and columns of W0/W2 see a zero input (the intermediate is masked before the
activation, and GELU(0) = 0, which :func:`find_bert_layers` checks for the model's activation).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, dumps_json

KINDS = ("mu_q", "mu_v", "mu_w")
METADATA_KEY = "langtickets"


def mask_key(layer: int, kind: str) -> str:
    return f"layer.{layer}.{kind}"


def parse_key(key: str) -> tuple[int, str]:
    _, layer, kind = key.split(".")
    return int(layer), kind


@dataclass(frozen=True)
class TicketShape:
    """The part of an architecture the search space depends on."""

    layers: int
    hidden: int
    intermediate: int
    heads: int

    def units(self, kind: str) -> int:
        return self.intermediate if kind == "mu_w" else self.hidden

    def layout(self) -> dict[str, int]:
        """``{key: number of units}`` in the canonical order (layer by layer, q then v then w)."""
        return {mask_key(i, kind): self.units(kind) for i in range(self.layers) for kind in KINDS}

    def describe(self) -> str:
        return (
            f"{self.layers} layers, hidden {self.hidden}, intermediate {self.intermediate}, {self.heads} heads"
        )

    @classmethod
    def of_model(cls, model: nn.Module) -> TicketShape:
        layers = find_bert_layers(model)
        attention = layers[0].attention.self
        return cls(
            layers=len(layers),
            hidden=attention.query.out_features,
            intermediate=layers[0].intermediate.dense.out_features,
            heads=attention.num_attention_heads,
        )

    @classmethod
    def of_arch(cls, arch: Any) -> TicketShape:
        """From a :class:`langtickets.model.ArchConfig`."""
        return cls(layers=arch.layers, hidden=arch.hidden, intermediate=arch.intermediate, heads=arch.heads)


def _is_bert_layer(module: nn.Module) -> bool:
    attention = getattr(getattr(module, "attention", None), "self", None)
    return all(hasattr(attention, name) for name in ("query", "key", "value")) and hasattr(
        getattr(module, "intermediate", None), "dense"
    )


def find_bert_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer layers of the one BERT-style encoder inside ``model`` (MLM, bare or task model)."""
    found = [
        module.layer
        for module in model.modules()
        if isinstance(getattr(module, "layer", None), nn.ModuleList)
        and len(module.layer) > 0
        and all(_is_bert_layer(layer) for layer in module.layer)
    ]
    if len(found) != 1:
        raise ConfigError(
            f"expected one BERT-style encoder in {type(model).__name__}, found {len(found)}; "
            "masks apply to models with a single BertModel-like encoder"
        )
    activation = found[0][0].intermediate.intermediate_act_fn
    if float(activation(torch.zeros(1))) != 0.0:
        raise ConfigError(
            f"the model's activation {activation} is not zero at 0, so masking W1's output would not remove "
            "W2's columns; use a GELU/ReLU model"
        )
    return found[0]


def install_mask_hooks(model: nn.Module, lookup: Callable[[str, torch.Tensor], torch.Tensor | None]) -> list:
    """Register forward hooks multiplying Q, K, V and W1 outputs by ``lookup(key, output)``.

    ``lookup`` returns the mask vector for a key (broadcast over batch and positions) or ``None`` to leave
    the output alone. Returns the hook handles; removing them restores the model exactly.
    """

    def hook_for(key: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
            mask = lookup(key, output)
            return None if mask is None else output * mask

        return hook

    handles = []
    for i, layer in enumerate(find_bert_layers(model)):
        attention = layer.attention.self
        targets = [
            (attention.query, "mu_q"),
            (attention.key, "mu_q"),
            (attention.value, "mu_v"),
            (layer.intermediate.dense, "mu_w"),
        ]
        for module, kind in targets:
            handles.append(module.register_forward_hook(hook_for(mask_key(i, kind))))
    return handles


@dataclass(frozen=True)
class TicketMasks:
    """Boolean unit masks for every language, layer and kind (True = the unit is in the ticket)."""

    languages: tuple[str, ...]
    masks: dict[str, torch.Tensor]
    shape: TicketShape
    method: str = "unknown"
    arch: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        where = self.source or "<ticket masks>"
        layout = self.shape.layout()
        if set(self.masks) != set(layout):
            missing, extra = sorted(set(layout) - set(self.masks)), sorted(set(self.masks) - set(layout))
            raise InputError(where, f"mask keys do not match the architecture (missing {missing[:3]}, "
                             f"unexpected {extra[:3]})", "rebuild the tickets with `langtickets select-tickets`")
        if len(set(self.languages)) != len(self.languages) or not self.languages:
            raise InputError(where, f"languages {list(self.languages)} are empty or repeated",
                             "give each language once")
        for key, units in layout.items():
            tensor = self.masks[key]
            if tensor.dtype != torch.bool or tuple(tensor.shape) != (len(self.languages), units):
                raise InputError(where, f"mask {key} has dtype {tensor.dtype} and shape {tuple(tensor.shape)}, "
                                 f"expected bool {(len(self.languages), units)}", "rebuild the tickets")

    def index(self, lang: str) -> int:
        try:
            return self.languages.index(lang)
        except ValueError:
            raise ConfigError(
                f"language '{lang}' has no ticket in {self.source or 'these masks'} (languages: "
                f"{', '.join(self.languages)}); search tickets for it or pick another language"
            ) from None

    def for_language(self, lang: str) -> dict[str, torch.Tensor]:
        """``{key: bool [units]}`` for one language."""
        row = self.index(lang)
        return {key: tensor[row] for key, tensor in self.masks.items()}

    def density_rows(self) -> list[dict[str, Any]]:
        """One row per (language, layer, kind): kept units, total units, density."""
        rows = []
        for row, lang in enumerate(self.languages):
            for key, tensor in self.masks.items():
                layer, kind = parse_key(key)
                kept, total = int(tensor[row].sum()), tensor.shape[1]
                rows.append({"lang": lang, "layer": layer, "kind": kind, "kept": kept, "total": total,
                             "density": kept / total})
        return rows

    def density(self) -> dict[str, dict[str, float]]:
        """``{lang: {key: density, ..., "all": overall density}}``."""
        result: dict[str, dict[str, float]] = {}
        for row, lang in enumerate(self.languages):
            per_key = {key: float(tensor[row].float().mean()) for key, tensor in self.masks.items()}
            kept = sum(int(tensor[row].sum()) for tensor in self.masks.values())
            per_key["all"] = kept / sum(tensor.shape[1] for tensor in self.masks.values())
            result[lang] = per_key
        return result

    def check_model(self, model: nn.Module) -> None:
        """Raise :class:`InputError` when ``model`` is not the architecture these masks were made for."""
        actual = TicketShape.of_model(model)
        if actual != self.shape:
            raise InputError(
                self.source or "<ticket masks>",
                f"mask file was made for an architecture with {self.shape.describe()}; "
                f"the model has {actual.describe()}",
                "rebuild the tickets for this model",
            )

    def metadata(self) -> dict[str, Any]:
        return {"languages": list(self.languages), "method": self.method, "arch": self.arch,
                **{name: getattr(self.shape, name) for name in ("layers", "hidden", "intermediate", "heads")}}

    def save(self, path: str | Path) -> None:
        """Write a safetensors file; the metadata sits under one key so the bytes are reproducible."""
        tensors = {key: tensor.contiguous() for key, tensor in self.masks.items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={METADATA_KEY: dumps_json(self.metadata())})

    @classmethod
    def load(cls, path: str | Path, model: nn.Module | None = None) -> TicketMasks:
        """Read a file written by :meth:`save` (checked against ``model``'s architecture when given).

        Bad or foreign files, and masks made for another architecture, raise :class:`InputError`.
        """
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                meta = json.loads((handle.metadata() or {})[METADATA_KEY])
            tensors = load_file(str(path))
        except FileNotFoundError:
            raise InputError(path, "mask file not found", "run the select_tickets rule first") from None
        except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as error:
            raise InputError(path, f"not a ticket mask file ({error})",
                             "pass a masks.safetensors written by `langtickets select-tickets`") from None
        shape = TicketShape(**{name: int(meta[name]) for name in ("layers", "hidden", "intermediate", "heads")})
        masks = cls(tuple(meta["languages"]), tensors, shape, meta.get("method", "unknown"),
                    meta.get("arch", {}), source=str(path))
        if model is not None:
            masks.check_model(model)
        return masks


class MaskSwitch:
    """Hooks carrying every language's masks; ``set(lang)`` picks the batch's language, ``set(None)`` = dense.

    Usage in a training loop::

        with MaskSwitch(model, masks) as switch:
            for lang, batch in batches:
                switch.set(lang)
                model(**batch).loss.backward()

    Masks follow the output's device and dtype (converted once per language and kept), so the switch may be
    created before the model is moved or run under autocast.
    """

    def __init__(self, model: nn.Module, masks: TicketMasks):
        masks.check_model(model)
        self.masks = masks
        self.lang: str | None = None
        self._active: dict[str, torch.Tensor] | None = None
        self._cache: dict[tuple[str, torch.device, torch.dtype], dict[str, torch.Tensor]] = {}
        self._handles = install_mask_hooks(model, self._lookup)

    def set(self, lang: str | None) -> None:
        """Select ``lang``'s ticket for the following forward passes (``None`` = the dense model)."""
        if lang is not None:
            self.masks.index(lang)
        self.lang = lang
        self._active = None

    def _lookup(self, key: str, output: torch.Tensor) -> torch.Tensor | None:
        if self.lang is None:
            return None
        active = self._active
        if active is None or active[key].device != output.device or active[key].dtype != output.dtype:
            active = self._active = self._converted(self.lang, output)
        return active[key]

    def _converted(self, lang: str, like: torch.Tensor) -> dict[str, torch.Tensor]:
        """``lang``'s masks on ``like``'s device and dtype, converted once and kept."""
        cache_key = (lang, like.device, like.dtype)
        if cache_key not in self._cache:
            masks = self.masks.for_language(lang)
            self._cache[cache_key] = {key: mask.to(device=like.device, dtype=like.dtype) for key, mask in masks.items()}
        return self._cache[cache_key]

    def remove(self) -> None:
        """Remove the hooks; the model is exactly as before."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> MaskSwitch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


@contextlib.contextmanager
def apply_masks(model: nn.Module, masks: TicketMasks, lang: str) -> Iterator[MaskSwitch]:
    """Run ``model`` with ``lang``'s ticket inside the block; the hooks are removed on exit."""
    switch = MaskSwitch(model, masks)
    try:
        switch.set(lang)
        yield switch
    finally:
        switch.remove()


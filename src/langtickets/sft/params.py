"""Which parameters a sparse fine-tuning may touch (Ansell et al., §3.2 and §4.2).

A :class:`ParameterPlan` splits a model's parameters into three sets:

* ``maskable`` -- sparsely fine-tuned: LT-SFT picks K of their entries, the SFT stores differences there;
* ``dense`` -- fully trained in both phases and stored whole (a task's classifier head, §3.2);
* everything else -- frozen.

The defaults follow the paper and are resolved from module structure rather than BERT-specific names:
layer-normalisation parameters are found by module type, the output embeddings through
``get_output_embeddings()``, and a task head is "every parameter outside ``model.base_model``" (the
encoder shared by every head type in Hugging Face models).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: module class names (besides torch's own) treated as layer normalisation
_NORM_SUFFIXES = ("LayerNorm", "RMSNorm", "LayerNorm2d")


@dataclass(frozen=True)
class ParameterPlan:
    """Names of the parameters LT-SFT fine-tunes sparsely (``maskable``) and fully (``dense``)."""

    maskable: tuple[str, ...]
    dense: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        overlap = sorted(set(self.maskable) & set(self.dense))
        if overlap:
            raise ValueError(f"parameters cannot be both maskable and dense: {overlap[:3]}")

    def check(self, model: nn.Module) -> None:
        """Raise ``ValueError`` if the plan names a parameter the model does not have."""
        names = dict(model.named_parameters())
        missing = [name for name in (*self.maskable, *self.dense) if name not in names]
        if missing:
            raise ValueError(f"the parameter plan names parameters the model lacks: {missing[:3]}")

    def n_maskable(self, model: nn.Module) -> int:
        """Number of maskable scalar parameters: the denominator of an SFT's density."""
        params = dict(model.named_parameters())
        return sum(params[name].numel() for name in self.maskable)


def is_layer_norm(module: nn.Module) -> bool:
    """Whether ``module`` is a normalisation layer (torch's or a model's own class named ``*LayerNorm``)."""
    if isinstance(module, (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm)):
        return True
    return type(module).__name__.endswith(_NORM_SUFFIXES)


def layer_norm_parameter_names(model: nn.Module) -> set[str]:
    """Full names of every parameter owned directly by a normalisation module."""
    names = set()
    for prefix, module in model.named_modules():
        if is_layer_norm(module):
            names.update(f"{prefix}.{name}" if prefix else name for name, _ in module.named_parameters(recurse=False))
    return names


def head_parameter_names(model: nn.Module) -> list[str]:
    """Parameters outside the shared encoder ``model.base_model`` (e.g. ``classifier.*``), in model order."""
    body = {id(param) for param in _base_model(model).parameters()}
    return [name for name, param in model.named_parameters() if id(param) not in body]


def untie_output_embeddings(model: nn.Module) -> bool:
    """Give the output embeddings their own copy of the input embedding matrix (§4.2); True if they were tied.

    Also sets ``config.tie_word_embeddings = False`` so that saving and reloading keeps them apart.
    """
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is None or output.weight is not model.get_input_embeddings().weight:
        return False
    output.weight = nn.Parameter(output.weight.detach().clone(), requires_grad=output.weight.requires_grad)
    if getattr(model, "config", None) is not None:
        model.config.tie_word_embeddings = False
    return True


def language_sft_plan(model: nn.Module, *, freeze_layer_norm: bool = True) -> ParameterPlan:
    """The plan for a language SFT (MLM), §4.2: untie (in place) and freeze the output embeddings, freeze
    layer normalisation, make everything else maskable (the MLM head transform and output bias included).
    """
    untie_output_embeddings(model)
    frozen = layer_norm_parameter_names(model) if freeze_layer_norm else set()
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    frozen_ids = {id(output.weight)} if output is not None else set()
    maskable = [
        name for name, param in model.named_parameters() if name not in frozen and id(param) not in frozen_ids
    ]
    return ParameterPlan(maskable=tuple(maskable))


def task_sft_plan(
    model: nn.Module, *, head: Iterable[str] | None = None, freeze_layer_norm: bool = True
) -> ParameterPlan:
    """The plan for a task SFT, §3.2: the head (default: parameters outside ``base_model``) is dense, the
    encoder maskable; layer normalisation frozen as in the original training scripts (``--freeze_layer_norm``).
    """
    dense = list(head) if head is not None else head_parameter_names(model)
    frozen = layer_norm_parameter_names(model) if freeze_layer_norm else set()
    maskable = [name for name, _ in model.named_parameters() if name not in frozen and name not in dense]
    return ParameterPlan(maskable=tuple(maskable), dense=tuple(dense))


def bias_parameter_names(names: Iterable[str]) -> list[str]:
    """The bias vectors among ``names`` (a module parameter called ``bias``), for BitFit (Zaken et al.)."""
    return [name for name in names if name.rsplit(".", 1)[-1] == "bias"]


def base_fingerprint(model: nn.Module, samples: int = 4096) -> str:
    """Identify a pretrained checkpoint: SHA-256 of the model type, the input embedding shape and a strided
    sample of its values.

    Stored in every SFT and checked by :meth:`SparseFineTuning.verify_base`, it catches an SFT applied to a
    different pretrained variant of the same architecture (dense vs ticketed). Take it on the pristine base:
    an applied language SFT changes the embeddings.
    """
    weight = model.get_input_embeddings().weight.detach()
    flat = weight.reshape(-1)
    picks = torch.linspace(0, flat.numel() - 1, min(samples, flat.numel())).round().long().to(flat.device)
    values = flat.index_select(0, picks).to("cpu", torch.float64).numpy()
    digest = hashlib.sha256()
    model_type = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    digest.update(f"{model_type}|{tuple(weight.shape)}|".encode())
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _base_model(model: nn.Module) -> nn.Module:
    base = getattr(model, "base_model", None)
    return base if isinstance(base, nn.Module) else model

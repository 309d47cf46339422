"""Attention-head gates, head importance and the dissociation score (MeSH paper, section III.A-B, Eq. 3-4
and the IAP equations (1)-(2); Michel et al. 2019 for the gate and the per-layer normalisation).

**Gates.** Each head ``h`` gets a scalar gate ``xi_h`` multiplying its output (Eq. 3); ``xi_h = 0`` prunes it.
Transformers 5 no longer has BERT's ``head_mask`` argument, so the gate is a forward pre-hook (a public
``nn.Module`` API) on every layer's attention output projection: its input is the concatenation of the
heads' outputs ``(B, T, heads * head_size)``, and the hook multiplies head ``h``'s slice by
``gates[layer, h]`` -- exactly ``W_O (xi_1 att_1; ...; xi_H att_H)``. With all gates 1 the model is unchanged.

**Importance** (Eq. 4): ``I_h = E_(x,y) |dL(x, y) / d xi_h|`` at ``xi = 1``, the expectation over the items
that ``batches`` yields (batches of one example give the per-example expectation of Eq. 4; larger batches
Michel et al.'s cheaper batch-level estimate). Like Michel et al., the scores are normalised per layer by
their L2 norm so that heads of different layers compare (``normalize=False`` keeps the raw scores).

**Dissociation** (IAP, equations (1)-(2)): with ``H_B^alpha`` the top ``alpha`` share of heads most important
for task B, ``RP_A(H_B^alpha) = P_A(pruned H_B^alpha) / P_A(unpruned)`` and
``D_A(alpha) = RP_A(H_B^alpha) - RP_A(H_A^alpha)``, ``D(alpha) = (D_A(alpha) + D_B(alpha)) / 2``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from langtickets.errors import ConfigError
from langtickets.masks import find_bert_layers


def head_shape(model: nn.Module) -> tuple[int, int]:
    """``(layers, heads)`` of the one BERT encoder inside ``model``."""
    layers = find_bert_layers(model)
    return len(layers), int(layers[0].attention.self.num_attention_heads)


@contextlib.contextmanager
def head_gates(model: nn.Module, gates: torch.Tensor) -> Iterator[torch.Tensor]:
    """Multiply every head's output by ``gates[layer, head]`` inside the block (gradients flow to ``gates``).

    ``gates`` is a float ``[layers, heads]`` tensor on the model's device; the hooks are removed on exit.
    """
    layers = find_bert_layers(model)
    if tuple(gates.shape) != (len(layers), layers[0].attention.self.num_attention_heads):
        raise ConfigError(f"gates of shape {tuple(gates.shape)} do not fit {len(layers)} layers x "
                          f"{layers[0].attention.self.num_attention_heads} heads")  # fmt: skip

    def hook_for(index: int, heads: int):
        def hook(module: nn.Module, args: tuple) -> tuple:
            hidden = args[0]  # (B, T, heads * head_size): the heads' outputs side by side
            shaped = hidden.view(*hidden.shape[:-1], heads, hidden.shape[-1] // heads)
            gated = shaped * gates[index].to(hidden.dtype).unsqueeze(-1)
            return (gated.view(hidden.shape), *args[1:])

        return hook

    handles = [
        layer.attention.output.dense.register_forward_pre_hook(hook_for(i, layer.attention.self.num_attention_heads))
        for i, layer in enumerate(layers)
    ]
    try:
        yield gates
    finally:
        for handle in handles:
            handle.remove()


def normalize_by_layer(scores: torch.Tensor) -> torch.Tensor:
    """Divide each layer's scores by their L2 norm (Michel et al.); an all-zero layer stays zero."""
    norms = scores.pow(2).sum(dim=-1, keepdim=True).sqrt()
    return scores / norms.clamp(min=1e-20)


def head_importance(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    *,
    normalize: bool = True,
) -> torch.Tensor:
    """Head importance ``E |dL / d xi_h|`` (MeSH Eq. 4) as a float ``[layers, heads]`` tensor on the CPU.

    ``loss_fn(model, batch)`` returns the scalar loss of one item of ``batches``; the expectation is the mean
    over the items. The model is scored in eval mode (no dropout) and left in the mode it was in; only the
    gates' gradients are computed (the parameters' ``.grad`` are untouched).
    """
    shape = head_shape(model)
    device = next(model.parameters()).device
    total, count = torch.zeros(shape, dtype=torch.float64), 0
    was_training = model.training
    model.eval()
    try:
        gates = torch.ones(shape, device=device, requires_grad=True)
        with head_gates(model, gates):
            for batch in batches:
                (grad,) = torch.autograd.grad(loss_fn(model, batch), gates)
                total += grad.detach().abs().double().cpu()
                count += 1
    finally:
        model.train(was_training)
    if count == 0:
        raise ConfigError("head importance needs at least one batch of data")
    scores = (total / count).float()
    return normalize_by_layer(scores) if normalize else scores


def top_heads(importance: torch.Tensor, alpha: float) -> list[tuple[int, int]]:
    """The ``round(alpha * heads)`` most important heads as ``(layer, head)``, most important first.

    Ties keep the (layer, head) order, so the choice is deterministic.
    """
    return ranked_heads(importance)[: share_count(alpha, importance.numel())]


def ranked_heads(importance: torch.Tensor, descending: bool = True) -> list[tuple[int, int]]:
    """Every head ordered by importance (most important first unless ``descending`` is False), ties by index."""
    flat = importance.reshape(-1)
    order = torch.sort(flat, descending=descending, stable=True).indices.tolist()
    heads = importance.shape[1]
    return [(index // heads, index % heads) for index in order]


def share_count(alpha: float, total: int) -> int:
    """``alpha * total`` rounded half up: the number of heads in a top-alpha share."""
    if not 0 <= alpha <= 1:
        raise ConfigError(f"alpha must lie in [0, 1], got {alpha}")
    return min(total, int(math.floor(alpha * total + 0.5)))


def gates_without(shape: tuple[int, int], pruned: Iterable[tuple[int, int]]) -> torch.Tensor:
    """Gates of ones with the given heads set to zero."""
    gates = torch.ones(shape)
    for layer, head in pruned:
        gates[layer, head] = 0.0
    return gates


def relative_performance(pruned: float, unpruned: float) -> float:
    """``RP = P(pruned) / P(unpruned)`` (IAP equation (1)); NaN when the unpruned score is 0."""
    return pruned / unpruned if unpruned else float("nan")


def dissociation(rp: Mapping[tuple[str, str], float], a: str, b: str) -> dict[str, float]:
    """``D_A``, ``D_B`` and ``D`` (IAP equation (2)) from ``rp[(X, Y)] = RP_X(H_Y^alpha)``."""
    d_a = rp[a, b] - rp[a, a]
    d_b = rp[b, a] - rp[b, b]
    return {"d_a": d_a, "d_b": d_b, "d": (d_a + d_b) / 2}


def pair_dissociations(units: Sequence[str], rp: Mapping[tuple[str, str], float]) -> list[dict[str, Any]]:
    """``D`` for every unordered pair of units (``units[i]`` before ``units[j]``)."""
    return [{"a": a, "b": b, **dissociation(rp, a, b)} for i, a in enumerate(units) for b in units[i + 1:]]

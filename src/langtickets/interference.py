"""Negative interference between languages during pretraining (Lee & Hwang, §3.3, Figures 2 and 3).

Two measurements, both per transformer layer (all parameters of ``encoder.layer.{i}`` flattened into one
vector) and per pair of languages:

* ``gc`` (Eq. 2, after Wang et al. 2020): the cosine between the gradients ``g_i``, ``g_j`` of two languages'
  MLM losses at the *same* parameters. It is a snapshot and fluctuates from step to step.
* ``uc`` (Eq. 6-7): the cosine between the cumulative updates ``u_i = sum_t 1(l_t = l_i) delta_t`` of two
  languages, where ``delta_t = theta_t - theta_{t-1}`` is the parameter change made by step ``t``. Because
  every batch holds one language, the total change splits exactly into per-language sums
  (``sum_i u_i = theta_T - theta_0``). Lower cosine = more interference.

Figure 2's stability comparison uses the *relative change* of a metric between two consecutive
measurements ``K`` steps apart (``K = 10`` in the paper): for each layer and each unordered pair of languages
``|m_t - m_{t-K}| / |m_{t-K}|``, averaged over all pairs and layers where both values are defined and the
denominator is non-zero (:func:`mean_relative_change`).

Everything here is a pure function of tensors, or a small accumulator with an explicit state, so it can be
tested on hand-built updates and checkpointed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from langtickets.errors import ConfigError

#: cosine matrices of one measurement: {layer index: [languages x languages] float64 tensor (NaN = undefined)}
Matrices = dict[int, torch.Tensor]


def cosine_matrix(vectors: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
    """Pairwise cosines of the rows of ``vectors`` ``(n, d)`` as a float64 ``(n, n)`` tensor.

    The Gram matrix is accumulated in float64 over column chunks, so long vectors (a whole layer) neither lose
    precision nor need a float64 copy. A pair involving an all-zero row (a language that has made no update
    yet) is NaN: its cosine is undefined.
    """
    v = vectors.detach()
    gram = torch.zeros(v.shape[0], v.shape[0], dtype=torch.float64, device=v.device)
    for start in range(0, v.shape[1], chunk):
        part = v[:, start : start + chunk].to(torch.float64)
        gram += part @ part.T
    norms = gram.diagonal().sqrt()
    cos = (gram / (norms[:, None] * norms[None, :])).cpu()
    zero = (norms == 0).cpu()
    cos[zero, :] = math.nan
    cos[:, zero] = math.nan
    return cos


def pair_values(matrix: torch.Tensor) -> torch.Tensor:
    """The strictly upper-triangular entries (one per unordered pair of languages)."""
    rows, cols = torch.triu_indices(matrix.shape[0], matrix.shape[1], offset=1)
    return matrix[rows, cols]


def mean_off_diagonal(matrix: torch.Tensor) -> float | None:
    """Mean cosine over the pairs of different languages that are defined; ``None`` when none is."""
    values = pair_values(matrix)
    values = values[torch.isfinite(values)]
    return float(values.mean()) if values.numel() else None


def relative_changes(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """``|m_t - m_{t-K}| / |m_{t-K}|`` per pair, keeping only pairs defined at both times with ``m_{t-K} != 0``."""
    before, after = pair_values(previous), pair_values(current)
    keep = torch.isfinite(before) & torch.isfinite(after) & (before != 0)
    return (after[keep] - before[keep]).abs() / before[keep].abs()


def mean_relative_change(previous: Matrices, current: Matrices) -> float | None:
    """Relative change between two measurements, averaged over every pair of every layer (Figure 2)."""
    changes = [relative_changes(previous[layer], current[layer]) for layer in sorted(current) if layer in previous]
    values = torch.cat(changes) if changes else torch.empty(0, dtype=torch.float64)
    return float(values.mean()) if values.numel() else None


def stability_series(steps: Sequence[int], records: Sequence[Matrices]) -> dict[str, list]:
    """Relative change between each measurement and the one before: ``{"steps": [...], "relative_change": [...]}``."""
    out_steps, values = [], []
    for index in range(1, len(records)):
        out_steps.append(int(steps[index]))
        values.append(mean_relative_change(records[index - 1], records[index]))
    return {"steps": out_steps, "relative_change": values}


# ---------------------------------------------------------------------------------------------------------
# Layers as vectors


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer layers of a BERT-style model (``encoder.layer``), unwrapping nothing else."""
    from langtickets.masks import find_bert_layers

    return find_bert_layers(model)


def check_layers(layers: Iterable[int], available: int) -> list[int]:
    """Sorted layer indices, each checked against the model's depth."""
    chosen = sorted(set(int(layer) for layer in layers))
    bad = [layer for layer in chosen if not 0 <= layer < available]
    if bad:
        raise ConfigError(
            f"interference layers {bad} do not exist in a model with {available} layers; "
            f"choose indices in 0..{available - 1}"
        )
    return chosen


def layer_parameters(model: nn.Module, layers: Sequence[int]) -> dict[int, list[nn.Parameter]]:
    """``{layer: its parameters in a fixed order}`` for the chosen encoder layers."""
    modules = encoder_layers(model)
    return {layer: list(modules[layer].parameters()) for layer in layers}


def flatten(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """One float32 vector from a list of tensors (parameters, updates or gradients of one layer)."""
    return torch.cat([t.detach().reshape(-1).to(torch.float32) for t in tensors])


def layer_vectors(params: Mapping[int, Sequence[nn.Parameter]]) -> dict[int, torch.Tensor]:
    """A copy of each layer's parameters as one vector (taken before a step, to form ``delta_t``)."""
    return {layer: flatten(p.data for p in plist) for layer, plist in params.items()}


# ---------------------------------------------------------------------------------------------------------
# uc: cumulative per-language updates (Eq. 6-7)


class CumulativeUpdates:
    """``u_i`` per language and layer (Eq. 6): the sum of the updates made by the steps of language ``i``."""

    def __init__(self, languages: Sequence[str], sizes: Mapping[int, int], device: torch.device | str = "cpu"):
        # float32 sums of n_languages x layer size each: at BERT-base scale ~28 MB per language and layer.
        self.languages = tuple(languages)
        self.sums = {layer: torch.zeros(len(self.languages), size, device=device) for layer, size in sizes.items()}
        self.steps = torch.zeros(len(self.languages), dtype=torch.long)

    def add(self, lang: str, deltas: Mapping[int, torch.Tensor]) -> None:
        """Add one step's update ``delta_t`` (one flat vector per layer) to ``u`` of the step's language."""
        row = self.languages.index(lang)
        for layer, total in self.sums.items():
            total[row] += deltas[layer].to(device=total.device, dtype=total.dtype)
        self.steps[row] += 1

    def cosines(self, rows: Sequence[int] | None = None) -> Matrices:
        """``uc_ij`` per layer (Eq. 7), between all languages or those at ``rows``."""
        if rows is None:
            return {layer: cosine_matrix(total) for layer, total in self.sums.items()}
        index = torch.as_tensor(list(rows), dtype=torch.long)
        return {layer: cosine_matrix(total[index.to(total.device)]) for layer, total in self.sums.items()}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint (safetensors-friendly names)."""
        return {**{f"uc.layer.{layer}": total.cpu() for layer, total in self.sums.items()}, "uc.steps": self.steps}

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        for layer, total in self.sums.items():
            total.copy_(tensors[f"uc.layer.{layer}"].to(total.device))
        self.steps.copy_(tensors["uc.steps"])


# ---------------------------------------------------------------------------------------------------------
# gc: gradient cosines at the same parameters (Eq. 2)


def layer_gradients(loss: torch.Tensor, params: Mapping[int, Sequence[nn.Parameter]]) -> dict[int, torch.Tensor]:
    """Gradient of ``loss`` w.r.t. each layer's parameters, flattened; ``.grad`` fields are left untouched."""
    layers = list(params)
    flat_params = [p for layer in layers for p in params[layer]]
    grads = torch.autograd.grad(loss, flat_params, allow_unused=True)
    out, start = {}, 0
    for layer in layers:
        count = len(params[layer])
        pieces = [torch.zeros_like(p) if g is None else g for p, g in zip(params[layer], grads[start : start + count])]
        out[layer] = flatten(pieces)
        start += count
    return out


def gradient_cosines(
    languages: Sequence[str], loss_for: Callable[[str], torch.Tensor], params: Mapping[int, Sequence[nn.Parameter]]
) -> Matrices:
    """``gc`` per layer between every pair of ``languages``: each language's gradient at the current parameters."""
    per_language = [layer_gradients(loss_for(lang), params) for lang in languages]
    return {layer: cosine_matrix(torch.stack([g[layer] for g in per_language])) for layer in params}


# ---------------------------------------------------------------------------------------------------------
# JSON form


def matrices_to_json(matrices: Matrices, languages: Sequence[str]) -> dict[str, dict]:
    """``{layer: {"languages": [...], "matrix": rows (null = undefined), "mean_off_diagonal": x}}``."""
    out = {}
    for layer, matrix in sorted(matrices.items()):
        if matrix.shape[0] != len(languages):
            raise ValueError(f"layer {layer}: {matrix.shape[0]} rows for {len(languages)} languages")
        rows = [[float(x) if math.isfinite(x) else None for x in row] for row in matrix.tolist()]
        out[str(layer)] = {"languages": list(languages), "matrix": rows, "mean_off_diagonal": mean_off_diagonal(matrix)}
    return out


def matrices_from_json(data: Mapping[str, Mapping]) -> Matrices:
    """Inverse of :func:`matrices_to_json` (null back to NaN)."""
    return {
        int(layer): torch.tensor(
            [[math.nan if x is None else x for x in row] for row in entry["matrix"]], dtype=torch.float64
        )
        for layer, entry in data.items()
    }

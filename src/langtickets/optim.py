"""The optimiser of pretraining: BERT's AdamW and schedule, and the ticketed update rule (Lee & Hwang, §4.1).

* AdamW with weight decay on every weight except biases and LayerNorm parameters; linear warm-up then
  linear decay (Devlin et al., 2019, followed by §4.1).
* :class:`FrozenUnits` -- the update rule for ticketed variants (``--masked-update frozen``). A batch of
  language ``l`` runs through ``l``'s ticket, so the units masked for ``l`` get exactly zero gradient; AdamW
  would still move them through momentum left by other languages' steps and through weight decay. The
  snapshot/restore pair keeps their weights and AdamW moments exactly as they were across ``l``'s step, the
  lazy-Adam rule (a parameter is only touched by steps that use it). AdamW's step count, and so its bias
  correction, stays per tensor: a unit that sat out some steps is corrected as if it had taken them.
"""

from __future__ import annotations

import torch
from torch import nn

from langtickets.masks import TicketMasks, find_bert_layers, mask_key

def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                    eps: float) -> torch.optim.AdamW:
    """AdamW with weight decay on every weight except biases and LayerNorm parameters (BERT's recipe)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            exempt = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
            (no_decay if exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def linear_schedule(warmup: int, total: int):
    """LR factor for the (1-based) step ``done + 1``: ``step / warmup`` while warming up, then a linear
    decay that reaches ``1 / (total - warmup)`` at the last step (so no step runs at rate 0)."""

    def factor(done: int) -> float:
        step = done + 1
        if step <= warmup:
            return step / warmup
        return max(0.0, (total - step + 1) / max(1, total - warmup))

    return factor


def unit_parameters(model: nn.Module) -> dict[str, list[tuple[nn.Parameter, int]]]:
    """``{mask key: [(parameter, dim)]}``: the slices each unit of the search space owns (§3.1).

    mu_q: rows of W_Q, W_K and their biases; mu_v: rows of W_V, its bias and columns of W_0; mu_w: rows of
    W_1, b_1 and columns of W_2.
    """
    out = {}
    for i, layer in enumerate(find_bert_layers(model)):
        att = layer.attention.self
        out[mask_key(i, "mu_q")] = [(att.query.weight, 0), (att.query.bias, 0), (att.key.weight, 0), (att.key.bias, 0)]
        out[mask_key(i, "mu_v")] = [(att.value.weight, 0), (att.value.bias, 0), (layer.attention.output.dense.weight, 1)]
        out[mask_key(i, "mu_w")] = [
            (layer.intermediate.dense.weight, 0), (layer.intermediate.dense.bias, 0), (layer.output.dense.weight, 1)
        ]
    return out


class FrozenUnits:
    """Keeps the units masked for a batch's language exactly as they were across an optimiser step.

    ``snapshot(lang)`` copies those slices of the parameters and of AdamW's moments; ``restore`` writes them
    back after ``optimizer.step()``. Moments that do not exist yet (before the first step) restore to zero.
    """

    def __init__(self, model: nn.Module, masks: TicketMasks, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.units = unit_parameters(model)
        device = next(model.parameters()).device
        self.off = {lang: {key: (~mask).nonzero().squeeze(1).to(device) for key, mask in
                           masks.for_language(lang).items()} for lang in masks.languages}

    def snapshot(self, lang: str) -> list[tuple[torch.Tensor, int, torch.Tensor, dict[str, torch.Tensor | None]]]:
        saved = []
        for key, index in self.off[lang].items():
            if index.numel() == 0:
                continue
            for param, dim in self.units[key]:
                state = self.optimizer.state.get(param, {})
                moments = {name: state[name].index_select(dim, index) if name in state else None
                           for name in ("exp_avg", "exp_avg_sq")}
                saved.append((param, dim, index, {"param": param.data.index_select(dim, index), **moments}))
        return saved

    def restore(self, saved: list) -> None:
        with torch.no_grad():
            for param, dim, index, values in saved:
                param.data.index_copy_(dim, index, values["param"])
                state = self.optimizer.state.get(param, {})
                for name in ("exp_avg", "exp_avg_sq"):
                    if name in state:
                        old = values[name]
                        state[name].index_copy_(dim, index, torch.zeros_like(values["param"]) if old is None else old)

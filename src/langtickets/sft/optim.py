"""Optimisation for LT-SFT: an AdamW that touches only the selected entries, and the L1 pull towards theta0.

Why not mask the gradient and call ``torch.optim.AdamW``? AdamW's decoupled weight decay shrinks every
entry, zero gradient or not, so the entries outside the mask would drift away from theta0 (and the update
costs O(all parameters) every step). :class:`MaskedAdamW` instead gathers the selected entries of each
parameter, runs torch's own functional ``adamw`` on them (so the arithmetic is exactly AdamW's) and
scatters them back: entries outside the mask are never written, and moments are kept for the K selected
entries only. Tensors given without positions (task heads, or every tensor in phase 1) are updated whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.optim.adamw import adamw


class MaskedAdamW(torch.optim.Optimizer):
    """AdamW over ``(parameter, flat positions or None)`` pairs, with optional gradient-norm clipping.

    Clipping (``max_grad_norm``, the Hugging Face Trainer's 1.0 by default in the paper's runs) uses the
    norm of the gradient the optimiser actually applies: the masked one in phase 2.
    """

    def __init__(
        self,
        params: Sequence[tuple[nn.Parameter, torch.Tensor | None]],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__([param for param, _ in params], dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.max_grad_norm = max_grad_norm
        for param, positions in params:
            self.state[param]["positions"] = None if positions is None else positions.to(param.device)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim.Optimizer.step
        if closure is not None:
            raise ValueError("MaskedAdamW does not take a closure")
        work = [self._gather(group, param) for group in self.param_groups for param in group["params"]]
        work = [item for item in work if item is not None]
        if self.max_grad_norm is not None and work:
            _clip_([grad for _, _, _, grad in work], self.max_grad_norm)
        for group in self.param_groups:
            mine = [item for item in work if item[0] is group]
            if not mine:
                continue
            states = [self.state[param] for _, param, _, _ in mine]
            beta1, beta2 = group["betas"]
            adamw(
                [values for _, _, values, _ in mine],
                [grad for _, _, _, grad in mine],
                [state["exp_avg"] for state in states],
                [state["exp_avg_sq"] for state in states],
                [],
                [state["step"] for state in states],
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
            )
        for _, param, values, _ in work:
            positions = self.state[param]["positions"]
            if positions is not None:
                param.view(-1).index_copy_(0, positions, values)
        return None

    def _gather(self, group: dict, param: nn.Parameter):
        if param.grad is None:
            return None
        state = self.state[param]
        positions = state["positions"]
        if positions is None:
            values, grad = param, param.grad
        else:
            values = param.view(-1).index_select(0, positions)
            grad = param.grad.view(-1).index_select(0, positions)
        if "step" not in state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(values, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(values, memory_format=torch.preserve_format)
        return group, param, values, grad


def _clip_(grads: list[torch.Tensor], max_norm: float) -> None:
    """Scale ``grads`` in place so their joint L2 norm is at most ``max_norm`` (as clip_grad_norm_ does)."""
    total = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for grad in grads:
        grad.mul_(scale.to(grad.device))


def add_l1_grad_(
    terms: Sequence[tuple[nn.Parameter, torch.Tensor, torch.Tensor | None]], coefficient: float
) -> None:
    """Add the gradient of ``J = coefficient * sum |theta - theta0|`` (§3.1, coefficient = lambda / N) to
    each parameter's ``.grad``.

    ``terms`` holds ``(param, theta0, positions)``: with positions ``None``, ``theta0`` is the whole
    reference tensor; otherwise ``theta0`` holds the reference values at those flat positions only, and
    only those entries get the term (O(K) in phase 2). The subgradient at ``theta == theta0`` is 0, as
    autograd's ``abs``.
    """
    if coefficient == 0.0:
        return
    with torch.no_grad():
        for param, reference, positions in terms:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            if positions is None:
                param.grad.add_(torch.sign(param - reference), alpha=coefficient)
            else:
                current = param.view(-1).index_select(0, positions)
                param.grad.view(-1).index_add_(0, positions, torch.sign(current - reference), alpha=coefficient)


def linear_decay(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate falling linearly from its initial value to 0 over ``total_steps`` (§4.2, no warm-up)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / max(1, total_steps)))

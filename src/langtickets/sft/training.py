"""One training phase of LT-SFT: AdamW with linear decay over given entries, checkpoint selection.

Generic over the model and the objective: ``loss_fn(model, batch) -> scalar tensor`` is the MLM loss for a
language SFT and the task loss (through a model with a head) for a task SFT. Which entries train is given
per parameter as ``None`` (the whole tensor) or sorted flat positions; every other parameter has
``requires_grad`` switched off for the phase, so its weight gradient is never computed.

Under ``accelerate launch`` a phase is data-parallel (:mod:`langtickets.parallel`): the model is wrapped for
the phase after the trainable parameters are chosen, each process trains on its rows of every batch with the
loss rescaled to the global batch's mean, the gradients are all-reduced before the L1 term and
:class:`~langtickets.sft.optim.MaskedAdamW` (the same on every process) touch them, and checkpoint choice
follows the main process's evaluation, so every process ends the phase with the same weights.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ContextManager

import torch
from torch import nn
from tqdm import tqdm

from langtickets.errors import ConfigError
from langtickets.parallel import Replicas
from langtickets.seeding import derive_seed
from langtickets.sft.optim import MaskedAdamW, add_l1_grad_, linear_decay
from langtickets.sft.selection import resolve_k

LossFn = Callable[[nn.Module, Any], torch.Tensor]
EvalFn = Callable[[nn.Module], float]
StepContext = Callable[[nn.Module, Any], ContextManager]


@dataclass(frozen=True)
class LtSftConfig:
    """Hyper-parameters of LT-SFT (§4.2-4.3). Defaults are the paper's (AdamW, lr 5e-5 decayed linearly
    to 0, no weight decay and gradient clipping at 1.0 as in the Hugging Face Trainer it used).

    Exactly one of ``k`` and ``density`` (a fraction of the maskable parameters). ``l1_phase1`` /
    ``l1_phase2`` are lambda of the L1 pull towards theta0, ``(lambda / N) * sum |theta - theta0|`` over the
    maskable parameters with N their number, the same function in both phases (0.1 for language SFTs; the
    paper leaves N open, the released code divided by all parameters). Checkpoints are evaluated
    every ``eval_every`` steps and at the end of a phase when an evaluation function is given; the best
    (lowest, or highest with ``higher_is_better``) is kept. Baselines with a single phase use the
    ``phase2_*`` settings.
    """

    phase1_steps: int
    phase2_steps: int
    k: int | None = None
    density: float | None = None
    lr: float = 5e-5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    max_grad_norm: float | None = 1.0
    l1_phase1: float = 0.0
    l1_phase2: float = 0.0
    eval_every: int | None = None
    higher_is_better: bool = False
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.phase1_steps < 0 or self.phase2_steps < 0:
            raise ConfigError(f"LT-SFT step counts must be >= 0, got {self.phase1_steps} and {self.phase2_steps}")
        if self.k is not None and self.density is not None:
            raise ConfigError("give LT-SFT either k or density, not both")
        if self.eval_every is not None and self.eval_every <= 0:
            raise ConfigError(f"eval_every must be positive, got {self.eval_every}")
        if self.lr <= 0 or self.l1_phase1 < 0 or self.l1_phase2 < 0 or self.weight_decay < 0:
            raise ConfigError("lr must be positive; l1 and weight_decay must be >= 0")

    def resolve_k(self, n_maskable: int) -> int:
        """K for a plan with ``n_maskable`` maskable parameters (from ``k`` or ``density``)."""
        if self.k is None and self.density is None:
            raise ConfigError("LT-SFT and RAND-SFT need k or density")
        try:
            return resolve_k(n_maskable, self.k, self.density)
        except ValueError as error:
            raise ConfigError(str(error)) from None


def training_steps(
    batches_per_epoch: int, max_epochs: float | None = None, max_steps: int | None = None, min_steps: int = 0
) -> int:
    """Steps of a phase by the paper's rule (§4.2): the lesser of ``max_epochs`` epochs and ``max_steps``
    steps, but at least ``min_steps`` (language SFTs: 100 epochs, 100,000 steps, minimum 30,000)."""
    candidates = [max_steps] if max_steps is not None else []
    if max_epochs is not None:
        candidates.append(math.ceil(max_epochs * batches_per_epoch))
    if not candidates:
        raise ConfigError("give max_epochs or max_steps")
    return max(min(candidates), min_steps)


@dataclass
class PhaseResult:
    """What a phase did: steps run, the best evaluation score and the step it was reached (None if not evaluated)."""

    steps: int
    best_score: float | None = None
    best_step: int | None = None


def run_phase(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    trainable: Mapping[str, torch.Tensor | None],
    steps: int,
    config: LtSftConfig,
    *,
    phase: str,
    l1: float = 0.0,
    l1_reference: Mapping[str, torch.Tensor] | None = None,
    l1_denominator: int = 1,
    evaluate: EvalFn | None = None,
    step_context: StepContext | None = None,
) -> PhaseResult:
    """Train the ``trainable`` entries for ``steps`` steps; leave the model at the best checkpoint.

    ``l1_reference`` holds theta0 for the parameters the L1 term regularises (the maskable ones); the
    coefficient is ``l1 / l1_denominator``. ``step_context(model, batch)`` wraps forward and backward of each
    step (multi-source training applies the batch's language SFT there). The global torch RNG (dropout) is
    seeded from ``config.seed`` and ``phase`` at the start, so a rerun repeats the phase exactly on CPU.
    Under a data-parallel launcher ``loss_fn`` gets the wrapped model and this process's rows of each batch
    (``step_context`` and ``evaluate`` the model itself).
    """
    params = dict(model.named_parameters())
    trainable = {name: None if pos is None else pos.to(params[name].device) for name, pos in trainable.items()}
    flags = {name: param.requires_grad for name, param in params.items()}
    was_training = model.training
    for name, param in params.items():
        param.requires_grad_(name in trainable)
    replicas = Replicas.for_device(next(iter(params.values())).device)
    try:
        if replicas.scales_gradients and l1:
            raise ConfigError("fp16 mixed precision scales gradients before the L1 term is added; use bf16 or no "
                              "mixed precision for SFTs with an L1 term")  # fmt: skip
        torch.manual_seed(replicas.seed(derive_seed(config.seed, "lt-sft", phase)))
        optimizer = MaskedAdamW(
            [(params[name], positions) for name, positions in trainable.items()],
            lr=config.lr, betas=config.betas, eps=config.eps,
            weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
        )
        schedule = linear_decay(optimizer, steps)
        trained, optimizer = replicas.prepare(model, optimizer)
        l1_terms = _l1_terms(params, trainable, l1_reference or {})
        tracker = _Best(config.higher_is_better, params, trainable)
        data = _cycle(batches)
        bar = tqdm(range(1, steps + 1), desc=f"LT-SFT {phase}", disable=not config.progress or not replicas.is_main,
                   file=sys.stderr)  # fmt: skip
        for step in bar:
            model.train()
            batch, factor = replicas.split(next(data))
            with step_context(model, batch) if step_context else contextlib.nullcontext():
                loss = loss_fn(trained, batch)
                replicas.backward(replicas.scale(loss, factor, model))
            add_l1_grad_(l1_terms, l1 / max(1, l1_denominator))
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            if evaluate is not None and (step == steps or (config.eval_every and step % config.eval_every == 0)):
                tracker.offer(step, replicas.agree(_evaluate(model, evaluate)))
        tracker.restore()
        return PhaseResult(steps=steps, best_score=tracker.score, best_step=tracker.step)
    finally:
        replicas.release()
        for name, param in params.items():
            param.requires_grad_(flags[name])
        model.train(was_training)


def _l1_terms(params, trainable, reference):
    terms = []
    for name, positions in trainable.items():
        if name not in reference:
            continue
        base = reference[name].to(params[name].device)
        if positions is not None:
            base = base.reshape(-1).index_select(0, positions)  # theta0 at the selected entries only
        terms.append((params[name], base, positions))
    return terms


def _evaluate(model: nn.Module, evaluate: EvalFn) -> float:
    model.eval()
    with torch.no_grad():
        score = float(evaluate(model))
    if math.isnan(score):
        raise ValueError("the evaluation function returned NaN")
    return score


class _Best:
    """Keeps a copy of the trainable entries at the best evaluation so far."""

    def __init__(self, higher_is_better: bool, params: Mapping[str, nn.Parameter], trainable) -> None:
        self.higher, self.params, self.trainable = higher_is_better, params, trainable
        self.score: float | None = None
        self.step: int | None = None
        self.saved: dict[str, torch.Tensor] = {}

    def offer(self, step: int, score: float) -> None:
        if self.score is not None and not (score > self.score if self.higher else score < self.score):
            return
        self.score, self.step = score, step
        with torch.no_grad():
            for name, positions in self.trainable.items():
                param = self.params[name].detach()
                self.saved[name] = param.clone() if positions is None else param.view(-1).index_select(0, positions)

    def restore(self) -> None:
        with torch.no_grad():
            for name, values in self.saved.items():
                positions, param = self.trainable[name], self.params[name].detach()
                if positions is None:
                    param.copy_(values)
                else:
                    param.view(-1).index_copy_(0, positions, values)


def _cycle(batches: Iterable[Any]) -> Iterator[Any]:
    """Endless epochs over a re-iterable (a list or a DataLoader); an empty epoch is an error."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training batches are empty (or a one-shot iterator that is used up)")

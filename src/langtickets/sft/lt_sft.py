"""Lottery-Ticket Sparse Fine-Tuning (Ansell et al., §3.1, Algorithm 1) and its baselines (§4.1).

``lt_sft``: phase 1 fully fine-tunes the maskable parameters (and the head) from theta0; the K maskable
entries with the largest ``|theta1 - theta0|`` form the mask; every trained parameter (the head too: "the
same random initialisation applied at the beginning of each phase", §3.2) is rewound to theta0; phase 2
trains only the masked entries (and the whole head). The result is phi = theta2 - theta0 on exactly those K
positions, as a :class:`~langtickets.sft.sparse.SparseFineTuning`.

Support versus non-zeros: the SFT stores every selected position, also one whose phase-2 value happens
to equal its theta0 value (difference 0.0, e.g. an embedding row never seen in phase 2), so ``sft.k == K``
always. Entries outside the mask are never written (see :mod:`langtickets.sft.optim`), so they keep their
theta0 bits exactly. When training ends the model is returned to theta0 (heads to their initial values)
bitwise; apply the SFT to use it.

Baselines on the same footing (one phase, the ``phase2_*`` settings): :func:`rand_sft` (K random
maskable entries), :func:`bitfit` (every bias among the maskable parameters) and :func:`full_finetune`
(every maskable entry, stored as an SFT covering whole tensors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from langtickets.seeding import derive_seed
from langtickets.sft.params import ParameterPlan, base_fingerprint, bias_parameter_names, head_parameter_names
from langtickets.sft.selection import random_selection, top_k_changed, whole_tensors
from langtickets.sft.sparse import SftInfo, SparseFineTuning, diffs_at
from langtickets.sft.training import EvalFn, LossFn, LtSftConfig, PhaseResult, StepContext, run_phase


@dataclass
class _Start:
    """theta0 and what the SFT records about the base, taken before any training."""

    plan: ParameterPlan
    theta0: dict[str, torch.Tensor]
    n_maskable: int
    info: SftInfo
    optional: frozenset[str]

    @classmethod
    def take(cls, model: nn.Module, plan: ParameterPlan, kind: str, notes, fingerprint: str | None) -> _Start:
        plan.check(model)
        params = dict(model.named_parameters())
        with torch.no_grad():
            theta0 = {name: params[name].detach().clone() for name in (*plan.maskable, *plan.dense)}
        info = SftInfo(
            kind=kind,
            n_maskable=plan.n_maskable(model),
            model_type=getattr(getattr(model, "config", None), "model_type", type(model).__name__),
            base_fingerprint=fingerprint if fingerprint is not None else base_fingerprint(model),
            notes=dict(notes or {}),
        )
        optional = frozenset(head_parameter_names(model)) & frozenset(plan.maskable)
        return cls(plan, theta0, info.n_maskable, info, optional)

    def rewind(self, model: nn.Module) -> None:
        """Put every trained parameter back to its theta0 bits."""
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in self.theta0.items():
                params[name].copy_(value)

    def maskable_theta0(self) -> dict[str, torch.Tensor]:
        return {name: self.theta0[name] for name in self.plan.maskable}


def lt_sft(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    plan: ParameterPlan,
    config: LtSftConfig,
    *,
    evaluate: EvalFn | None = None,
    step_context: StepContext | None = None,
    kind: str = "sft",
    notes: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
) -> SparseFineTuning:
    """Run LT-SFT (Algorithm 1, ``LTSFT``) on ``model`` from its current values theta0; return phi.

    ``loss_fn(model, batch)`` gives the training loss, ``evaluate(model)`` a held-out loss or task metric
    for checkpoint selection (``config.higher_is_better``). ``fingerprint`` overrides the base fingerprint
    stored in the SFT (task SFTs are trained with a language SFT applied; pass the pristine base's).
    """
    start = _Start.take(model, plan, kind, notes, fingerprint)
    k = config.resolve_k(start.n_maskable)
    everything = {name: None for name in (*plan.maskable, *plan.dense)}
    first = _phase(model, loss_fn, batches, everything, config, start, "phase1", evaluate, step_context)
    params = dict(model.named_parameters())
    support = top_k_changed({name: params[name] for name in plan.maskable}, start.maskable_theta0(), k)
    start.rewind(model)
    return _sparse_phase(model, loss_fn, batches, config, start, support, "lt-sft", evaluate, step_context, first)


def rand_sft(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    plan: ParameterPlan,
    config: LtSftConfig,
    *,
    evaluate: EvalFn | None = None,
    step_context: StepContext | None = None,
    kind: str = "sft",
    notes: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
) -> SparseFineTuning:
    """RAND-SFT (§4.1): K maskable entries chosen uniformly at random (seeded by ``config.seed``), then
    the sparse phase alone."""
    start = _Start.take(model, plan, kind, notes, fingerprint)
    k = config.resolve_k(start.n_maskable)
    numels = {name: value.numel() for name, value in start.maskable_theta0().items()}
    support = random_selection(numels, k, derive_seed(config.seed, "rand-sft"))
    return _sparse_phase(model, loss_fn, batches, config, start, support, "rand-sft", evaluate, step_context)


def bitfit(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    plan: ParameterPlan,
    config: LtSftConfig,
    *,
    evaluate: EvalFn | None = None,
    step_context: StepContext | None = None,
    kind: str = "sft",
    notes: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
) -> SparseFineTuning:
    """BitFit (Zaken et al.; §4.1): every bias vector among the maskable parameters (and the head) trains;
    K is their size, ``config.k``/``density`` are ignored."""
    start = _Start.take(model, plan, kind, notes, fingerprint)
    numels = {name: value.numel() for name, value in start.maskable_theta0().items()}
    support = whole_tensors(numels, bias_parameter_names(plan.maskable))
    return _sparse_phase(model, loss_fn, batches, config, start, support, "bitfit", evaluate, step_context)


def full_finetune(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    plan: ParameterPlan,
    config: LtSftConfig,
    *,
    evaluate: EvalFn | None = None,
    step_context: StepContext | None = None,
    kind: str = "sft",
    notes: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
) -> SparseFineTuning:
    """Full fine-tuning of every maskable parameter (and the head), stored as an SFT over whole tensors
    (no positions on disk), so evaluation and composition treat it like the sparse ones."""
    start = _Start.take(model, plan, kind, notes, fingerprint)
    numels = {name: value.numel() for name, value in start.maskable_theta0().items()}
    support = whole_tensors(numels, plan.maskable)
    return _sparse_phase(model, loss_fn, batches, config, start, support, "full", evaluate, step_context)


def _sparse_phase(
    model, loss_fn, batches, config, start: _Start, support, method, evaluate, step_context, first=None
) -> SparseFineTuning:
    """Phase 2: train the ``support`` entries and the head; return phi and put the model back to theta0."""
    support = {name: positions for name, positions in support.items() if positions.numel()}
    numels = {name: start.theta0[name].numel() for name in support}
    trainable = {name: None if pos.numel() == numels[name] else pos for name, pos in support.items()}
    trainable.update({name: None for name in start.plan.dense})
    second = _phase(model, loss_fn, batches, trainable, config, start, "phase2", evaluate, step_context)
    diffs = diffs_at(model, start.theta0, support, optional=start.optional)
    params = dict(model.named_parameters())
    heads = {name: params[name].detach().cpu().clone() for name in start.plan.dense}
    start.rewind(model)
    notes = dict(start.info.notes)
    notes.update(_scores("phase1", first) if first else {})
    notes.update(_scores("phase2", second))
    return SparseFineTuning(diffs, heads, replace(start.info, method=method, notes=notes))


def _phase(model, loss_fn, batches, trainable, config: LtSftConfig, start: _Start, phase, evaluate, step_context):
    steps = config.phase1_steps if phase == "phase1" else config.phase2_steps
    l1 = config.l1_phase1 if phase == "phase1" else config.l1_phase2
    return run_phase(
        model, loss_fn, batches, trainable, steps, config,
        phase=phase, l1=l1, l1_reference=start.maskable_theta0(), l1_denominator=start.n_maskable,
        evaluate=evaluate, step_context=step_context,
    )


def _scores(phase: str, result: PhaseResult) -> dict[str, str]:
    notes = {f"{phase}_steps": str(result.steps)}
    if result.best_score is not None:
        notes.update({f"{phase}_best_score": repr(result.best_score), f"{phase}_best_step": str(result.best_step)})
    return notes

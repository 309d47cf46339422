"""Cross-lingual transfer with SFTs (Ansell et al., §3.2, §4.4 and Algorithm 1 ``CROSSLINGUALTRANSFER``).

* a language SFT: :func:`~langtickets.sft.lt_sft.lt_sft` with MLM on the language's text and
  :func:`~langtickets.sft.params.language_sft_plan`;
* a task SFT: :func:`train_task_sft` -- trained on ``theta0 + phi_L(source)``, the source SFT removed after,
  so phi_T = theta' - (theta0 + phi_L(source)); multi-source training (:func:`train_task_sft_multisource`)
  applies each batch's source-language SFT for that step only (:class:`SourceSwitcher`);
* zero-shot transfer: :func:`zero_shot` gives ``theta0 + phi_T + phi_L(target)`` with the task head
  (``target_sft=None``: the task-adaptation-only baseline).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from langtickets.sft.lt_sft import lt_sft
from langtickets.sft.params import ParameterPlan, base_fingerprint
from langtickets.sft.sparse import SparseFineTuning, applied
from langtickets.sft.training import EvalFn, LossFn, LtSftConfig

Trainer = Callable[..., SparseFineTuning]  # lt_sft, rand_sft, bitfit or full_finetune


def train_task_sft(
    model: nn.Module,
    source_sft: SparseFineTuning | None,
    loss_fn: LossFn,
    batches: Iterable[Any],
    plan: ParameterPlan,
    config: LtSftConfig,
    *,
    method: Trainer = lt_sft,
    evaluate: EvalFn | None = None,
    notes: Mapping[str, str] | None = None,
) -> SparseFineTuning:
    """A task SFT learned with the source-language SFT applied (§3.2); the model is left as it was.

    ``model`` is the pristine base with its (freshly initialised) task head; ``method`` is the training
    algorithm (LT-SFT or a baseline). ``source_sft=None`` trains without language adaptation.
    """
    fingerprint = base_fingerprint(model)
    sfts = () if source_sft is None else (source_sft,)
    for sft in sfts:
        sft.verify_base(model)
    with applied(model, *sfts):
        return method(model, loss_fn, batches, plan, config, evaluate=evaluate, kind="task", notes=notes, fingerprint=fingerprint)


class SourceSwitcher:
    """Per-step language adaptation for multi-source task training (§4.4): a ``step_context`` that applies
    the batch's source-language SFT around forward and backward and reverts it (bitwise) before the
    optimiser step, so the trained parameters stay in base coordinates theta0 + phi_T.

    Costs O(K_L) per step (gather and scatter of the language SFT's entries); each SFT is moved to the
    model's device once.
    """

    def __init__(self, sfts: Mapping[str, SparseFineTuning], language_of: Callable[[Any], str]) -> None:
        self.sfts = dict(sfts)
        self.language_of = language_of
        self._on_device: dict[tuple[str, str], SparseFineTuning] = {}

    def __call__(self, model: nn.Module, batch: Any) -> contextlib.AbstractContextManager:
        language = self.language_of(batch)
        if language not in self.sfts:
            raise KeyError(f"no source-language SFT for batch language '{language}' (have {sorted(self.sfts)})")
        device = next(model.parameters()).device
        key = (language, str(device))
        if key not in self._on_device:
            self._on_device[key] = self.sfts[language].to(device)
        return applied(model, self._on_device[key])


def train_task_sft_multisource(
    model: nn.Module,
    source_sfts: Mapping[str, SparseFineTuning],
    language_of: Callable[[Any], str],
    loss_fn: LossFn,
    batches: Iterable[Any],
    plan: ParameterPlan,
    config: LtSftConfig,
    *,
    method: Trainer = lt_sft,
    evaluate: EvalFn | None = None,
    notes: Mapping[str, str] | None = None,
) -> SparseFineTuning:
    """Multi-source task SFT (§4.4): each batch comes from one source language (``language_of(batch)``)
    whose language SFT is active for that step. ``evaluate`` sees the model without any language SFT."""
    for sft in source_sfts.values():
        sft.verify_base(model)
    switcher = SourceSwitcher(source_sfts, language_of)
    return method(
        model, loss_fn, batches, plan, config, evaluate=evaluate, step_context=switcher,
        kind="task", notes=notes, fingerprint=base_fingerprint(model),
    )


@contextlib.contextmanager
def zero_shot(
    model: nn.Module, task_sft: SparseFineTuning, target_sft: SparseFineTuning | None = None
) -> Iterator[nn.Module]:
    """``F(.; theta0 + phi_T + phi_L(target))`` with the task head for the block (§3.2), then the model is
    restored bitwise. Without ``target_sft`` this is the TA-only configuration of §4.1."""
    sfts = (task_sft,) if target_sft is None else (task_sft, target_sft)
    with torch.no_grad(), applied(model, *sfts):
        yield model

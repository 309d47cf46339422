"""Data-parallel training across processes through Hugging Face ``accelerate`` (GPUs, CPU processes, TPUs).

The training stages (``pretrain``, ``finetune``, ``language-sft``, ``task-sft``, ``sft-sweep``) run as one
process, or as N processes started by ``accelerate launch`` (``torchrun`` works too). The rule they follow,
as in pretraining: **the result does not depend on the number of processes.**

* Every process builds the same *global* batch (the data order comes from seeds, never from the process
  index) and trains on its own contiguous block of rows (:meth:`Replicas.split`).
* A loss that is a mean over the targets of a batch (tokens with a label, words, pairs) is rescaled by
  ``local targets * processes / global targets``: averaged over the processes by the gradient all-reduce
  (DDP, or ``xm.optimizer_step`` on TPUs) this gives the gradient of the mean over the global batch, however
  the rows and their targets fall across processes. A process whose rows hold no target contributes zero
  gradients (never the 0/0 of an empty mean).
* Gradients are synchronised before the optimiser runs, so every process takes the same step and the
  weights stay identical across processes. Optimisers that update only some entries (LT-SFT's
  :class:`~langtickets.sft.optim.MaskedAdamW`) therefore stay correct: the all-reduce sees the whole
  gradient, the optimiser then reads the entries it owns. Parameters with ``requires_grad`` off are not
  wrapped (DDP is built after the caller switched them), and a model is wrapped anew for each training
  phase.
* Evaluation (dev scores for checkpoint choice) runs on every process over the whole set, with the batches
  of a single process; the main process's score is broadcast so every process keeps the same checkpoint.
* Dropout streams are seeded per process (``derive_seed(seed, "rank", rank)``); one process keeps its old
  seed, so single-process results are unchanged. With dropout on, runs with different process counts
  differ by their dropout masks only.
* Outputs are written once, by the main process (:func:`is_main_process`), atomically as everywhere.

With a single process and no launcher nothing here touches ``accelerate``: :class:`Replicas` then does
exactly what the loops did before (same calls, same order), so one-process outputs are byte-identical to
those of a plain ``python -m langtickets`` run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from langtickets.seeding import derive_seed

Batch = TypeVar("Batch")
#: batch keys that hold a loss's targets, in order of preference (MLM/tagging, parsing, pair classification)
TARGET_KEYS = ("labels", "heads", "label")
IGNORE_INDEX = -100


def _tpu_host() -> bool:
    return importlib.util.find_spec("torch_xla") is not None


def launched() -> bool:
    """True when this process was started by a data-parallel launcher (several processes, a mixed-precision
    ``accelerate launch``) or runs on a TPU host, where only ``accelerate`` reaches the device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return True
    if os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower() not in ("", "no"):
        return True
    return _tpu_host()


def uses_cpu(device: str) -> bool:
    """Whether a stage's ``--device`` means CPU processes ('auto' does on a machine without CUDA or TPU)."""
    return device == "cpu" or (device == "auto" and not torch.cuda.is_available() and not _tpu_host())


def stage_device(device: str) -> torch.device:
    """The device this process trains on: ``--device`` resolved as before for one plain process; under a
    launcher, the process's own device (``cuda:{local rank}``, an XLA core, or the CPU)."""
    if launched():
        from accelerate import PartialState

        return PartialState(cpu=uses_cpu(device)).device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def is_main_process() -> bool:
    """True in the process that writes the outputs (the only process without a launcher)."""
    if not launched():
        return True
    from accelerate import PartialState

    return PartialState().is_main_process


def target_count(batch: Any) -> int:
    """Targets (entries other than -100) of the first of :data:`TARGET_KEYS` found in ``batch`` (a mapping of
    tensors, or a tuple/list holding one, e.g. ``(lang, batch)``); 0 when there is none."""
    if isinstance(batch, Mapping):
        for key in TARGET_KEYS:
            if key in batch and isinstance(batch[key], torch.Tensor):
                return int((batch[key] != IGNORE_INDEX).sum())
        return 0
    if isinstance(batch, (tuple, list)):
        return sum(target_count(item) for item in batch)
    return 0


def _map_tensors(batch: Batch, fn) -> Batch:
    """``batch`` with ``fn`` applied to every tensor (mappings, tuples and lists are walked)."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, Mapping):
        return {key: _map_tensors(value, fn) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_map_tensors(value, fn) for value in batch)
    return batch


def rows(batch: Batch, rank: int, world: int) -> Batch:
    """Rank ``rank``'s contiguous block of rows of every tensor in ``batch`` (other values are kept). Rows
    split as ``rank * B // world : (rank + 1) * B // world``, so a process may get none when B < world."""
    return _map_tensors(batch, lambda tensor: tensor[rank * len(tensor) // world:(rank + 1) * len(tensor) // world])


def row_count(batch: Any) -> int:
    """Rows of the first tensor found in ``batch`` (0 when it holds none)."""
    found: list[int] = []
    _map_tensors(batch, lambda tensor: found.append(len(tensor)) or tensor)
    return found[0] if found else 0


class Replicas:
    """The processes of one training loop; every method is the plain single-process call when there is one.

    Build it with :meth:`for_device` once the model is on its device; call :meth:`release` after the loop
    (it drops the wrapped model, so a later phase can wrap the same model again).
    """

    def __init__(self, accelerator: Any | None = None):
        self.accelerator = accelerator
        self.rank = accelerator.process_index if accelerator is not None else 0
        self.world = accelerator.num_processes if accelerator is not None else 1

    @classmethod
    def for_device(cls, device: torch.device | str) -> Replicas:
        """The replicas of a loop training on ``device`` (one, without a launcher)."""
        if not launched():
            return cls()
        from accelerate import Accelerator

        # device_placement=False: models are already on the process's device, and preparing an optimiser
        # with placement would reload its state_dict, casting MaskedAdamW's integer positions to float.
        return cls(Accelerator(cpu=torch.device(device).type == "cpu", device_placement=False))

    @property
    def is_main(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    @property
    def scales_gradients(self) -> bool:
        """True under fp16 mixed precision: gradients are loss-scaled until the optimiser step."""
        return self.accelerator is not None and self.accelerator.scaler is not None

    def seed(self, seed: int) -> int:
        """A per-process seed for dropout; ``seed`` itself when there is one process."""
        return seed if self.world == 1 else derive_seed(seed, "rank", self.rank)

    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[nn.Module, Any]:
        """The model to run forward passes through (DDP-wrapped) and the optimiser to step."""
        if self.accelerator is None:
            return model, optimizer
        return self.accelerator.prepare(model, optimizer)

    def split(self, batch: Batch) -> tuple[Batch, float]:
        """This process's rows of the global ``batch`` and the factor for its mean loss (see the module)."""
        if self.world == 1:
            return batch, 1.0
        local = rows(batch, self.rank, self.world)
        if row_count(local) == 0 < row_count(batch):
            # fewer rows than processes: run the first row anyway (a model may not take an empty batch and the
            # gradient all-reduce needs every process) and contribute nothing (factor 0, see scale)
            return _map_tensors(batch, lambda tensor: tensor[:1]), 0.0
        total = target_count(batch)
        return local, (target_count(local) * self.world / total if total else 0.0)

    def scale(self, loss: torch.Tensor, factor: float, model: nn.Module) -> torch.Tensor:
        """``loss * factor``; without targets, a zero that still gives every trainable parameter a (zero)
        gradient, so the all-reduce runs in step with the other processes and no 0/0 mean enters it."""
        if self.world == 1:
            return loss
        if factor == 0.0:
            return sum(param.sum() for param in model.parameters() if param.requires_grad) * 0.0
        return loss * factor

    def mean_loss(self, loss: torch.Tensor, factor: float) -> float:
        """The global batch's mean loss (for logs): ``loss`` itself with one process."""
        if self.world == 1:
            return float(loss.detach())
        share = loss.detach() * factor if factor else torch.zeros((), device=loss.device)
        return float(self.accelerator.reduce(share, reduction="mean"))

    def backward(self, loss: torch.Tensor) -> None:
        if self.accelerator is None:
            loss.backward()
        else:
            self.accelerator.backward(loss)

    def clip_grad_norm_(self, parameters: Iterable[nn.Parameter], max_norm: float) -> None:
        if self.accelerator is None:
            torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        else:
            self.accelerator.clip_grad_norm_(parameters, max_norm)

    def agree(self, value: float) -> float:
        """The main process's ``value`` on every process (checkpoint choices must not diverge)."""
        if self.world == 1:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value])[0]

    def release(self) -> None:
        """Drop the prepared (wrapped) objects so the model can be prepared again by a later loop."""
        if self.accelerator is not None:
            self.accelerator.free_memory()

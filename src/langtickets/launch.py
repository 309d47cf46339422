"""How the workflow starts a training stage: one plain process, or data-parallel processes by ``accelerate``.

The config's ``launcher`` section says, per training rule, how many processes a job runs (``processes``),
what they run on (``accelerator``: ``gpu``, ``cpu`` or ``tpu``) and in which precision
(``mixed_precision``). A rule's command then begins with

* ``python -m langtickets`` -- one process, no mixed precision (the default; results as they always were);
* ``python -m accelerate.commands.launch --multi_gpu --num_processes N ... -m langtickets`` -- N processes on
  one node (one per GPU; on CPUs, N gloo processes). ``--main_process_port 0`` picks a free port, so
  several such jobs can share a node;
* ``python -m accelerate.commands.launch --tpu ... -m langtickets.cli`` -- every core of a TPU VM
  (``accelerate`` imports the module and calls its ``main``).

On a cluster a GPU launch also asks for its GPUs: :meth:`Launcher.resources` adds ``gpu: N`` to the rule's
``resources`` entry (an explicit different ``gpu`` there is an error). Stages keep their results
independent of N (see :mod:`langtickets.parallel`). Kept free of torch: the Snakefile imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langtickets.errors import ConfigError

#: rules whose jobs can run data-parallel (their stages train through langtickets.parallel or accelerate)
TRAINING_RULES = ("pretrain", "finetune_in_language", "finetune_source", "few_shot", "language_sft", "task_sft",
                  "language_sft_sweep", "sft_sweep")  # fmt: skip
ACCELERATORS = ("gpu", "cpu", "tpu")
PRECISIONS = ("no", "fp16", "bf16")
PLAIN = "python -m langtickets"
ACCELERATE = "python -m accelerate.commands.launch"


@dataclass(frozen=True)
class Launcher:
    """How one rule's jobs start: process count, device kind and mixed precision."""

    processes: int = 1
    accelerator: str = "gpu"
    mixed_precision: str = "no"

    def __post_init__(self) -> None:
        if self.processes < 1:
            raise ConfigError(f"launcher processes must be at least 1, got {self.processes}")
        if self.accelerator not in ACCELERATORS:
            raise ConfigError(f"launcher accelerator must be one of {ACCELERATORS}, got {self.accelerator!r}")
        if self.mixed_precision not in PRECISIONS:
            raise ConfigError(f"launcher mixed_precision must be one of {PRECISIONS}, got {self.mixed_precision!r}")

    @classmethod
    def for_rule(cls, section: Mapping[str, Any], rule: str) -> Launcher:
        """The launcher of ``rule`` from the config's ``launcher`` section (missing keys: one plain process)."""
        processes = dict(section.get("processes") or {})
        unknown = sorted(set(processes) - set(TRAINING_RULES))
        if unknown:
            raise ConfigError(f"launcher.processes names {unknown}, which are not training rules; use "
                              f"{', '.join(TRAINING_RULES)}")  # fmt: skip
        return cls(int(processes.get(rule, 1)), str(section.get("accelerator", "gpu")),
                   str(section.get("mixed_precision", "no")))  # fmt: skip

    @property
    def launched(self) -> bool:
        """Whether the job needs ``accelerate launch`` (several processes or mixed precision)."""
        return self.processes > 1 or self.mixed_precision != "no"

    def command(self) -> str:
        """The start of the rule's command line, up to (not including) the stage name."""
        if not self.launched:
            return PLAIN
        precision = f"--mixed_precision {self.mixed_precision}"
        if self.accelerator == "tpu":
            return f"{ACCELERATE} --tpu --num_processes {self.processes} {precision} --main_training_function main " \
                   "-m langtickets.cli"  # fmt: skip
        if self.processes > 1:  # torchrun-style launcher: one process per GPU, or gloo processes on CPUs
            kind = "--multi_gpu --main_process_port 0"
        else:
            kind = "--cpu" if self.accelerator == "cpu" else ""
        return " ".join(part for part in (ACCELERATE, kind, f"--num_processes {self.processes} --num_machines 1",
                                          precision, "--dynamo_backend no -m langtickets") if part)  # fmt: skip

    def resources(self, given: Mapping[str, Any], rule: str = "the rule") -> dict[str, Any]:
        """``given`` (the rule's ``resources`` entry) plus ``gpu: processes`` for a GPU launch."""
        merged = dict(given)
        if int(merged.get("nodes", 1)) > 1:
            # One job is one accelerate launch on one node; a launch per node (srun inside the job step) is
            # not wired up, so a multi-node request would leave all but one node idle.
            raise ConfigError(f"resources.{rule}.nodes is {merged['nodes']}, but a training job runs on one node; "
                              f"set nodes: 1 and use that node's GPUs (launcher.processes.{rule})")
        if self.accelerator != "gpu" or self.processes == 1:
            return merged
        if merged.setdefault("gpu", self.processes) != self.processes:
            raise ConfigError(f"resources.{rule}.gpu is {merged['gpu']} but launcher.processes.{rule} is "
                              f"{self.processes}; drop the gpu entry or make them equal")  # fmt: skip
        return merged

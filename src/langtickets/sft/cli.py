"""Command-line pieces shared by the SFT stages (``language-sft``, ``task-sft``, ``sft-transfer-eval``,
``sft-sweep``; ``sft-table`` needs none of them).

* :class:`Budget` -- how many entries an SFT may change: a count K, a density, or the K "equivalent" to an
  adapter reduction factor (Ansell et al., footnote 4: ``2 * layers * hidden^2 / factor``), resolved against
  the model at hand so one config serves a tiny demo model and BERT-base alike;
* ticket handling: ``--tickets language`` wears a ticketed model's masks (the language SFT its language's
  ticket, the task SFT the source's, the transfer the target's); ``--tickets dense`` ignores them;
* ``LANG=VALUE`` pairs, devices and threads.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from langtickets.errors import ConfigError

#: task-SFT training methods (§3.1 and the baselines of §4.1)
METHODS = ("lt-sft", "rand-sft", "bitfit", "full")
#: what a ticketed model wears: its languages' tickets, or nothing (the dense network)
TICKET_MODES = ("language", "dense")


@dataclass(frozen=True)
class Budget:
    """The size of an SFT: exactly one of ``k``, ``density`` and ``reduction_factor``."""

    k: int | None = None
    density: float | None = None
    reduction_factor: float | None = None

    def __post_init__(self) -> None:
        given = [value for value in (self.k, self.density, self.reduction_factor) if value is not None]
        if len(given) != 1:
            raise ConfigError("give exactly one of --k, --density and --reduction-factor")
        if self.density is not None and not 0.0 <= self.density <= 1.0:
            raise ConfigError(f"--density must be in [0, 1], got {self.density}")
        if self.reduction_factor is not None and self.reduction_factor <= 0:
            raise ConfigError(f"--reduction-factor must be positive, got {self.reduction_factor}")
        if self.k is not None and self.k < 0:
            raise ConfigError(f"--k must not be negative, got {self.k}")

    def resolve(self, hidden: int, layers: int) -> tuple[int | None, float | None]:
        """``(k, density)`` for :class:`~langtickets.sft.training.LtSftConfig` (one of them None)."""
        if self.reduction_factor is not None:
            return round(2 * layers * hidden * hidden / self.reduction_factor), None
        return self.k, self.density

    def describe(self) -> str:
        if self.k is not None:
            return f"k={self.k}"
        if self.density is not None:
            return f"density={self.density:g}"
        return f"reduction_factor={self.reduction_factor:g}"


def add_budget_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> argparse._MutuallyExclusiveGroup:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--k", type=int, help="number of entries the SFT may change")
    group.add_argument("--density", type=float, help="fraction of the maskable parameters the SFT may change")
    group.add_argument("--reduction-factor", type=float,
                       help="K equivalent to an adapter of this reduction factor: 2 * layers * hidden^2 / factor")
    return group


def budget_from_args(args: argparse.Namespace) -> Budget:
    return Budget(args.k, args.density, args.reduction_factor)


def format_density(density: float) -> str:
    """A density as it appears in file names (``0.05`` -> ``0.05``, ``1.0`` -> ``1``); the workflow agrees."""
    return f"{density:g}"


def pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (e.g. ``qaa=results/sft/dense/language/qaa/lt-sft.safetensors``)."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. qaa=path/to/file), got {text!r}")
    return name, value


def pairs_to_dict(pairs: Iterable[tuple[str, str]], flag: str) -> dict[str, str]:
    """The pairs of a repeated flag as a dict; a name given twice is a :class:`ConfigError`."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found:
            raise ConfigError(f"'{name}' is given twice in {flag}; give each once")
        found[name] = value
    return found


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, required=True, help="config seed; every seed of the stage derives from it")
    parser.add_argument("--tickets", choices=TICKET_MODES, default="language",
                        help="ticketed models: wear the language's ticket (default) or run dense")
    parser.add_argument("--mask-fallback", default="none",
                        help="ticket for a language without one: a language code, 'dense', or 'none' (an error)")
    parser.add_argument("--device", default="auto", help="'auto' (a GPU when present), 'cpu' or 'cuda'")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def fallback_from_args(args: argparse.Namespace) -> str | None:
    return None if args.mask_fallback == "none" else args.mask_fallback


def setup_torch(threads: int, device: str):
    """Set the CPU thread count (fixed threads keep CPU reruns byte-identical); return the torch device
    (under a data-parallel launcher, this process's own device: :func:`langtickets.parallel.stage_device`)."""
    import torch

    from langtickets.parallel import stage_device

    if threads > 0:
        torch.set_num_threads(threads)
    return stage_device(device)


def ticket_for(masks, lang: str, tickets: str, fallback: str | None) -> str | None:
    """The ticket a model wears for ``lang`` (None: dense), by the ``--tickets`` mode."""
    from langtickets.tasks.encoders import mask_language

    return mask_language(masks, lang, dense=tickets == "dense", fallback=fallback)


def phase_steps(epochs: float, batches_per_epoch: int, max_steps: int) -> int:
    """``ceil(epochs * batches_per_epoch)``, capped at ``max_steps`` when that is positive."""
    steps = math.ceil(epochs * batches_per_epoch)
    return min(steps, max_steps) if max_steps > 0 else steps


def check_runs(runs: Sequence[int]) -> list[int]:
    if not runs or len(set(runs)) != len(runs) or min(runs) < 0:
        raise ConfigError(f"--runs must list distinct non-negative run numbers, got {list(runs)}")
    return list(runs)

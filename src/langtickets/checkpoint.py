"""Training checkpoints that resume exactly and never execute code when read.

A checkpoint is a folder ``step-{step:09d}/`` built under a temporary name and renamed into place whole
(:func:`langtickets.io.atomic_path`), holding

* ``model.safetensors`` -- the weights (tied weights stored once, by :func:`safetensors.torch.save_model`);
* ``optimizer.pt`` -- optimiser and scheduler ``state_dict`` s, read back with ``torch.load(weights_only=True)``
  (tensors and plain Python values only, never arbitrary objects);
* ``state.safetensors`` -- other tensors: RNG states and the caller's accumulators;
* further files the caller adds (``uc/layer-N.safetensors``: the interference sums, one file per layer,
  written by the process that keeps that layer in a data-parallel run);
* ``state.json`` -- plain values: step, sampler state, Python/NumPy RNG states, logs offsets, fingerprint;
* ``manifest.json`` -- size and SHA-256 of every file, written last; a folder whose manifest is missing or
  does not match is skipped when looking for the latest checkpoint.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from langtickets.errors import InputError
from langtickets.io import atomic_path, read_json, write_json

PREFIX = "step-"
FILES = ("model.safetensors", "optimizer.pt", "state.safetensors", "state.json")
#: folders holding shards of a checkpoint that is still being written (removed on resume)
STAGING = ".staging-step-"
_NAME = re.compile(rf"^{PREFIX}(\d+)$")


@dataclass
class Checkpoint:
    """What a checkpoint holds besides the model weights."""

    step: int
    optimizer: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


def checkpoint_path(root: str | Path, step: int) -> Path:
    return Path(root) / f"{PREFIX}{step:09d}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def staging_path(root: str | Path, step: int) -> Path:
    """Where the processes of a data-parallel run write their shards of step ``step`` before it is saved."""
    return Path(root) / f"{STAGING}{step:09d}"


def save_checkpoint(root: str | Path, model: nn.Module, checkpoint: Checkpoint,
                    extra: Mapping[str, Path] | None = None) -> Path:
    """Write ``checkpoint`` (and ``model``'s weights) as ``root/step-N`` atomically; returns the folder.

    ``extra`` maps names inside the checkpoint (``uc/layer-3.safetensors``) to files already written, e.g. by
    other processes; they are moved in and covered by the manifest like the standard files.
    """
    path = checkpoint_path(root, checkpoint.step)
    with atomic_path(path) as tmp:
        tmp.mkdir()
        save_model(model, str(tmp / "model.safetensors"))
        torch.save(checkpoint.optimizer, tmp / "optimizer.pt")
        save_file({k: v.contiguous() for k, v in checkpoint.tensors.items()}, str(tmp / "state.safetensors"))
        write_json(tmp / "state.json", {"step": checkpoint.step, **checkpoint.state})
        for name, source in sorted((extra or {}).items()):
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), tmp / name)
        names = [*FILES, *sorted(extra or {})]
        files = {name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)} for name in names}
        write_json(tmp / "manifest.json", {"step": checkpoint.step, "files": files})
    return path


def is_valid(path: Path) -> bool:
    """True when the folder's manifest exists and every file matches its recorded size and hash."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        files = read_json(manifest)["files"]
        return all(
            (path / name).is_file()
            and (path / name).stat().st_size == entry["bytes"]
            and _sha256(path / name) == entry["sha256"]
            for name, entry in files.items()
        ) and set(FILES) <= set(files)
    except (ValueError, KeyError, TypeError, OSError):
        return False


def list_checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every checkpoint folder under ``root`` (valid or not), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest valid checkpoint under ``root``; broken ones are reported on stderr and skipped."""
    for _step, path in reversed(list_checkpoints(root)):
        if is_valid(path):
            return path
        print(f"warning: skipping damaged checkpoint {path} (files missing or hashes differ)", file=sys.stderr)
    return None


def remove_partial(root: str | Path) -> None:
    """Delete temporary folders a killed job left while writing a checkpoint."""
    root = Path(root)
    if root.is_dir():
        for path in root.iterdir():
            if (path.name.startswith(f".{PREFIX}") and ".tmp-" in path.name) or path.name.startswith(STAGING):
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def prune_checkpoints(root: str | Path, keep: int) -> None:
    """Keep the ``keep`` newest checkpoints (at least one)."""
    for _step, path in list_checkpoints(root)[: -max(1, keep)]:
        shutil.rmtree(path)


def load_checkpoint(path: str | Path, model: nn.Module, device: torch.device | str = "cpu") -> Checkpoint:
    """Load weights into ``model`` and return the rest; only safetensors and ``weights_only`` pickles are read."""
    path = Path(path)
    if not is_valid(path):
        raise InputError(path, "checkpoint is incomplete or damaged", "delete this folder to resume from an older one")
    device = torch.device(device)
    # safetensors accepts "cpu" but not the "cpu:0" that accelerate gives each process of a CPU (gloo) run
    where = "cpu" if device.type == "cpu" else str(device)
    missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False, device=where)
    if unexpected or any(not _is_tied(model, name) for name in missing):
        raise InputError(path / "model.safetensors", f"weights do not fit the model (missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(unexpected)[:3]})", "delete the checkpoints of a different model")
    optimizer = torch.load(path / "optimizer.pt", map_location=where, weights_only=True)
    tensors = load_file(str(path / "state.safetensors"))
    state = read_json(path / "state.json")
    return Checkpoint(step=int(state.pop("step")), optimizer=optimizer, tensors=tensors, state=state)


def _is_tied(model: nn.Module, name: str) -> bool:
    """True when parameter ``name`` shares storage with another parameter (saved once under the other name)."""
    params = dict(model.named_parameters(remove_duplicate=False))
    target = params.get(name)
    return target is not None and any(p is target for other, p in params.items() if other != name)


# ---------------------------------------------------------------------------------------------------------
# RNG states


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON values) of the torch, CUDA, NumPy-global and Python RNG states."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = state
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss = random.getstate()
    values = {
        "numpy": {"kind": kind, "keys": keys.tolist(), "pos": pos, "has_gauss": has_gauss, "cached": cached},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    return tensors, values


def set_rng_state(tensors: Mapping[str, torch.Tensor], values: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[key] for key in sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.split(".")[-1]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    np_state = values["numpy"]
    np.random.set_state((np_state["kind"], np.asarray(np_state["keys"], dtype=np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached"]))
    py_state = values["python"]
    random.setstate((py_state["version"], tuple(py_state["internal"]), py_state["gauss"]))

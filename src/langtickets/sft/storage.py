"""On-disk format of a sparse fine-tuning: one safetensors file, never pickle.

Format ``langtickets-sft/1``:

* ``sparse.indices`` (uint8): for each sparse entry in name order, its sorted flat positions as gaps
  (first position, then differences minus one), LEB128 varints (:mod:`langtickets.sft.codec`). An entry
  covering its whole tensor (full fine-tuning, BitFit biases) stores no positions.
* ``sparse.values`` (float32): the differences of every entry, concatenated in the same order.
* ``dense.<name>``: each whole head tensor, in its own dtype.
* header metadata ``langtickets_sft``: JSON with the format name, the entries (name, shape, count, full, optional), K, the
  density and the :class:`~langtickets.sft.sparse.SftInfo` (kind, method, n_maskable, model type, base
  fingerprint, notes) -- readable without decoding the tensors (``safe_open(...).metadata()``).

At the densities of the paper a position costs one or two bytes and a value four, i.e. 0.6-0.75 of the
8 bytes per entry of (int32 index, float32 value) pairs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from langtickets.errors import InputError
from langtickets.io import atomic_path
from langtickets.sft.codec import decode_gaps, encode_gaps, gaps_to_indices, indices_to_gaps
from langtickets.sft.sparse import SftInfo, SparseDiff, SparseFineTuning

FORMAT = "langtickets-sft/1"
_META_KEY = "langtickets_sft"
_FIX = "rebuild it with the sft stage (delete the file and rerun)"


def save_sft(sft: SparseFineTuning, path: str | Path) -> None:
    """Write ``sft`` to ``path`` (atomically, deterministic bytes for equal content)."""
    entries, gaps, values = [], [], []
    for name, diff in sft.diffs.items():
        count = int(diff.indices.numel())
        full = count == diff.numel
        entries.append({"name": name, "shape": list(diff.shape), "count": count, "full": full, "optional": diff.optional})
        if not full:
            gaps.append(indices_to_gaps(diff.indices.cpu().numpy()))
        values.append(diff.values.detach().cpu().float())
    stream = encode_gaps(np.concatenate(gaps)) if gaps else np.zeros(0, dtype=np.uint8)
    tensors = {
        "sparse.indices": torch.from_numpy(stream),
        "sparse.values": torch.cat(values) if values else torch.zeros(0),
    }
    tensors.update({f"dense.{name}": head.detach().cpu().contiguous() for name, head in sft.heads.items()})
    density = sft.density if sft.info.n_maskable else None
    header = {"format": FORMAT, "entries": entries, "info": _info_to_json(sft.info), "k": sft.k, "density": density}
    # one metadata key: safetensors writes its metadata map in no fixed order, which would break
    # byte-identical reruns
    metadata = {_META_KEY: json.dumps(header, sort_keys=True, separators=(",", ":"))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_sft(path: str | Path) -> SparseFineTuning:
    """Read a file written by :func:`save_sft`; raise :class:`InputError` naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "SFT file not found", "run the stage that trains this SFT first")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            keys = set(handle.keys())
            tensors = {key: handle.get_tensor(key) for key in keys}
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise InputError(path, f"not a readable safetensors file ({error})", _FIX) from None
    if _META_KEY not in metadata:
        raise InputError(path, "not a langtickets SFT file (no 'langtickets_sft' metadata)", _FIX)
    try:
        header = json.loads(metadata[_META_KEY])
        if header.get("format") != FORMAT:
            raise InputError(path, f"unsupported SFT format {header.get('format')!r} (this version reads {FORMAT!r})", _FIX)
        entries, info = header["entries"], _info_from_json(header["info"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(path, f"malformed SFT header ({error})", _FIX) from None
    for key in ("sparse.indices", "sparse.values"):
        if key not in tensors:
            raise InputError(path, f"tensor '{key}' is missing", _FIX)
    diffs = _decode_entries(path, entries, tensors["sparse.indices"], tensors["sparse.values"])
    heads = {key.removeprefix("dense."): tensor for key, tensor in tensors.items() if key.startswith("dense.")}
    return SparseFineTuning(diffs, heads, info, source=path)


def _decode_entries(path: Path, entries: list[dict[str, Any]], stream: torch.Tensor, values: torch.Tensor) -> dict:
    try:
        gaps = decode_gaps(stream.numpy())
    except ValueError as error:
        raise InputError(path, f"corrupt index stream ({error})", _FIX) from None
    sparse = [e for e in entries if not e["full"]]
    if gaps.size != sum(e["count"] for e in sparse) or values.numel() != sum(e["count"] for e in entries):
        raise InputError(path, "entry counts do not match the stored positions and values", _FIX)
    positions = iter(gaps_to_indices(gaps, np.array([e["count"] for e in sparse], dtype=np.int64)))
    diffs, offset = {}, 0
    for entry in entries:
        shape, count = tuple(entry["shape"]), entry["count"]
        numel = int(torch.Size(shape).numel())
        indices = torch.arange(numel) if entry["full"] else torch.from_numpy(next(positions))
        if count and (indices.numel() != count or int(indices[-1]) >= numel):
            raise InputError(path, f"positions of '{entry['name']}' fall outside its shape {shape}", _FIX)
        diffs[entry["name"]] = SparseDiff(indices, values[offset : offset + count], shape, bool(entry["optional"]))
        offset += count
    return diffs


def _info_to_json(info: SftInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "method": info.method,
        "n_maskable": info.n_maskable,
        "model_type": info.model_type,
        "base_fingerprint": info.base_fingerprint,
        "notes": dict(info.notes),
    }


def _info_from_json(data: dict[str, Any]) -> SftInfo:
    return SftInfo(
        kind=str(data["kind"]),
        method=str(data["method"]),
        n_maskable=int(data["n_maskable"]),
        model_type=str(data["model_type"]),
        base_fingerprint=str(data["base_fingerprint"]),
        notes={str(k): str(v) for k, v in data.get("notes", {}).items()},
    )

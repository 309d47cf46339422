"""Seeds derived from the config seed, stable across processes and Python versions."""

from __future__ import annotations

import hashlib
import random


def derive_seed(base: int, *keys: object) -> int:
    """Derive a 31-bit seed from ``base`` and any number of keys (language, stage, run index...).

    Uses SHA-256 rather than :func:`hash` so the value does not change with ``PYTHONHASHSEED``.
    """
    text = "\x1f".join([str(base), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (when imported) PyTorch for a reproducible run.

    PyTorch's CPU kernels used here are deterministic for a fixed thread count, so this does not call
    ``torch.use_deterministic_algorithms`` (importing its machinery costs seconds per job); GPU runs
    that need bitwise reproducibility can switch it on themselves.
    """
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a hard dependency in practice
        pass
    import sys

    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.manual_seed(seed)

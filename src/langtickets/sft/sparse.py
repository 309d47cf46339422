"""A sparse fine-tuning as a value object (Ansell et al., §2 "Sparse Fine-Tuning" and §3.1 "Composition").

An SFT is the sparse difference vector phi = theta2 - theta0: per parameter tensor the sorted flat positions it
changes and the (float32) differences there, plus whole tensors for parameters the base model does not
have (a task's classifier head, stored absolutely rather than as a difference). ``F(.; theta + phi)`` is
obtained with :meth:`SparseFineTuning.apply`; SFTs compose by addition (:func:`compose`, ``+``).

Exact reversal. Floating-point addition is not invertible -- ``(w + v) - v`` may differ from ``w`` in the
last bit -- so :meth:`~SparseFineTuning.apply` keeps the values it overwrites on a per-model stack and
:meth:`~SparseFineTuning.revert` puts them back, restoring the model bitwise. Stacked applications must be
reverted last-in-first-out (:func:`applied` does this). For a model the SFT was applied to elsewhere (e.g.
saved after applying), ``revert(model, by_subtraction=True)`` subtracts the differences instead: exact up
to rounding, and a dense head cannot be restored that way (its previous values were never stored).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from langtickets.errors import InputError
from langtickets.sft.params import base_fingerprint

#: attribute on a model holding the stack of applications that :meth:`SparseFineTuning.revert` undoes
_STACK_ATTR = "_langtickets_applied_sfts"


@dataclass(frozen=True)
class SparseDiff:
    """Differences at sorted, distinct flat positions of one parameter tensor of ``shape``.

    ``optional`` marks a tensor outside the shared encoder (e.g. the MLM head transform of a language SFT):
    applying the SFT to a model without that parameter (a tagger) skips it instead of failing.
    """

    indices: torch.Tensor  # (n,) int64, strictly increasing
    values: torch.Tensor  # (n,) float32
    shape: tuple[int, ...]
    optional: bool = False

    @property
    def numel(self) -> int:
        return int(torch.Size(self.shape).numel())


@dataclass(frozen=True)
class SftInfo:
    """What an SFT is: its kind (language, task...), how it was made, and the base it belongs to."""

    kind: str = "sft"
    method: str = "lt-sft"
    n_maskable: int = 0  # maskable parameters of the training plan: the denominator of the density
    model_type: str = ""
    base_fingerprint: str = ""  # params.base_fingerprint of theta0; "" when unknown
    notes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Application:
    sft: SparseFineTuning
    # by parameter name rather than tensor, so a copied or moved model fails loudly instead of silently
    sparse: list[tuple[str, torch.Tensor, torch.Tensor]]  # (name, flat positions, overwritten values)
    dense: list[tuple[str, torch.Tensor]]  # (name, overwritten tensor)


class SparseFineTuning:
    """Sparse differences (``diffs``) plus whole head tensors (``heads``), keyed by full parameter name."""

    def __init__(
        self,
        diffs: Mapping[str, SparseDiff],
        heads: Mapping[str, torch.Tensor] | None = None,
        info: SftInfo | None = None,
        *,
        source: str | Path | None = None,
    ) -> None:
        self.diffs = dict(sorted(diffs.items()))
        self.heads = dict(sorted((heads or {}).items()))
        self.info = info or SftInfo()
        self.source = str(source) if source is not None else None

    # -- size -------------------------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of selected positions (the support of phi); selected entries whose difference is 0.0 count."""
        return sum(int(diff.indices.numel()) for diff in self.diffs.values())

    @property
    def density(self) -> float:
        """``k`` over the number of maskable parameters the SFT was trained with (NaN when unknown)."""
        return self.k / self.info.n_maskable if self.info.n_maskable else float("nan")

    def __repr__(self) -> str:
        return (
            f"SparseFineTuning(kind={self.info.kind!r}, method={self.info.method!r}, k={self.k}, "
            f"tensors={len(self.diffs)}, heads={sorted(self.heads)})"
        )

    # -- storage ----------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the SFT as one safetensors file, atomically (see :mod:`langtickets.sft.storage`)."""
        from langtickets.sft.storage import save_sft  # storage imports this module

        save_sft(self, path)

    @classmethod
    def load(cls, path: str | Path) -> SparseFineTuning:
        """Read an SFT written by :meth:`save`; a corrupt or foreign file raises :class:`InputError`."""
        from langtickets.sft.storage import load_sft  # storage imports this module

        return load_sft(path)

    def to(self, device: torch.device | str) -> SparseFineTuning:
        """A copy with every tensor on ``device`` (so repeated applications need no transfers)."""
        diffs = {
            name: replace(diff, indices=diff.indices.to(device), values=diff.values.to(device))
            for name, diff in self.diffs.items()
        }
        heads = {name: tensor.to(device) for name, tensor in self.heads.items()}
        return SparseFineTuning(diffs, heads, self.info, source=self.source)

    # -- apply / revert ---------------------------------------------------------------------------------
    def check_compatible(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """Map each entry to the model's parameter; raise :class:`InputError` on a name or shape mismatch.

        Optional entries (outside the encoder) the model lacks are left out of the result.
        """
        params = dict(model.named_parameters())
        found = {}
        entries = [(name, diff.shape, diff.optional) for name, diff in self.diffs.items()]
        entries += [(name, tuple(head.shape), False) for name, head in self.heads.items()]
        for name, shape, optional in entries:
            param = params.get(name)
            if param is None and optional:
                continue
            if param is None:
                self._mismatch(model, f"the model has no parameter '{name}'")
            if tuple(param.shape) != tuple(shape):
                self._mismatch(model, f"parameter '{name}' is {tuple(shape)} in the SFT but {tuple(param.shape)} in the model")
            found[name] = param
        return found

    def apply(self, model: nn.Module) -> None:
        """Add phi to ``model`` in place (and copy in the heads); remembered for an exact :meth:`revert`."""
        params = self.check_compatible(model)
        sparse, dense = [], []
        with torch.no_grad():
            for name, diff in self.diffs.items():
                if name not in params:
                    continue
                flat = _flat(params[name])
                indices = diff.indices.to(flat.device)
                old = flat.index_select(0, indices)
                flat.index_copy_(0, indices, _add(old, diff.values, 1.0))
                sparse.append((name, indices, old))
            for name, head in self.heads.items():
                dense.append((name, params[name].detach().clone()))
                params[name].copy_(head)
        _stack(model).append(_Application(self, sparse, dense))

    def revert(self, model: nn.Module, *, by_subtraction: bool = False) -> None:
        """Undo :meth:`apply` on ``model``, bitwise, from the values it saved (last applied, first reverted).

        With ``by_subtraction=True`` the differences are subtracted instead -- for a model this SFT was not
        applied to in this process; exact only up to floating-point rounding, heads left as they are.
        """
        if by_subtraction:
            self._subtract(model)
            return
        stack = _stack(model)
        if not stack or stack[-1].sft is not self:
            problem = "this SFT was not applied to the model" if all(a.sft is not self for a in stack) else (
                "another SFT was applied after this one; revert that one first (last applied, first reverted)"
            )
            raise RuntimeError(f"cannot revert exactly: {problem} (or pass by_subtraction=True)")
        record = stack.pop()
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, indices, old in record.sparse:
                _flat(params[name]).index_copy_(0, indices, old)
            for name, old in record.dense:
                params[name].copy_(old)

    def _subtract(self, model: nn.Module) -> None:
        params = self.check_compatible(model)
        with torch.no_grad():
            for name, diff in self.diffs.items():
                if name in params:
                    flat = _flat(params[name])
                    indices = diff.indices.to(flat.device)
                    flat.index_copy_(0, indices, _add(flat.index_select(0, indices), diff.values, -1.0))

    def verify_base(self, model: nn.Module) -> None:
        """Raise :class:`InputError` unless ``model`` (pristine, nothing applied) is the base this SFT was
        trained from, by :func:`langtickets.sft.params.base_fingerprint`."""
        if self.info.base_fingerprint and base_fingerprint(model) != self.info.base_fingerprint:
            raise InputError(
                self.source or "<in-memory SFT>",
                "the SFT was trained from a different pretrained model (base fingerprint differs)",
                "apply it to the model it was trained from, or retrain it on this one",
            )

    def _mismatch(self, model: nn.Module, problem: str) -> None:
        trained = self.info.model_type or "unknown"
        actual = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
        raise InputError(
            self.source or "<in-memory SFT>",
            f"{problem} (SFT trained on model_type '{trained}', model is '{actual}')",
            "load the SFT into the architecture it was trained on, or retrain it for this model",
        )

    def __add__(self, other: SparseFineTuning) -> SparseFineTuning:
        return compose(self, other)


def compose(*sfts: SparseFineTuning) -> SparseFineTuning:
    """The SFT of theta0 + sum of phis (§3.1): per tensor the union of positions, differences summed there.

    Whole heads are carried over; two SFTs with a head of the same name cannot be composed (a head is an
    absolute value, not a difference). All parts must come from the same base (fingerprint) when known.
    """
    if not sfts:
        raise ValueError("compose needs at least one SFT")
    fingerprints = {s.info.base_fingerprint for s in sfts} - {""}
    if len(fingerprints) > 1:
        raise ValueError("cannot compose SFTs trained from different base models (fingerprints differ)")
    names = sorted({name for s in sfts for name in s.diffs})
    diffs = {name: _sum_diffs([s.diffs[name] for s in sfts if name in s.diffs], name) for name in names}
    heads: dict[str, torch.Tensor] = {}
    for sft in sfts:
        for name, head in sft.heads.items():
            if name in heads:
                raise ValueError(f"cannot compose two SFTs that both carry the head '{name}'")
            heads[name] = head
    info = SftInfo(
        kind="composed",
        method="+".join(s.info.method for s in sfts),
        n_maskable=max(s.info.n_maskable for s in sfts),
        model_type=next((s.info.model_type for s in sfts if s.info.model_type), ""),
        base_fingerprint=next(iter(fingerprints), ""),
        notes={"parts": ",".join(s.info.kind for s in sfts)},
    )
    return SparseFineTuning(diffs, heads, info)


def _sum_diffs(parts: list[SparseDiff], name: str) -> SparseDiff:
    if len({part.shape for part in parts}) > 1:
        raise ValueError(f"cannot compose: parameter '{name}' has different shapes in the SFTs")
    if len(parts) == 1:
        return parts[0]
    indices = torch.cat([part.indices.cpu() for part in parts])
    values = torch.cat([part.values.cpu().float() for part in parts])
    union, inverse = torch.unique(indices, sorted=True, return_inverse=True)
    summed = torch.zeros(union.numel(), dtype=torch.float32).index_add_(0, inverse, values)
    return SparseDiff(union, summed, parts[0].shape, optional=all(part.optional for part in parts))


@contextlib.contextmanager
def applied(model: nn.Module, *sfts: SparseFineTuning) -> Iterator[nn.Module]:
    """Apply ``sfts`` in order for the duration of the block, then revert them exactly in reverse order.

    ``applied(model, task_sft, target_language_sft)`` is the zero-shot model of §3.2.
    """
    done: list[SparseFineTuning] = []
    try:
        for sft in sfts:
            sft.apply(model)
            done.append(sft)
        yield model
    finally:
        for sft in reversed(done):
            sft.revert(model)


def applied_sfts(model: nn.Module) -> list[SparseFineTuning]:
    """The SFTs currently applied to ``model`` (oldest first) that :meth:`SparseFineTuning.revert` can undo."""
    return [record.sft for record in _stack(model)]


def diffs_at(
    model: nn.Module,
    reference: Mapping[str, torch.Tensor],
    support: Mapping[str, torch.Tensor],
    optional: Iterable[str] = (),
) -> dict[str, SparseDiff]:
    """``param - reference`` of ``model`` at the sorted flat positions ``support[name]``, as float32.

    Every position in the support is kept, also where the difference is 0.0 (a selected parameter that
    ended where it started): the support, not the non-zero pattern, is what LT-SFT selected.
    """
    params = dict(model.named_parameters())
    optional = set(optional)
    diffs = {}
    with torch.no_grad():
        for name, indices in support.items():
            flat, base = _flat(params[name]), reference[name].reshape(-1)
            indices = indices.to(flat.device)
            delta = flat.index_select(0, indices).float() - base.index_select(0, indices.to(base.device)).float()
            diffs[name] = SparseDiff(indices.cpu(), delta.cpu(), tuple(params[name].shape), name in optional)
    return diffs


def _add(old: torch.Tensor, values: torch.Tensor, sign: float) -> torch.Tensor:
    """``old + sign * values`` computed in at least float32 (bf16 weights), returned in ``old``'s dtype."""
    wide = torch.promote_types(old.dtype, torch.float32)
    return old.to(wide).add(values.to(old.device, wide), alpha=sign).to(old.dtype)


def _flat(param: torch.Tensor) -> torch.Tensor:
    if not param.is_contiguous():
        raise ValueError("sparse fine-tuning needs contiguous parameters")
    return param.detach().view(-1)


def _stack(model: nn.Module) -> list[_Application]:
    stack = model.__dict__.get(_STACK_ATTR)
    if stack is None:
        stack = []
        object.__setattr__(model, _STACK_ATTR, stack)
    return stack

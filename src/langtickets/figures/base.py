"""The figure framework: a registry of drawing functions, one fixed style, and byte-reproducible saving.

A figure is a function ``draw(inputs: list[Path], options: Options) -> matplotlib.figure.Figure`` that reads
files under ``results/`` (never recomputing what an earlier rule made) and returns a figure; it is listed in
:data:`FIGURES` as ``name -> "module:function"`` (imported only when drawn, like the CLI's stages). The CLI
(:mod:`langtickets.figures.cli`) draws it inside :func:`style` and writes a PDF and a PNG with
:func:`save_figure`, whose output is byte-identical on rerun: fixed fonts (matplotlib's bundled DejaVu Sans,
TrueType embedded), fixed dpi, no timestamps or software versions in the metadata.

To add a figure: write ``draw_something`` in a module of this package, add one line to :data:`FIGURES`, one
rule ``figure_something`` in ``workflow/rules/figures.smk`` (copy a neighbour: ``figure_files`` gives the
outputs, ``FIGURE_SHELL`` the command) and its caption ``workflow/report/figure_something.rst``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langtickets.errors import ConfigError
from langtickets.io import atomic_path

#: figure name -> "module:function" drawing it (see the module docstring)
FIGURES: dict[str, str] = {
    "ticket-umap": "langtickets.figures.tickets:draw_ticket_umap",
    "jaccard-heatmaps": "langtickets.figures.tickets:draw_jaccard_heatmaps",
    "jaccard-layers": "langtickets.figures.tickets:draw_jaccard_layers",
    "uc-layers": "langtickets.figures.interference:draw_uc_layers",
    "stability": "langtickets.figures.interference:draw_stability",
    "retrieval": "langtickets.figures.retrieval:draw_retrieval",
    "imp-sparsity": "langtickets.figures.subnetworks:draw_imp_sparsity",
    "imp-transfer": "langtickets.figures.subnetworks:draw_imp_transfer",
    "head-importance": "langtickets.figures.subnetworks:draw_head_importance",
    "head-pruning": "langtickets.figures.subnetworks:draw_head_pruning",
    "sft-density": "langtickets.figures.sft:draw_sft_density",
    "headsub-change": "langtickets.headsub.figure:draw_headsub_change",
}

DPI = 150
#: every figure is drawn under these settings (nothing depends on the user's matplotlibrc)
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.hashsalt": "langtickets",
    "image.cmap": "viridis",
}
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Creator": "langtickets", "Producer": "langtickets"}
PNG_METADATA = {"Software": None}

#: fixed colours so a variant or ticket method looks the same in every figure
COLOURS = {
    "dense": "#222222", "scaled": "#7f7f7f", "wide": "#8c564b",
    "ticket-snip": "#d62728", "ticket-magnitude": "#1f77b4", "ticket-random": "#2ca02c",
    "ticket-snip-base": "#ff9896", "ticket-magnitude-base": "#aec7e8", "ticket-random-base": "#98df8a",
    "snip": "#d62728", "magnitude": "#1f77b4", "random": "#2ca02c",
    "gc": "#ff7f0e", "uc": "#d62728",
}
_FALLBACK = ["#9467bd", "#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39"]
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


class Options(dict):
    """``--set key=value`` options of a figure, with typed getters."""

    def text(self, key: str, default: str) -> str:
        return str(self.get(key, default))

    def names(self, key: str, default: Sequence[str]) -> list[str]:
        value = self.get(key)
        return list(default) if value is None else [part for part in str(value).split(",") if part]

    def integers(self, key: str, default: Sequence[int]) -> list[int]:
        try:
            return [int(part) for part in self.names(key, [str(d) for d in default])]
        except ValueError:
            raise ConfigError(f"figure option {key}={self.get(key)} must be comma-separated integers") from None


@dataclass(frozen=True)
class FigureSpec:
    name: str
    draw: Callable[[list[Path], Options], Any]


def figure_spec(name: str) -> FigureSpec:
    """The registered figure ``name`` with its drawing function imported."""
    if name not in FIGURES:
        raise ConfigError(f"unknown figure '{name}'; choose one of {', '.join(sorted(FIGURES))}")
    module, function = FIGURES[name].split(":")
    return FigureSpec(name, getattr(importlib.import_module(module), function))


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Draw and save under :data:`STYLE` with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float, **kwargs: Any):
    """A stand-alone :class:`matplotlib.figure.Figure` (no pyplot state) with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def save_figure(fig: Any, pdf: str | Path | None, png: str | Path | None, dpi: int = DPI) -> None:
    """Write ``fig`` as PDF and/or PNG atomically, with metadata that makes reruns byte-identical."""
    if pdf is not None:
        with atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf", dpi=dpi, metadata=PDF_METADATA)
    if png is not None:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata=PNG_METADATA)


def colour(name: str, others: Sequence[str] = ()) -> str:
    """The fixed colour of a variant/method/metric; unknown names get a stable pick by their sorted position."""
    if name in COLOURS:
        return COLOURS[name]
    unknown = sorted(n for n in {*others, name} if n not in COLOURS)
    return _FALLBACK[unknown.index(name) % len(_FALLBACK)]


def group_styles(groups: Sequence[str]) -> dict[str, tuple[Any, str]]:
    """``{group: (colour, marker)}`` for families: tab10/tab20 colours, markers cycling past 20 groups."""
    from matplotlib import colormaps

    names = sorted(set(groups))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    size = 10 if len(names) <= 10 else 20
    return {name: (cmap(i % size), MARKERS[(i // size) % len(MARKERS)]) for i, name in enumerate(names)}


def codes_fontsize(count: int) -> float:
    """Tick-label size for ``count`` language codes: readable for a dozen, still legible for a hundred."""
    return max(3.0, min(7.0, 160.0 / max(count, 1)))


def read_inputs(inputs: Sequence[Path], expected: int | None, what: str) -> list[Mapping[str, Any]]:
    """Load JSON inputs (exactly ``expected`` of them when given) with one-line errors."""
    from langtickets.analysis.common import load_json

    if expected is not None and len(inputs) != expected:
        raise ConfigError(f"figure needs {expected} input file(s) ({what}), got {len(inputs)}")
    return [load_json(path, what, "rerun the analysis rule that writes it") for path in inputs]

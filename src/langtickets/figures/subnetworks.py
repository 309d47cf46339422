"""Figures of the IMP subnetworks (IMP paper, Figures 2 and 4) and of the attention-head analysis (MeSH
paper, section III): score against sparsity, transfer matrices, head-importance heatmaps, and scores as heads
are pruned with the dissociation score D(alpha)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langtickets.figures.base import Options, codes_fontsize, colour, new_figure, read_inputs

ORDER_STYLE = {"most": ("#d62728", "most important first"), "least": ("#1f77b4", "least important first"),
               "random": ("#7f7f7f", "random order")}  # fmt: skip


def _grid(count: int, columns: int) -> tuple[int, int]:
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns


def draw_imp_sparsity(inputs: list[Path], options: Options):
    """Figure 2: each (task, language)'s mean score (bars: one std over runs) per IMP sparsity level, the
    dense model's one-std band, and the random subnetworks; one panel per task. Input: imp.json files."""
    results = read_inputs(inputs, None, "IMP result")
    tasks = list(dict.fromkeys(r["task"] for r in results))
    rows, cols = _grid(len(tasks), 3)
    fig = new_figure(3.2 * cols, 2.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
    for ax, task in zip(axes, tasks):
        mine = [r for r in results if r["task"] == task]
        langs = [r["lang"] for r in mine]
        for result in mine:
            c = colour(result["lang"], langs)
            x = [100 * level["sparsity"] for level in result["levels"]]
            means, stds = ([level[key] for level in result["levels"]] for key in ("mean", "std"))
            ax.errorbar(x, means, yerr=stds, color=c, marker="o", markersize=3, linewidth=1, capsize=2,
                        label=result["lang"])  # fmt: skip
            dense = result["dense"]
            ax.axhspan(dense["mean"] - dense["std"], dense["mean"] + dense["std"], color=c, alpha=0.08, linewidth=0)
            for level in result["random"]:
                ax.scatter([100 * level["sparsity"]], [level["mean"]], color=c, marker="x", s=24)
        ax.set_title(f"{task.upper()} ({mine[0]['metric']}; x = random subnetwork)")
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel(mine[0]["metric"])
        ax.legend(frameon=False, ncols=2, fontsize=codes_fontsize(len(langs)))
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    fig.suptitle("IMP subnetworks: score against sparsity (band: dense model ± one std = winning-ticket zone)")
    return fig


def _annotated_matrix(ax: Any, values: np.ndarray, rows: Sequence[str], cols: Sequence[str], limit: float,
                      successful: Sequence[Sequence[bool]] | None = None) -> Any:  # fmt: skip
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    size = codes_fontsize(len(cols))
    ax.set_xticks(range(len(cols)), cols, fontsize=size)
    ax.set_yticks(range(len(rows)), rows, fontsize=size)
    if len(cols) <= 16:
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                mark = "*" if successful is not None and i < len(successful) and successful[i][j] and i != j else ""
                shade = "white" if abs(value) > 0.6 * limit else "black"  # readable on dark cells
                ax.text(j, i, f"{value:.2g}{mark}", ha="center", va="center", fontsize=max(3.0, size - 1), color=shade)
    return image


def draw_imp_transfer(inputs: list[Path], options: Options):
    """Figure 4: per task (rows) and transfer sparsity (columns), ``a(s, t) - a(t, t)`` for every source row
    and target column, with the random subnetwork's row; * marks a successful transfer. Blue = worse than the
    target's own subnetwork, red = better, as in the paper (for perplexity the sign is flipped so that blue is
    always worse).
    Input: transfer.json files."""
    reports = read_inputs(inputs, None, "transfer report")
    columns = max(len(report["levels"]) for report in reports)
    cell = max(2.4, 0.28 * max(len(report["langs"]) for report in reports))
    fig = new_figure(max(cell * columns + 1.0, 5.0), cell * len(reports) + 0.4)
    axes = fig.subplots(len(reports), columns, squeeze=False)
    for row, report in enumerate(reports):
        sign = 1.0 if report["higher_is_better"] else -1.0
        for col in range(columns):
            ax = axes[row][col]
            if col >= len(report["levels"]):
                ax.set_visible(False)
                continue
            level = report["levels"][col]
            values = sign * np.array(level["difference"], dtype=float)
            limit = float(np.nanmax(np.abs(values))) or 1.0
            image = _annotated_matrix(ax, values, level["rows"], level["cols"], limit, level["successful"])
            fig.colorbar(image, ax=ax, shrink=0.8)
            ax.set_title(f"{report['task'].upper()} at {100 * level['sparsity']:.0f}% ({report['metric']}"
                         f"{', sign flipped' if sign < 0 else ''})")  # fmt: skip
            ax.set_xlabel("target language")
            ax.set_ylabel("source subnetwork")
    fig.suptitle("Cross-lingual transfer of IMP subnetworks: a(s, t) - a(t, t)")
    return fig


def draw_head_importance(inputs: list[Path], options: Options):
    """Heatmaps of normalised head importance (layers x heads), one per (task, language) unit.
    Input: heads.json."""
    (report,) = read_inputs(inputs, 1, "head analysis")
    units = report["units"]
    rows, cols = _grid(len(units), 4)
    fig = new_figure(2.2 * cols + 0.8, 0.25 * report["layers"] * rows + 1.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
    top = max(max(max(row) for row in report["importance"][u]) for u in units) or 1.0
    image = None
    for ax, unit in zip(axes, units):
        image = ax.imshow(np.array(report["importance"][unit]), cmap="viridis", vmin=0, vmax=top, aspect="auto")
        ax.set_title(f"{unit} ({report['metric'][unit]} {report['baseline'][unit]:.3f})")
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(report["heads"]))
        ax.set_yticks(range(report["layers"]))
    for ax in axes[len(units):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=list(axes[: len(units)]), shrink=0.8, label="importance")
    normalised = "normalised per layer" if report["normalized"] else "raw"
    fig.suptitle(f"Head importance E|dL/dξ| ({normalised}; model {report['model']}, {len(report['runs'])} run(s))")
    return fig


def _curves(ax: Any, curves: Sequence[Mapping[str, Any]], unit: str) -> None:
    for order, (c, label) in ORDER_STYLE.items():
        points = [row for row in curves if row["unit"] == unit and row["order"] == order]
        if points:
            ax.plot([100 * p["fraction"] for p in points], [p["score"] for p in points], color=c, marker="o",
                    markersize=2.5, linewidth=1, label=label)  # fmt: skip
    ax.set_title(unit)
    ax.set_xlabel("heads pruned (%)")


PAIR_GROUPS = {"language": ("#1f77b4", "same task, two languages"), "task": ("#d62728", "same language, two tasks"),
               "other": ("#7f7f7f", "task and language differ")}  # fmt: skip


def pair_group(a: str, b: str) -> str:
    """``language`` for one task in two languages, ``task`` for two tasks in one language, else ``other``."""
    (task_a, lang_a), (task_b, lang_b) = a.split("/", 1), b.split("/", 1)
    return "language" if task_a == task_b else "task" if lang_a == lang_b else "other"


def _dissociation(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """D(alpha) of every pair (thin) and the mean of each kind of pair (thick, in the legend)."""
    pairs = list(dict.fromkeys((row["a"], row["b"]) for row in rows))
    means: dict[str, dict[float, list[float]]] = {}
    for a, b in pairs:
        group = pair_group(a, b)
        points = [row for row in rows if (row["a"], row["b"]) == (a, b) and row["d"] is not None]
        ax.plot([100 * p["alpha"] for p in points], [p["d"] for p in points], color=PAIR_GROUPS[group][0],
                linewidth=0.5, alpha=0.35)  # fmt: skip
        for p in points:
            means.setdefault(group, {}).setdefault(p["alpha"], []).append(p["d"])
    for group, by_alpha in means.items():
        alphas = sorted(by_alpha)
        ax.plot([100 * a for a in alphas], [sum(by_alpha[a]) / len(by_alpha[a]) for a in alphas], marker="o",
                markersize=3, linewidth=1.6, color=PAIR_GROUPS[group][0], label=f"{PAIR_GROUPS[group][1]} (mean)")
    ax.axhline(0.0, color="#999999", linewidth=0.6)
    ax.set_title("dissociation D(α) (thin: single pairs)")
    ax.set_xlabel("top-α heads pruned (%)")
    ax.legend(frameon=False, fontsize=6)


def draw_head_pruning(inputs: list[Path], options: Options):
    """Each unit's score as heads are pruned (most / least important first, random), and D(alpha) for every
    pair of units (IAP equation (2)). Input: heads.json."""
    (report,) = read_inputs(inputs, 1, "head analysis")
    units = report["units"]
    rows, cols = _grid(len(units) + 1, 4)
    fig = new_figure(2.4 * cols, 2.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
    for ax, unit in zip(axes, units):
        _curves(ax, report["curves"], unit)
        ax.set_ylabel(report["metric"][unit])
    axes[0].legend(frameon=False)
    _dissociation(axes[len(units)], report["dissociation"])
    for extra in axes[len(units) + 1:]:
        extra.set_visible(False)
    fig.suptitle(f"Pruning attention heads (model {report['model']}, {len(report['runs'])} run(s))")
    return fig

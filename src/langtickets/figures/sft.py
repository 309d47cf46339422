"""LT-SFT figures: the density contour of the composable-SFT paper, section 5.2 (zero-shot score over the
grid of language-SFT density x task-SFT density, averaged over target languages)."""

from __future__ import annotations

import csv
from pathlib import Path

from langtickets.errors import InputError
from langtickets.figures.base import Options, new_figure


def read_density_grid(path: Path) -> tuple[list[float], list[float], list[list[float]]]:
    """(language densities, task densities, average score [language][task]) of an ``sft-density-*.csv`` table."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"language_density", "task_density", "avg"} <= set(rows[0]):
        raise InputError(path, "not a density table (needs language_density, task_density, avg)",
                         "rebuild it with `langtickets sft-table density`")  # fmt: skip
    cells = {(float(row["language_density"]), float(row["task_density"])): row["avg"] for row in rows}
    language = sorted({key[0] for key in cells})
    task = sorted({key[1] for key in cells})
    grid = [[float(cells[(ld, td)]) if cells.get((ld, td)) not in (None, "") else float("nan") for td in task]
            for ld in language]  # fmt: skip
    return language, task, grid


def draw_sft_density(inputs: list[Path], options: Options):
    """One panel per density table: filled contours of the average score (log density axes), cells marked.

    Inputs: ``results/tables/sft-density-{model}-{task}-{metric}.csv``.
    """
    import numpy as np

    fig = new_figure(3.4 * len(inputs) + 0.6, 3.0)
    axes = fig.subplots(1, len(inputs), squeeze=False).ravel()
    for ax, path in zip(axes, inputs):
        language, task, grid = read_density_grid(path)
        values = np.array(grid)
        if len(language) > 1 and len(task) > 1:
            filled = ax.contourf(task, language, values, levels=8, cmap="viridis")
            fig.colorbar(filled, ax=ax, label=Path(path).stem.rsplit("-", 1)[-1])
        ax.scatter(np.repeat([task], len(language), axis=0), np.repeat([[ld] for ld in language], len(task), axis=1),
                   s=8, color="white", edgecolors="black", linewidths=0.4)  # fmt: skip
        for i, ld in enumerate(language):
            for j, td in enumerate(task):
                ax.annotate(f"{values[i, j]:.1f}", (td, ld), textcoords="offset points", xytext=(4, 4), fontsize=6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("task-SFT density")
        ax.set_ylabel("language-SFT density")
        ax.set_title(Path(path).stem.removeprefix("sft-density-"))
    return fig

"""Parallel sentence retrieval per layer (IMP paper, Figure 7), one line per pretraining variant."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from langtickets.figures.base import Options, colour, new_figure, read_inputs


def draw_retrieval(inputs: list[Path], options: Options):
    """Mean margin-retrieval accuracy over ordered language pairs per layer; one panel per top-t.

    Inputs: the retrieval analysis' JSON of each variant. Option ``tops`` (default: every reported top-t).
    """
    reports = read_inputs(inputs, None, "retrieval report")
    variants = [r["variant"] for r in reports]
    tops = options.integers("tops", reports[0]["tops"] if reports else [1])
    fig = new_figure(3.4 * len(tops) + 1.6, 3.0)
    axes = fig.subplots(1, len(tops), squeeze=False)[0]
    for ax, top in zip(axes, tops):
        for report in reports:
            layers = sorted(report["layers"], key=int)
            ys = [(report["layers"][layer].get(f"top{top}") or {}).get("mean") for layer in layers]
            ax.plot([int(layer) for layer in layers], [math.nan if y is None else y for y in ys], "-o",
                    color=colour(report["variant"], variants), label=report["variant"])
        if reports:
            chance = min(1.0, top / reports[0]["sentences"])
            ax.axhline(chance, color="#999999", linestyle="--", linewidth=0.8, label="chance")
            ax.set_title(f"top-{top} accuracy ({reports[0]['sentences']} sentences, k = {reports[0]['k']})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_ylabel("retrieval accuracy")
        ax.set_ylim(0, 1.02)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", frameon=False)
    fig.suptitle("Parallel sentence retrieval with the margin score, mean-pooled states per layer")
    return fig

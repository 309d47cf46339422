"""Interference figures (multilingual-tickets paper, section 3.3): uc per layer for dense and ticketed
pretraining (Figure 3) and the relative change of gc and uc between measurements (Figure 2)."""

from __future__ import annotations

import math
from pathlib import Path

from langtickets.figures.base import Options, colour, new_figure, read_inputs


def draw_uc_layers(inputs: list[Path], options: Options):
    """Mean off-diagonal uc per layer, one line per variant (option ``variants`` picks and orders them).

    Input: the interference analysis' ``uc_layers.json``. Higher uc = less negative interference.
    """
    (data,) = read_inputs(inputs, 1, "uc layers")
    variants = [v for v in options.names("variants", data.get("order", list(data["variants"]))) if v in data["variants"]]
    fig = new_figure(4.6, 3.2)
    ax = fig.subplots()
    for variant in variants:
        entry = data["variants"][variant]
        values = [math.nan if v is None else v for v in entry["mean_uc"]]
        ax.plot(entry["layers"], values, "-o", color=colour(variant, variants), label=variant)
    steps = sorted({data["variants"][v]["step"] for v in variants})
    ax.set_xlabel("layer")
    ax.set_ylabel("mean uc over language pairs")
    ax.set_xticks(sorted({layer for v in variants for layer in data["variants"][v]["layers"]}))
    ax.set_title(f"Cumulative-update cosine per layer at step {', '.join(map(str, steps))}")
    ax.legend(frameon=False, loc="best")
    return fig


def draw_stability(inputs: list[Path], options: Options):
    """Relative change of gc (orange) and uc (red) between consecutive measurements, one panel per variant.

    Input: the interference analysis' ``stability.json``. A log scale is used when every value is positive.
    """
    (data,) = read_inputs(inputs, 1, "stability summary")
    variants = [v for v in options.names("variants", data.get("order", list(data["variants"]))) if v in data["variants"]]
    columns = min(3, max(1, len(variants)))
    rows = math.ceil(len(variants) / columns) or 1
    fig = new_figure(3.0 * columns + 0.4, 2.4 * rows + 0.4)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, variant in zip(axes, variants):
        entry = data["variants"][variant]
        values = []
        for metric in ("gc", "uc"):
            series = entry[metric]
            ys = [math.nan if v is None else v for v in series["relative_change"]]
            values += [v for v in ys if math.isfinite(v)]
            mean = series.get("mean")
            label = f"{metric} (mean {mean:.3g})" if mean is not None else metric
            ax.plot(series["steps"], ys, "-o", markersize=2.5, color=colour(metric), label=label)
        if values and min(values) > 0:
            ax.set_yscale("log")
        ax.set_title(variant)
        ax.set_xlabel("step")
        ax.set_ylabel(f"relative change per {entry['interval_steps']} steps")
        ax.legend(frameon=False, loc="best")
    for ax in axes[len(variants):]:
        ax.set_axis_off()
    fig.suptitle("Stability of interference metrics: gradient cosine (gc) vs cumulative-update cosine (uc)")
    return fig

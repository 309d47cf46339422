"""Figures of the tickets themselves: UMAP by language family (multilingual-tickets paper, Figure 4), Jaccard
heatmaps per layer and mean overlap per layer against its references (IMP paper, Figure 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langtickets.errors import ConfigError
from langtickets.figures.base import Options, codes_fontsize, colour, group_styles, new_figure, read_inputs

METHOD_TITLES = {"snip": "SNIP (multilingual) tickets", "magnitude": "magnitude tickets", "random": "random tickets"}


def _score_line(scores: Mapping[str, Any]) -> str:
    """'silhouette 0.41 (null 0.00 ± 0.10, p = 0.03)' or 'silhouette n/a'."""
    value = scores.get("silhouette_jaccard")
    if value is None:
        return "silhouette n/a"
    null = (scores.get("null") or {}).get("silhouette_jaccard")
    if not null:
        return f"silhouette {value:.2f}"
    return f"silhouette {value:.2f} (null {null['mean']:.2f} ± {null['std']:.2f}, p = {null['p_value']:.3f})"


def draw_ticket_umap(inputs: list[Path], options: Options):
    """One panel per ticket method (option ``methods``, default snip,random), points coloured by family.

    Input: the structure analysis' JSON. Option ``level``: family (default) or genus.
    """
    (report,) = read_inputs(inputs, 1, "structure report")
    methods = [m for m in options.names("methods", ["snip", "random"]) if m in report["methods"]]
    if not methods:
        raise ConfigError(f"none of the figure's methods is in {inputs[0]} (it has {sorted(report['methods'])})")
    level = options.text("level", "family")
    labels = report["labels"][level]
    styles = group_styles(list(labels.values()))
    fig = new_figure(3.6 * len(methods) + 1.6, 3.4)
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, method in zip(axes, methods):
        entry = report["methods"][method]
        _scatter_codes(ax, entry["umap"], labels, styles)
        ax.set_title(f"{METHOD_TITLES.get(method, method)}\n{_score_line(entry['levels'].get(level, {}))}")
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [axes[0].scatter([], [], color=c, marker=m, label=name) for name, (c, m) in styles.items()]
    fig.legend(handles=handles, title=level, loc="outside right center", frameon=False)
    fig.suptitle(f"Tickets projected with UMAP ({report['arch']}), coloured by language {level}")
    return fig


def _scatter_codes(ax: Any, coords: Mapping[str, Sequence[float]], labels: Mapping[str, str],
                   styles: Mapping[str, tuple[Any, str]]) -> None:
    size = codes_fontsize(len(coords))
    for lang, (x, y) in coords.items():
        c, marker = styles[labels[lang]]
        ax.scatter([x], [y], color=c, marker=marker, s=28, edgecolors="white", linewidths=0.4)
        ax.annotate(lang, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=size)
    ax.margins(0.15)


def draw_jaccard_heatmaps(inputs: list[Path], options: Options):
    """Jaccard between languages: one heatmap per layer (columns) and mask kind (rows), plus the whole ticket.

    Input: one overlap report. Option ``kinds``: rows to show (default all,mu_q,mu_v,mu_w).
    """
    (report,) = read_inputs(inputs, 1, "overlap report")
    kinds = options.names("kinds", ["all", "mu_q", "mu_v", "mu_w"])
    layers = sorted(report["layers"], key=_scope_order)
    known = sorted({kind for layer in layers for kind in report["layers"][layer]})
    unknown = [kind for kind in kinds if kind not in known]
    if unknown:
        raise ConfigError(f"{inputs[0]} has no mask kind {unknown}; choose from {', '.join(known)}")
    langs = report["languages"]
    cell = max(1.5, 0.12 * len(langs))
    fig = new_figure(cell * (len(layers) + 1) + 0.8, cell * len(kinds) + 0.6)
    axes = fig.subplots(len(kinds), len(layers) + 1, squeeze=False)
    image = None
    for row, kind in enumerate(kinds):
        for col, layer in enumerate(layers):
            block = report["layers"][layer].get(kind)
            if block is None:  # e.g. the embeddings of an LT-SFT have only 'all'
                axes[row, col].set_axis_off()
                continue
            name = f"layer {layer}" if layer.isdigit() else layer
            lowest = all(k not in report["layers"][layer] for k in kinds[row + 1:])  # codes under the lowest map
            image = _heatmap(axes[row, col], block, langs, f"{name} · {kind}", lowest, col == 0)
        last = axes[row, len(layers)]
        if kind == "all":
            _heatmap(last, report["ticket"], langs, report.get("whole", "whole ticket"), True, False)
        else:
            last.set_axis_off()
    fig.colorbar(image, ax=axes, shrink=0.6, label="Jaccard similarity")
    subject = report.get("subject", f"{report['method']} tickets")
    fig.suptitle(f"Overlap of {subject} between languages ({report['arch']})\n"
                 "J̄: mean over pairs; rand: random masks of the same densities" + _same_line(report))
    return fig


def _scope_order(scope: str) -> tuple[int, int, str]:
    """Embeddings first, then the layers by number, then anything else (an SFT's MLM head)."""
    if scope.isdigit():
        return (1, int(scope), scope)
    return (0 if scope == "embeddings" else 2, 0, scope)


def _same_line(report: Mapping[str, Any]) -> str:
    """A line 'same language, another seed: qaa 0.62' for the re-seeded languages of the report ('' if none)."""
    values = {lang: entry["ticket"]["all"]["jaccard"] for lang, entry in report.get("same_language", {}).items()}
    shown = ", ".join(f"{lang} {_num(value)}" for lang, value in values.items())
    return f"\nsame language, another seed: {shown}" if shown else ""


def _heatmap(ax: Any, block: Mapping[str, Any], langs: Sequence[str], title: str, xcodes: bool, ycodes: bool):
    matrix = np.array([[np.nan if v is None else v for v in row] for row in block["jaccard"]], dtype=float)
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest")
    mean, rand = block.get("mean_off_diagonal"), block.get("random_mean_off_diagonal")
    ax.set_title(f"{title}\nJ̄ {_num(mean)} · rand {_num(rand)}")
    size = codes_fontsize(len(langs))
    ax.set_xticks(range(len(langs)), langs if xcodes else [""] * len(langs), rotation=90, fontsize=size)
    ax.set_yticks(range(len(langs)), langs if ycodes else [""] * len(langs), fontsize=size)
    return image


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def draw_jaccard_layers(inputs: list[Path], options: Options):
    """Mean cross-language Jaccard per layer for each ticket method (solid), the random-mask expectation
    (dashed) and the same language searched again (dotted, where measured). Inputs: overlap reports.
    """
    reports = read_inputs(inputs, None, "overlap report")
    fig = new_figure(4.8, 3.2)
    ax = fig.subplots()
    methods = [r["method"] for r in reports]
    for report in reports:
        layers = sorted(report["layers"], key=int)
        x = [int(layer) for layer in layers]
        blocks = [report["layers"][layer]["all"] for layer in layers]
        c = colour(report["method"], methods)
        ax.plot(x, [_nan(b["mean_off_diagonal"]) for b in blocks], "-o", color=c, label=f"{report['method']}: between languages")
        ax.plot(x, [_nan(b["random_mean_off_diagonal"]) for b in blocks], "--", color=c, alpha=0.7,
                label=f"{report['method']}: random masks, same densities")
        same = [_same_mean(report, layer) for layer in layers]
        if any(np.isfinite(same)):
            ax.plot(x, same, ":s", color=c, label=f"{report['method']}: same language, new sample")
    ax.set_xlabel("layer")
    ax.set_ylabel("mean Jaccard (mu_q; mu_v; mu_w)")
    ax.set_xticks(sorted({int(layer) for r in reports for layer in r["layers"]}))
    ax.set_ylim(0, 1.02)
    ax.legend(loc="best", frameon=False)
    ax.set_title(f"Ticket overlap per layer ({reports[0]['arch'] if reports else ''})")
    return fig


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _same_mean(report: Mapping[str, Any], layer: str) -> float:
    values = [entry[layer]["all"]["jaccard"] for entry in report["same_language"].values()]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else np.nan

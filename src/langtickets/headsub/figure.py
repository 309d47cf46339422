"""The figure of per-language change against the full model (Choenni et al., Figure 1 and Table 2).

Left: for every target language (labelled with the fine-tuning language whose subnetwork it borrowed), the
relative LAS change of each subnetwork model against the full model of the same framework,
``100 x (LAS_model - LAS_full) / LAS_full``. Right: the distribution of those changes per model (the
paper's Figure 1 draws it as a density; with few targets a box plot with every point is more honest).
Input: the ``results.json`` files of ``headsub-train``; registered as ``headsub-change`` in
:data:`langtickets.figures.base.FIGURES`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langtickets.figures.base import MARKERS, Options, codes_fontsize, colour, new_figure, read_inputs


def relative_changes(report: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """``{variant: {target: % change against the framework's full model}}`` (every variant but full)."""
    results = report["results"]
    if "full" not in results:
        return {}
    full = {t: results["full"]["targets"][t]["las"] for t in report["targets"]}
    changes = {}
    for variant in report["variants"]:
        if variant != "full":
            las = {t: results[variant]["targets"][t]["las"] for t in report["targets"]}
            changes[variant] = {t: 100.0 * (las[t] - full[t]) / full[t] if full[t] else None for t in las}
    return changes


def _series(reports: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    return {f"{r['framework']}-{variant}": values for r in reports for variant, values in relative_changes(r).items()}


def draw_headsub_change(inputs: list[Path], options: Options):
    """Relative LAS change per target and its distribution per model (see the module docstring)."""
    reports = sorted(read_inputs(inputs, None, "head-subnetwork results"), key=lambda r: r["framework"] != "nonep")
    series = _series(reports)
    choices = reports[0]["similarity"]["targets"]
    targets = sorted(reports[0]["targets"], key=lambda t: (choices[t]["choice"], t))
    fig = new_figure(max(7.0, 0.45 * len(targets) + 5.0), 4.0)
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[max(4, len(targets)), max(3, len(series))])
    names = list(series)
    spread = 0.6 / max(1, len(names))
    for index, name in enumerate(names):
        x = [i + (index - (len(names) - 1) / 2) * spread for i in range(len(targets))]
        y = [series[name][t] for t in targets]
        left.scatter(x, [v if v is not None else float("nan") for v in y], color=colour(name, names),
                     marker=MARKERS[index % len(MARKERS)], s=14, label=name)  # fmt: skip
    left.axhline(0.0, color="#222222", linewidth=0.8)
    left.set_xticks(range(len(targets)), [f"{t}\n({choices[t]['choice']})" for t in targets],
                    fontsize=codes_fontsize(len(targets)))  # fmt: skip
    left.set_ylabel("LAS change vs full model (%)")
    left.set_title("per target (subnetwork's language)")
    if names:
        fig.legend(loc="outside lower center", frameon=False, fontsize=6, ncols=min(4, len(names)))
    _distribution(right, series, names)
    fig.suptitle(f"Few-shot LAS of subnetwork models relative to the full model ({len(targets)} targets)")
    return fig


def _distribution(ax: Any, series: Mapping[str, Mapping[str, float | None]], names: Sequence[str]) -> None:
    values = [[v for v in series[name].values() if v is not None] for name in names]
    if any(values):
        ax.boxplot([v or [float("nan")] for v in values], widths=0.5, showfliers=False)
    for index, (name, points) in enumerate(zip(names, values), start=1):
        ax.scatter([index] * len(points), points, color=colour(name, names), s=8, zorder=3)
    ax.axhline(0.0, color="#222222", linewidth=0.8)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=45, ha="right", fontsize=6)
    ax.set_title("distribution over targets")

"""The ci run's IMP subnetworks, transfer matrix and head analysis (workflow/rules/subnetworks.smk)."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from langtickets.analysis.weight_masks import WeightMasks


@pytest.fixture(scope="module")
def settings(ci_run):
    config = yaml.safe_load(ci_run.path("config/ci.yaml").read_text(encoding="utf-8"))
    return config["subnetworks"]


def imp_units(settings):
    return [(entry["task"], lang) for entry in settings["imp"]["tasks"] for lang in entry["langs"]]


def test_every_imp_unit_has_levels_masks_and_a_winning_ticket_test(ci_run, settings):
    imp = settings["imp"]
    model = imp.get("model", "dense")
    for task, lang in imp_units(settings):
        folder = ci_run.path(f"results/analysis/imp/{model}/{task}/{lang}")
        result = json.loads((folder / "imp.json").read_text())
        expected = [r * imp["rate"] for r in range(imp["rounds"] + 1)]
        assert [level["sparsity"] for level in result["levels"]] == pytest.approx(expected)
        assert all(len(level["runs"]) == imp["seeds"] for level in result["levels"] + result["random"])
        assert all(isinstance(level["winning"], bool) for level in result["levels"])
        assert result["higher_is_better"] is (task != "mlm")
        kept = None
        for level in result["levels"][1:]:
            masks = WeightMasks.load(folder / level["mask"])
            assert masks.pruned == int(level["sparsity"] * masks.total + 0.5) == level["pruned"]
            if kept is not None:  # IMP only removes weights
                assert all(not (masks.masks[k] & ~kept.masks[k]).any() for k in kept.masks)
            kept = masks
        for level in result["random"]:
            assert WeightMasks.load(folder / level["mask"]).pruned == level["pruned"]
        rows = list(csv.DictReader((folder / "imp.csv").open(encoding="utf-8")))
        assert len(rows) == imp["seeds"] * (imp["rounds"] + 1 + len(result["random"]))


def test_transfer_matrices_compare_each_source_with_the_targets_own_subnetwork(ci_run, settings):
    imp = settings["imp"]
    model = imp.get("model", "dense")
    multi = [(entry["task"], entry["langs"]) for entry in imp["tasks"] if len(entry["langs"]) > 1]
    assert multi, "the ci config should exercise at least one transfer matrix"
    for task, langs in multi:
        report = json.loads(ci_run.path(f"results/analysis/imp/{model}/{task}/transfer.json").read_text())
        for level in report["levels"]:
            assert level["rows"] == [*langs, "rand"] and level["cols"] == langs
            assert all(level["difference"][i][i] == 0.0 for i in range(len(langs)))
            for lang in langs:
                own = json.loads(ci_run.path(f"results/analysis/imp/{model}/{task}/{lang}/imp.json").read_text())
                same = next(x for x in own["levels"] if x["round"] == level["round"])
                assert level["own"][lang]["mean"] == same["mean"]
            assert set(level["relative"]) == {*langs, "rand"}
        rows = ci_run.path(f"results/analysis/imp/{model}/{task}/transfer.csv").read_text().splitlines()
        assert len(rows) == 1 + len(report["levels"]) * imp["seeds"] * len(langs) ** 2


def test_head_analysis_covers_every_unit_and_pair(ci_run, settings):
    heads = settings["heads"]
    units = [f"{entry['task']}/{lang}" for entry in heads["units"] for lang in entry["langs"]]
    report = json.loads(ci_run.path(f"results/analysis/heads/{heads.get('model', 'dense')}/heads.json").read_text())
    assert report["units"] == units and len(report["runs"]) == heads["seeds"]
    for unit in units:
        matrix = report["importance"][unit]
        assert len(matrix) == report["layers"] and all(len(row) == report["heads"] for row in matrix)
        assert all(abs(sum(x * x for x in row) - 1.0) < 1e-3 for row in matrix if any(row))  # per-layer L2 norm
    pairs = len(units) * (len(units) - 1) // 2
    assert len(report["dissociation"]) == len(heads["alphas"]) * pairs
    assert all(row["score"] == report["baseline"][row["unit"]] for row in report["curves"] if row["fraction"] == 0)


def test_subnetwork_figures_are_drawn(ci_run):
    for name in ("imp-sparsity", "imp-transfer", "head-importance", "head-pruning"):
        for ext in ("pdf", "png"):
            assert ci_run.path(f"results/figures/{name}.{ext}").stat().st_size > 1000

"""analysis.interference: uc per layer at a step (Figure 3) and the gc/uc stability series (Figure 2)."""

from __future__ import annotations

import csv
import json

import pytest

from langtickets.analysis.interference import main, pick_step, stability, uc_by_step, uc_layers
from langtickets.errors import InputError


def snapshot(step: int, means: dict[str, float | None], matrix_value: float | None = 0.5) -> dict:
    langs = ["qaa", "qab", "qac"]
    matrix = [[1.0, matrix_value, 0.4], [matrix_value, 1.0, 0.3], [0.4, 0.3, 1.0]]
    return {"step": step, "steps_per_language": {},
            "layers": {layer: {"languages": langs, "matrix": matrix, "mean_off_diagonal": mean}
                       for layer, mean in means.items()}}


def uc_file(variant: str, offset: float = 0.0) -> dict:
    return {"variant": variant, "languages": ["qaa", "qab", "qac"], "metric": "uc (Eq. 7)",
            "snapshots": [snapshot(10, {"0": 0.5 + offset, "1": 0.6 + offset, "10": 0.7 + offset}),
                          snapshot(20, {"0": 0.8 + offset, "1": 0.9 + offset, "10": None}, matrix_value=None)]}


def stability_file(gc: list, uc: list) -> dict:
    return {"interval_steps": 10, "languages": ["qaa", "qab", "qac"],
            "gc": {"steps": [20, 30], "relative_change": gc, "mean": 0}, "uc": {"steps": [20, 30], "relative_change": uc}}


def test_uc_per_layer_from_a_hand_made_uc_file():
    steps = uc_by_step(uc_file("dense"))
    assert sorted(steps) == [10, 20]
    assert steps[10] == {"layers": [0, 1, 10], "mean_uc": [0.5, 0.6, 0.7], "pairs": [3, 3, 3]}
    assert steps[20]["mean_uc"] == [0.8, 0.9, None] and steps[20]["pairs"] == [2, 2, 2]


def test_step_choice():
    assert pick_step([10, 20], "first", "x") == 10 and pick_step([10, 20], "last", "x") == 20
    assert pick_step([10, 20], 20, "x") == 20
    with pytest.raises(InputError, match="no uc snapshot at step 15"):
        pick_step([10, 20], 15, "uc.json")


def test_variants_side_by_side_at_the_configured_step():
    data = uc_layers({"dense": ("a.json", uc_file("dense")), "ticket-snip": ("b.json", uc_file("ticket-snip", 0.1))}, 10)
    assert data["order"] == ["dense", "ticket-snip"]
    assert data["variants"]["ticket-snip"]["mean_uc"] == pytest.approx([0.6, 0.7, 0.8])
    assert data["variants"]["dense"]["step"] == 10 and set(data["by_step"]["dense"]) == {"10", "20"}
    with pytest.raises(InputError, match="given for"):
        uc_layers({"dense": ("b.json", uc_file("ticket-snip"))}, 10)


def test_stability_series_and_means():
    data = stability({"dense": ("s.json", stability_file([2.0, 4.0], [0.1, None]))})
    entry = data["variants"]["dense"]
    assert entry["gc"]["mean"] == 3.0 and entry["uc"]["mean"] == 0.1, "the mean is recomputed over defined values"
    assert entry["gc_over_uc"] == pytest.approx(30.0)


def test_cli_writes_json_and_csv(tmp_path):
    for variant, offset in (("dense", 0.0), ("ticket-snip", 0.1)):
        folder = tmp_path / variant
        folder.mkdir()
        (folder / "uc.json").write_text(json.dumps(uc_file(variant, offset)))
        (folder / "stability.json").write_text(json.dumps(stability_file([1.0, 2.0], [0.2, 0.1])))
    out = tmp_path / "out"
    args = ["--variants", "dense", "ticket-snip", "--uc", str(tmp_path / "dense/uc.json"),
            str(tmp_path / "ticket-snip/uc.json"), "--stability", str(tmp_path / "dense/stability.json"),
            str(tmp_path / "ticket-snip/stability.json"), "--step", "last",
            "--out-uc-json", str(out / "uc.json"), "--out-uc-csv", str(out / "uc.csv"),
            "--out-stability-json", str(out / "st.json"), "--out-stability-csv", str(out / "st.csv")]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "uc.csv").open()))
    reported = [r for r in rows if r["reported"] == "True"]
    assert [r["step"] for r in reported] == ["20"] * 6
    assert [r["layer"] for r in rows[:3]] == ["0", "1", "10"]
    assert len(list(csv.DictReader((out / "st.csv").open()))) == 8

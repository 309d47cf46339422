"""Pieces of the SFT pipeline without training: budgets, batch order, renaming language SFTs, table layouts."""

from __future__ import annotations

import csv

import pytest
import torch

from langtickets.cli import main
from langtickets.errors import ConfigError, InputError
from langtickets.io import read_json, write_json
from langtickets.sft import SftInfo, SparseDiff, SparseFineTuning
from langtickets.sft.cli import Budget, format_density
from langtickets.sft.task_data import source_batch_order
from langtickets.sft.taskmodel import load_language_sft, load_task_sft


def test_budget_resolves_a_reduction_factor_against_the_model():
    assert Budget(reduction_factor=1).resolve(hidden=768, layers=12) == (14_155_776, None)  # footnote 4
    assert Budget(reduction_factor=2).resolve(hidden=32, layers=3) == (3072, None)
    assert Budget(density=0.05).resolve(32, 2) == (None, 0.05) and Budget(k=7).resolve(32, 2) == (7, None)
    with pytest.raises(ConfigError):
        Budget(k=5, density=0.1)
    with pytest.raises(ConfigError):
        Budget(density=1.5)
    assert [format_density(d) for d in (0.05, 1.0, 0.3)] == ["0.05", "1", "0.3"]


def test_multi_source_batches_hold_one_language_and_cover_each_epoch():
    order = source_batch_order({"qaa": 10, "qac": 5}, 4, 5, seed=3)
    assert len(order) == 5 and {lang for lang, _ in order} == {"qaa", "qac"}
    per_lang = {lang: sorted(i for l, batch in order for i in batch if l == lang) for lang in ("qaa", "qac")}
    assert per_lang == {"qaa": list(range(10)), "qac": list(range(5))}  # one epoch: every example once
    assert order == source_batch_order({"qaa": 10, "qac": 5}, 4, 5, seed=3)
    assert len(source_batch_order({"qaa": 3}, 2, 7, seed=1)) == 7  # more steps than an epoch: epochs repeat
    with pytest.raises(ConfigError):
        source_batch_order({"qaa": 0}, 2, 3, seed=1)


def _sft(diffs, kind, heads=None, notes=None):
    info = SftInfo(kind=kind, method="lt-sft", n_maskable=100, model_type="bert", notes=notes or {})
    return SparseFineTuning(diffs, heads or {}, info)


def _diff(*indices, optional=False):
    return SparseDiff(torch.tensor(indices), torch.ones(len(indices)), (10,), optional)


def test_language_sft_is_renamed_for_task_models_and_checked(tmp_path):
    sft = _sft({"bert.encoder.w": _diff(1, 3), "cls.predictions.bias": _diff(2, optional=True)}, "language",
               heads={"cls.predictions.transform.dense.bias": torch.zeros(4)}, notes={"encoder_prefix": "bert."})
    sft.save(tmp_path / "lang.safetensors")
    loaded = load_language_sft(tmp_path / "lang.safetensors")
    assert list(loaded.diffs) == ["encoder.encoder.w"] and loaded.heads == {} and loaded.k == 2
    _sft({"bert.x": _diff(1)}, "task", notes={"task": "pos"}).save(tmp_path / "task.safetensors")
    with pytest.raises(InputError, match="is a 'task' SFT, not a language SFT"):
        load_language_sft(tmp_path / "task.safetensors")
    with pytest.raises(InputError, match="task SFT for 'pos', not 'ner'"):
        load_task_sft(tmp_path / "task.safetensors", "ner")
    _sft({"other.w": _diff(1)}, "language").save(tmp_path / "odd.safetensors")
    with pytest.raises(InputError, match="outside the encoder"):
        load_language_sft(tmp_path / "odd.safetensors")


def _record(folder, model, task, method, composition, lang, run, scores, sources=("qaa",), **extra):
    metric = {"pos": "accuracy", "dep": "las"}[task]
    record = {"model": model, "task": task, "protocol": "sft-transfer", "lang": lang, "run": run, "metric": metric,
              "score": scores[metric], "metrics": scores, "method": method, "composition": composition,
              "sources": list(sources), **extra}  # fmt: skip
    tags = [model, task, method, composition, "+".join(sources), lang, run, *extra.values()]
    path = folder / f"{'-'.join(map(str, tags))}.json"
    write_json(path, record)
    return path


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_transfer_tables_have_methods_by_targets_and_a_summary(tmp_path):
    files = []
    for run, bump in ((0, 0.0), (1, 0.1)):
        for lang, base in (("qac", 0.5), ("qae", 0.7)):
            files.append(_record(tmp_path, "dense", "pos", "lt-sft", "composed", lang, run, {"accuracy": base + bump}))
            files.append(_record(tmp_path, "dense", "pos", "lt-sft", "task-only", lang, run, {"accuracy": base - 0.2}))
            files.append(_record(tmp_path, "dense", "dep", "lt-sft", "composed", lang, run, {"las": 0.3, "uas": 0.4},
                                 sources=("qaa", "qai")))  # fmt: skip
    assert main(["sft-table", "transfer", "--inputs", *map(str, files), "--out-dir", str(tmp_path / "t")]) == 0
    rows = _rows(tmp_path / "t" / "sft-dense-pos-accuracy.csv")
    assert [row["method"] for row in rows] == ["LT-SFT", "LT-SFT TA-only"]
    assert list(rows[0])[:4] == ["method", "runs", "qac", "qac_std"]
    assert float(rows[0]["qac"]) == pytest.approx(55.0) and float(rows[0]["avg"]) == pytest.approx(65.0)
    assert float(rows[0]["avg_std"]) == pytest.approx(7.0711, abs=1e-3) and float(rows[1]["avg_std"]) == 0.0
    assert _rows(tmp_path / "t" / "sft-dense-dep-uas.csv")[0]["method"] == "LT-SFT MS"
    summary = _rows(tmp_path / "t" / "sft-summary.csv")
    assert [(r["model"], r["method"]) for r in summary] == [("dense", "LT-SFT"), ("dense", "LT-SFT TA-only"),
                                                             ("dense", "LT-SFT MS")]  # fmt: skip
    assert summary[0]["dep_las"] == "" and float(summary[2]["dep_las"]) == pytest.approx(30.0)
    markdown = (tmp_path / "t" / "sft-dense-pos-accuracy.md").read_text()
    assert "| LT-SFT | 55.00 ± 7.07 | 75.00 ± 7.07 | 65.00 ± 7.07 |" in markdown


def test_density_grid_is_one_row_per_cell_and_a_markdown_grid(tmp_path):
    files = []
    for ld in (0.05, 1.0):
        for td in (0.3, 0.05):
            for lang in ("qac", "qae"):
                score = {"accuracy": ld / 2 + td}
                files.append(_record(tmp_path, "dense", "pos", "lt-sft", "composed", lang, 0, score,
                                     language_density=ld, task_density=td))  # fmt: skip
    assert main(["sft-table", "density", "--inputs", *map(str, files), "--out-dir", str(tmp_path / "t")]) == 0
    rows = _rows(tmp_path / "t" / "sft-density-dense-pos-accuracy.csv")
    assert [(r["language_density"], r["task_density"]) for r in rows] == [("0.05", "0.05"), ("0.05", "0.3"),
                                                                          ("1", "0.05"), ("1", "0.3")]  # fmt: skip
    assert float(rows[3]["avg"]) == pytest.approx(80.0) and rows[3]["runs"] == "1"
    grid = (tmp_path / "t" / "sft-density-dense-pos-accuracy.md").read_text()
    assert "| language \\ task | 0.05 | 0.3 |" in grid and "| 1 | 55.00 ± 0.00 | 80.00 ± 0.00 |" in grid


def test_tables_refuse_files_that_are_not_sft_metrics(tmp_path, capsys):
    write_json(tmp_path / "x.json", {"model": "dense", "task": "pos"})
    assert main(["sft-table", "transfer", "--inputs", str(tmp_path / "x.json"), "--out-dir", str(tmp_path / "t")]) == 2
    assert "is not an SFT metrics file" in capsys.readouterr().err and not (tmp_path / "t").exists()
    path = _record(tmp_path, "dense", "pos", "lt-sft", "composed", "qac", 0, {"accuracy": 0.5})
    assert main(["sft-table", "density", "--inputs", str(path), "--out-dir", str(tmp_path / "t")]) == 2
    assert "language_density" in capsys.readouterr().err
    assert read_json(path)["lang"] == "qac"

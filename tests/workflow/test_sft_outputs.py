"""What the SFT stage of the ci run leaves behind: language SFTs of exactly K entries, task SFTs, transfer
scores and the tables (Tables 2 and 5 layouts; the density grid when the ci config sweeps)."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from langtickets.sft import SparseFineTuning


@pytest.fixture(scope="module")
def sft_config(ci_run):
    config = yaml.safe_load(ci_run.path("config/ci.yaml").read_text())
    if not config.get("sft", {}).get("transfer"):
        pytest.skip("the ci config configures no SFT transfer")
    return config["sft"]


def expected_k(spec, model_dir) -> int:
    """K of a config budget (an integer or 'rf:R'; the ci config uses no densities) for a model folder."""
    arch = json.loads((model_dir / "config.json").read_text())
    text = str(spec)
    if text.startswith("rf:"):
        return round(2 * arch["num_hidden_layers"] * arch["hidden_size"] ** 2 / float(text[3:]))
    return int(text)


def entries(sft_config):
    for model in sft_config["models"]:
        for entry in sft_config["transfer"]:
            yield model, entry, entry.get("methods") or sft_config["methods"]


def test_language_sfts_have_exactly_k_non_zeros(ci_run, sft_config):
    for model, entry, methods in entries(sft_config):
        model_dir = ci_run.path(f"results/pretrain/{model}/model")
        for lang in {*entry["sources"], *entry["targets"]}:
            folder = ci_run.path(f"results/sft/{model}/language/{lang}")
            if "lt-sft" in methods:
                sft = SparseFineTuning.load(folder / "lt-sft.safetensors")
                nonzero = sum(int((diff.values != 0).sum()) for diff in sft.diffs.values())
                k = expected_k(sft_config["language"]["k"], model_dir)
                assert sft.k == nonzero == k, (model, lang)
                assert all(name.startswith("bert.") for name in sft.diffs)  # K is spent on the encoder
                info = json.loads((folder / "lt-sft.json").read_text())
                assert info["valid_loss"]["sft"] <= info["valid_loss"]["base"] + 1e-6, (model, lang)
                if (model_dir / "masks.safetensors").is_file() and sft_config.get("tickets", "language") == "language":
                    assert info["mask"] == lang
            if "bitfit" in methods:
                bitfit = SparseFineTuning.load(folder / "bitfit.safetensors")
                assert bitfit.k > 0 and all(name.endswith(".bias") for name in bitfit.diffs)


def test_task_sfts_and_transfer_scores(ci_run, sft_config):
    runs = range(sft_config.get("seeds", 1))
    for model, entry, methods in entries(sft_config):
        tag = "+".join(entry["sources"])
        k = expected_k(sft_config["task"]["k"], ci_run.path(f"results/pretrain/{model}/model"))
        for method in methods:
            for run in runs:
                task_dir = ci_run.path(f"results/sft/{model}/task/{entry['task']}/{tag}/{method}")
                record = json.loads((task_dir / f"seed{run}.json").read_text())
                assert record["sources"] == entry["sources"]
                if method in ("lt-sft", "rand-sft"):
                    assert record["k"] == k
                eval_dir = ci_run.path(f"results/sft/{model}/eval/{entry['task']}/{tag}/{method}/composed")
                for lang in entry["targets"]:
                    scored = json.loads((eval_dir / lang / f"seed{run}.json").read_text())
                    assert 0.0 <= scored["score"] <= 1.0 and scored["language_sft"]["k"] > 0
                    assert scored["protocol"] == "sft-transfer" and scored["test"]["words"] > 0


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_tables_list_every_method_with_scores_in_range(ci_run, sft_config):
    labels = {"lt-sft": "LT-SFT", "rand-sft": "RAND-SFT", "bitfit": "BitFit", "full": "Full FT"}
    for model, entry, methods in entries(sft_config):
        metric = {"pos": "accuracy", "dep": "las", "ner": "f1", "nli": "accuracy"}[entry["task"]]
        rows = _rows(ci_run.path(f"results/tables/sft-{model}-{entry['task']}-{metric}.csv"))
        task_only = sft_config.get("task_only", ["lt-sft"])
        wanted = [labels[m] for m in methods] + [labels[m] + " TA-only" for m in methods if m in task_only]
        assert [row["method"] for row in rows] == wanted
        for row in rows:
            assert all(0.0 <= float(row[lang]) <= 100.0 for lang in entry["targets"])
            assert 0.0 <= float(row["avg"]) <= 100.0
        assert ci_run.path(f"results/tables/sft-{model}-{entry['task']}-{metric}.md").read_text().count("|") > 10
    summary = _rows(ci_run.path("results/tables/sft-summary.csv"))
    assert summary and all(row["model"] in sft_config["models"] for row in summary)


def test_density_grid_when_the_ci_config_sweeps(ci_run, sft_config):
    sweep = sft_config.get("sweep", {})
    if not sweep.get("transfer"):
        pytest.skip("the ci config runs no density sweep")
    models = sweep.get("models") or sft_config["models"]
    for model in models:
        for entry in sweep["transfer"]:
            metric = {"pos": "accuracy", "dep": "las", "ner": "f1", "nli": "accuracy"}[entry["task"]]
            rows = _rows(ci_run.path(f"results/tables/sft-density-{model}-{entry['task']}-{metric}.csv"))
            assert len(rows) == len(sweep["language_densities"]) * len(sweep["task_densities"])
            assert all(0.0 <= float(row["avg"]) <= 100.0 for row in rows)

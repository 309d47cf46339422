"""The ci run's head subnetworks with meta-learning (workflow/rules/headsub.smk): masks, both frameworks'
results, Tables 1, 4 and 5 and the figure."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from langtickets.headsub.masks import LanguageMasks


@pytest.fixture(scope="module")
def settings(ci_run):
    if "headsub.smk" not in ci_run.path("Snakefile").read_text(encoding="utf-8"):
        pytest.skip("the Snakefile does not include workflow/rules/headsub.smk yet")
    return yaml.safe_load(ci_run.path("config/ci.yaml").read_text(encoding="utf-8"))["headsub"]


def folder(ci_run, settings):
    return ci_run.path(f"results/headsub/{settings.get('model', 'dense')}")


def test_every_fine_tuning_language_has_a_subnetwork_and_a_random_twin(ci_run, settings):
    sub = folder(ci_run, settings) / "subnetworks"
    heads = LanguageMasks.load(sub / "heads.safetensors")
    random = LanguageMasks.load(sub / "random.safetensors")
    record = json.loads((sub / "subnetworks.json").read_text())
    assert heads.languages == settings["languages"] == record["languages"]
    for lang in settings["languages"]:
        runs = record["subnetworks"][lang]["runs"]
        assert len(runs) == settings["pruning"]["seeds"]
        assert 0 <= heads.disabled(lang) < heads.total(lang)  # never every head
        assert heads.disabled(lang) <= min(run["heads"]["disabled"] for run in runs)  # the union over runs
        assert random.disabled(lang) == heads.disabled(lang)
        for run in runs:  # every step but a last rejected one was kept
            assert all(step["accepted"] for step in run["heads"]["trace"][:-1])
    assert (sub / "source" / "model.safetensors").is_file()
    if any(v.startswith("magnitude") for variants in settings["models"].values() for v in variants):
        assert LanguageMasks.load(sub / "magnitude.safetensors").kind == "weights"


def test_each_framework_scores_every_variant_on_every_target(ci_run, settings):
    langs = settings["languages"]
    for framework, variants in settings["models"].items():
        report = json.loads((folder(ci_run, settings) / framework / "results.json").read_text())
        assert report["variants"] == variants and report["targets"] == settings["targets"]
        for target in settings["targets"]:
            assert report["similarity"]["targets"][target]["choice"] in langs
        for variant in variants:
            result = report["results"][variant]
            assert all(0 <= result["targets"][t]["las"] <= 1 for t in settings["targets"])
            assert set(result["train_languages"]) == set(langs)
            pairs = len(langs) * (len(langs) - 1) // 2
            steps = settings["nonep"]["iterations"] if framework == "nonep" else settings["meta"]["episodes"]
            window = min(settings["conflicts_window"], steps)
            assert result["conflicts"]["pairs"] == pairs * window * settings["runs"]
            if variant == "dynamic":  # exactly the thresholded share of heads is off
                total = result["train_languages"][langs[0]]["total"]
                share = settings.get("dynamic", {}).get("drop_share", 0.2)
                assert all(result["train_languages"][lang]["disabled"] == int(share * total + 1e-9) for lang in langs)
        rows = list(csv.DictReader((folder(ci_run, settings) / framework / "scores.csv").open(encoding="utf-8")))
        assert len(rows) == len(variants) * len(settings["targets"]) * settings["runs"] * settings["fewshot"]["seeds"]


def test_tables_and_figure(ci_run, settings):
    models = [f"{framework}-{variant}" for framework in ("nonep", "meta")
              for variant in settings["models"].get(framework, [])]  # fmt: skip
    las = list(csv.DictReader(ci_run.path("results/tables/headsub-las.csv").open(encoding="utf-8")))
    assert [row["model"] for row in las] == models
    assert all(row["best_pct"] for row in las if row["variant"] in ("full", "static", "dynamic"))
    conflicts = list(csv.DictReader(ci_run.path("results/tables/headsub-conflicts.csv").open(encoding="utf-8")))
    assert [row["model"] for row in conflicts] == models
    heads = list(csv.DictReader(ci_run.path("results/tables/headsub-heads.csv").open(encoding="utf-8")))
    assert len(heads) == len(settings["models"]) * len(settings["languages"])
    for name in ("las", "heads", "conflicts"):
        assert ci_run.path(f"results/tables/headsub-{name}.md").read_text(encoding="utf-8").startswith("# ")
    for ext in ("pdf", "png"):
        assert ci_run.path(f"results/figures/headsub-change.{ext}").stat().st_size > 0

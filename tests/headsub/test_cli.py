"""The headsub stages end to end on a tiny model: subnetworks, both training frameworks, tables and the figure,
what their files hold, byte-identical reruns, and one-line errors for bad input."""

from __future__ import annotations

import csv
import json

import pytest

from langtickets.cli import main as cli
from langtickets.headsub.masks import LanguageMasks

RECIPE = ["--batch-size", "8", "--encoder-lr", "0.001", "--head-lr", "0.002", "--max-length", "32", "--arc-dim", "8",
          "--relation-dim", "8", "--eval-batch-size", "16", "--device", "cpu", "--threads", "1"]  # fmt: skip
LANGS, TARGETS = ["qac", "qae"], ["qai"]


def pairs(files, langs, split):
    return [f"--{split}", *(f"{lang}={files[lang][split]}" for lang in langs)]


def subnetworks(model_dir, ud_files, out, *extra):
    return cli(["headsub-subnetworks", "--model", str(model_dir), "--model-name", "tiny", "--source", "qaa",
                "--languages", *LANGS, *pairs(ud_files, ["qaa", *LANGS], "train"), *pairs(ud_files, LANGS, "dev"),
                "--seed", "5", "--runs", "0", "1", "--stage1-epochs", "1", "--prune-epochs", "1",
                "--importance-examples", "4", "--magnitude", "--magnitude-share", "0.5", *RECIPE, "--out-dir", str(out),
                *extra])  # fmt: skip


def train(sub, ud_files, framework, variants, out):
    return cli(["headsub-train", "--framework", framework, "--variants", *variants, "--model-name", "tiny",
                "--source-model", str(sub / "source"), "--heads", str(sub / "heads.safetensors"),
                "--random", str(sub / "random.safetensors"), "--magnitude", str(sub / "magnitude.safetensors"),
                "--languages", *LANGS, "--targets", *TARGETS, *pairs(ud_files, LANGS, "train"),
                *pairs(ud_files, LANGS + TARGETS, "test"), "--similarity", "uriel", "--iso3", "qac=ita", "qae=rus",
                "qai=por", "--seed", "5", "--iterations", "3", "--window", "2", "--episodes", "2", "--shots", "4",
                "--inner-steps", "2", "--drop-share", "0.25", "--fewshot-examples", "4", "--fewshot-updates", "2",
                "--fewshot-seeds", "0", "1", *RECIPE, "--json", str(out / "results.json"),
                "--csv", str(out / "scores.csv")])  # fmt: skip


@pytest.fixture
def finished(tmp_path, model_dir, ud_files):
    pytest.importorskip("lang2vec")
    sub = tmp_path / "sub"
    assert subnetworks(model_dir, ud_files, sub) == 0
    assert train(sub, ud_files, "nonep", ["full", "static", "dynamic", "random-static", "magnitude-dynamic"],
                 tmp_path / "nonep") == 0  # fmt: skip
    assert train(sub, ud_files, "meta", ["full", "dynamic"], tmp_path / "meta") == 0
    return tmp_path


def test_subnetworks_results_tables_and_figure(finished, tmp_path, model_dir, ud_files):
    sub = finished / "sub"
    heads = LanguageMasks.load(sub / "heads.safetensors")
    record = json.loads((sub / "subnetworks.json").read_text())
    assert heads.languages == LANGS and heads.kind == "heads"
    for lang in LANGS:
        runs = record["subnetworks"][lang]["runs"]
        assert [run["run"] for run in runs] == [0, 1] and all(run["heads"]["trace"][0]["disabled"] == 0 for run in runs)
        # the union over runs disables no more heads than any run did
        assert heads.disabled(lang) <= min(run["heads"]["disabled"] for run in runs)
        assert LanguageMasks.load(sub / "random.safetensors").disabled(lang) == heads.disabled(lang)
    assert LanguageMasks.load(sub / "magnitude.safetensors").kind == "weights"
    report = json.loads((finished / "nonep" / "results.json").read_text())
    assert report["similarity"]["targets"]["qai"]["choice"] == "qac"  # Portuguese borrows Italian's subnetwork
    dynamic = report["results"]["dynamic"]
    assert all(dynamic["train_languages"][lang]["disabled"] == 1 for lang in LANGS)  # 25% of 4 heads
    assert dynamic["targets"]["qai"]["mask_lang"] == "qac"
    assert report["results"]["full"]["targets"]["qai"]["mask_lang"] is None
    rows = list(csv.DictReader((finished / "nonep" / "scores.csv").open()))
    assert len(rows) == 5 * 2 and {row["shots_from"] for row in rows} == {"test"}
    tables = finished / "tables"
    outputs = [f"--{name}-{ext}" for name in ("las", "heads", "conflicts") for ext in ("csv", "md")]
    args = [x for flag in outputs for x in (flag, str(tables / flag[2:].replace("-", ".")))]
    assert cli(["headsub-table", "--inputs", str(finished / "meta/results.json"), str(finished / "nonep/results.json"),
                *args]) == 0  # fmt: skip
    las = list(csv.DictReader((tables / "las.csv").open()))
    assert [row["model"] for row in las] == ["nonep-full", "nonep-static", "nonep-dynamic", "nonep-random-static",
                                             "nonep-magnitude-dynamic", "meta-full", "meta-dynamic"]  # fmt: skip
    assert "qai (qac)" in las[0] and las[3]["best_pct"] == ""
    assert cli(["figure", "headsub-change", "--inputs", str(finished / "nonep/results.json"),
                str(finished / "meta/results.json"), "--png", str(tables / "change.png")]) == 0  # fmt: skip
    # reruns write the same bytes
    assert subnetworks(model_dir, ud_files, tmp_path / "again") == 0
    for name in ("heads.safetensors", "random.safetensors", "subnetworks.json"):
        assert (tmp_path / "again" / name).read_bytes() == (sub / name).read_bytes()
    assert train(sub, ud_files, "meta", ["full", "dynamic"], tmp_path / "meta-again") == 0
    for name in ("results.json", "scores.csv"):
        assert (tmp_path / "meta-again" / name).read_bytes() == (finished / "meta" / name).read_bytes()


def test_bad_input_is_one_line_naming_the_fix(tmp_path, model_dir, ud_files, capsys):
    no_dev = cli(["headsub-subnetworks", "--model", str(model_dir), "--model-name", "tiny", "--source", "qaa",
                  "--languages", "qac", *pairs(ud_files, ["qaa", "qac"], "train"), "--seed", "1",
                  "--out-dir", str(tmp_path / "x")])  # fmt: skip
    assert no_dev == 2 and "--dev qac=FILE" in capsys.readouterr().err
    (tmp_path / "broken.conllu").write_text("1\tword\n", encoding="utf-8")
    broken = subnetworks(model_dir, {**ud_files, "qac": {**ud_files["qac"], "dev": tmp_path / "broken.conllu"}},
                         tmp_path / "y")  # fmt: skip
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert broken == 2 and "broken.conllu" in message and not (tmp_path / "y").exists()

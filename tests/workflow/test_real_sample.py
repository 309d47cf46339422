"""The corpus stages on real Wikipedia dumps (config/real-sample.yaml, data from the shared data folder)."""

from __future__ import annotations

import gzip
import json

import pytest
import yaml

from .conftest import copy_checkout, failure_report, snakemake


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory, repo_root, shared_data):
    workdir = copy_checkout(repo_root, tmp_path_factory.mktemp("real-sample") / "checkout")
    langs = yaml.safe_load((workdir / "config/real-sample.yaml").read_text())["languages"]
    targets = [f"results/tokens/{lang}/meta.json" for lang in langs]
    run = snakemake(workdir, "--cores", "2", "--configfile", "config/real-sample.yaml",
                    "--config", f"data_dir={shared_data}", "--", *targets)
    if run.returncode != 0:
        pytest.fail(failure_report(run))
    return workdir, langs


def test_real_sample_covers_at_least_twenty_languages(real_corpus):
    _, langs = real_corpus
    assert len(langs) >= 20


def test_real_dumps_extract_split_and_tokenize(real_corpus):
    workdir, langs = real_corpus
    for lang in langs:
        stats = json.loads((workdir / f"results/corpus/{lang}/stats.json").read_text())
        assert stats["articles"] >= 1, lang
        split = json.loads((workdir / f"results/corpus/{lang}/split_stats.json").read_text())
        assert split["sentences"] > 5, lang
        meta = json.loads((workdir / f"results/tokens/{lang}/meta.json").read_text())
        assert meta["splits"]["train"]["tokens"] > 100, lang
        assert meta["unk_rate"] < 0.05, f"{lang}: the shared vocabulary should cover its text"


def test_languages_without_offline_models_fall_back_and_say_so(real_corpus):
    workdir, _ = real_corpus
    for lang in ("th", "he", "ar"):
        split = json.loads((workdir / f"results/corpus/{lang}/split_stats.json").read_text())
        assert split["splitter"] in {"stanza", "trankit"}
        assert split["fallback"] == "moses" and split["reason"], split


def test_scripts_survive_extraction(real_corpus):
    workdir, _ = real_corpus
    samples = {"ru": "\u0400", "ja": "\u3040", "zh": "\u4e00", "ar": "\u0600", "hi": "\u0900", "el": "\u0370"}
    for lang, block_start in samples.items():
        with gzip.open(workdir / f"results/corpus/{lang}/sentences.txt.gz", "rt", encoding="utf-8") as handle:
            text = handle.read()
        assert any(ord(ch) >> 8 == ord(block_start) >> 8 for ch in text), f"{lang}: script missing"

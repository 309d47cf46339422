"""config/real-sample.yaml on the shared data folder: the corpus stages on real Wikipedia dumps, then dense
fine-tuning and scoring on real task data (English-EWT POS and DP, MasakhaNER Hausa, Korean XNLI).

The fine-tuning run narrows the config to one seed, the dense model and a few targets (an overlay config
file, as a user would pass one); the task settings (updates, learning rate, data) are the config's own.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest
import yaml

from langtickets.languages import load_table
from langtickets.tasks.spec import load_split, spec_from_config

from .conftest import copy_checkout, failure_report, snakemake

CONFIG = "config/real-sample.yaml"
#: what the fine-tuning test runs on top of the real-sample config
TASKS_OVERLAY = {
    "tasks": {
        "models": ["dense"],
        "seeds": 1,
        "in_language": [{"task": "ner", "langs": ["ha"]}],
        "zero_shot": [
            {"task": "pos", "source": "en", "targets": ["en", "de"]},
            {"task": "dep", "source": "en", "targets": ["en", "de"]},
            {"task": "nli", "source": "ko", "targets": ["ko", "gn"]},
        ],
        "few_shot": {"k": 100, "updates": 50, "targets": []},
    }
}
TASK_TARGETS = [
    "results/eval/dense/ner/in-language/ha/timing.json",
    *(f"results/eval/dense/{task}/zero-shot/timing.json" for task in ("pos", "dep", "nli")),
]


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory, repo_root, shared_data):
    workdir = copy_checkout(repo_root, tmp_path_factory.mktemp("real-sample") / "checkout")
    langs = yaml.safe_load((workdir / CONFIG).read_text())["languages"]
    targets = [f"results/tokens/{lang}/meta.json" for lang in langs]
    run = snakemake(workdir, "--cores", "2", "--configfile", CONFIG,
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
        # most minidumps are one article: those hold out its last sentences rather than a document
        assert meta["splits"]["valid"]["tokens"] > 0, lang
        assert meta["validation_unit"] == ("documents" if stats["articles"] > 1 else "sentences"), lang


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


@pytest.fixture(scope="module")
def real_tasks(real_corpus, shared_data):
    """Pretrain the dense tiny model on the real sample, then fine-tune and score it (one seed)."""
    workdir, _ = real_corpus
    overlay = workdir / "tasks-overlay.yaml"
    overlay.write_text(yaml.safe_dump(TASKS_OVERLAY))
    run = snakemake(workdir, "--cores", "2", "--configfile", CONFIG, overlay.name,
                    "--config", f"data_dir={shared_data}", "--", *TASK_TARGETS)  # fmt: skip
    if run.returncode != 0:
        pytest.fail(failure_report(run))
    config = yaml.safe_load((workdir / CONFIG).read_text())
    table = load_table(workdir / config["languages_table"])
    return workdir, config["tasks"]["datasets"], {"data_dir": str(shared_data)}, table


def test_every_real_language_gets_a_validation_perplexity(real_tasks):
    workdir = real_tasks[0]
    report = json.loads((workdir / "results/pretrain/dense/perplexity.json").read_text())
    perplexity = {lang: entry["perplexity"] for lang, entry in report["languages"].items()}
    assert len(perplexity) >= 20 and all(value is not None and value > 1 for value in perplexity.values()), perplexity


def _score(workdir, task: str, protocol: str, lang: str) -> dict:
    record = json.loads((workdir / f"results/eval/dense/{task}/{protocol}/{lang}/seed0.json").read_text())
    assert record["task"] == task and record["lang"] == lang and record["protocol"] == protocol
    return record


def _test_split(real_tasks, task: str, lang: str) -> list:
    """The test split the workflow scored, read by the same loader ({iso3} from the language table)."""
    _, datasets, fields, table = real_tasks
    fields = {**fields, "iso3": table[lang].iso639_3, "name": table[lang].name}
    return load_split(spec_from_config(task, datasets[task], lang=lang, fields=fields), "test")


def test_pos_on_english_beats_the_majority_tag(real_tasks):
    workdir = real_tasks[0]
    tags = Counter(tag for sentence in _test_split(real_tasks, "pos", "en") for tag in sentence.tags)
    majority = max(tags.values()) / sum(tags.values())
    record = _score(workdir, "pos", "zero-shot", "en")
    assert record["metric"] == "accuracy" and record["score"] > majority + 0.2, (record["score"], majority)


def test_dependency_parsing_on_english_beats_random_trees(real_tasks):
    """Chance is a uniformly random head among a word's n possible heads (the other words and the root),
    with the most frequent relation for LAS."""
    workdir = real_tasks[0]
    sentences = _test_split(real_tasks, "dep", "en")
    words = sum(len(sentence.words) for sentence in sentences)
    chance_uas = len(sentences) / words  # each sentence's n words are each right with probability 1/n
    relations = Counter(rel for sentence in sentences for rel in sentence.deprels)
    chance_las = chance_uas * max(relations.values()) / words
    record = _score(workdir, "dep", "zero-shot", "en")
    assert record["metric"] == "las"
    assert record["metrics"]["uas"] > 2 * chance_uas, (record["metrics"], chance_uas)
    assert record["metrics"]["las"] > 5 * chance_las, (record["metrics"], chance_las)
    assert record["metrics"]["las"] <= record["metrics"]["uas"]


def test_masakhaner_in_language_finds_entities(real_tasks):
    """Tagging every word O, the majority baseline, scores an entity F1 of 0."""
    workdir = real_tasks[0]
    assert any(tag != "O" for sentence in _test_split(real_tasks, "ner", "ha") for tag in sentence.tags)
    record = _score(workdir, "ner", "in-language", "ha")
    assert record["metric"] == "f1" and record["score"] > 0.2, record["metrics"]
    assert record["metrics"]["precision"] > 0.2 and record["metrics"]["recall"] > 0.2


def test_nli_on_korean_beats_chance(real_tasks):
    """Three balanced labels: chance is 1/3, and three standard errors over the 1000 test pairs is 0.045."""
    workdir = real_tasks[0]
    pairs = _test_split(real_tasks, "nli", "ko")
    labels = Counter(pair.label for pair in pairs)
    majority = max(labels.values()) / len(pairs)
    stderr = (majority * (1 - majority) / len(pairs)) ** 0.5
    record = _score(workdir, "nli", "zero-shot", "ko")
    assert record["metric"] == "accuracy" and record["score"] > majority + 3 * stderr, (record["score"], majority)


def test_zero_shot_targets_are_scored_with_the_source_model(real_tasks):
    workdir = real_tasks[0]
    for task, target in (("pos", "de"), ("dep", "de"), ("nli", "gn")):
        record = _score(workdir, task, "zero-shot", target)
        assert 0 <= record["score"] <= 1 and record["pretrained"] == "results/pretrain/dense/model", record
        assert record["test"]["examples"] > 100, record["test"]
    assert not (workdir / "results/finetune/dense/pos/de").exists(), "zero-shot trains on the source only"

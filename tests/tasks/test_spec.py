"""Dataset specs: config entries per language, loading splits of every task, demo folders, config errors."""

from __future__ import annotations

from collections import Counter

import pytest
from datasets import Dataset

from langtickets.errors import ConfigError
from langtickets.tasks.records import NliPair, ParsedSentence, TaggedSentence
from langtickets.tasks.spec import DatasetSpec, demo_specs, load_split, spec_from_config

TASKS_CONFIG = {
    "ner": {"format": "masakhaner", "pattern": "{data_dir}/masakhaner/{lang}/{split}.txt",
            "splits": ["train", "test"], "repair_bio": True, "map_to_o": ["DATE"]},
    "dep": {"format": "conllu", "splits": {"test": "hf:universal_dependencies/{lang}_x:test"},
            "overrides": {"en": {"splits": {"dev": "{data_dir}/ud/UD_English-EWT/en_ewt-ud-dev.conllu"}}}},
    "nli": {"format": "americasnli", "pattern": "{data_dir}/americasnli/{split}/{lang}.tsv",
            "splits": ["dev"], "language": "{lang}"},
}  # fmt: skip


def test_config_entries_fill_placeholders_and_per_language_overrides(shared_data):
    fields = {"data_dir": str(shared_data)}
    ner = spec_from_config("ner", TASKS_CONFIG["ner"], lang="hau", fields=fields)
    assert ner.splits == {split: f"{shared_data}/masakhaner/hau/{split}.txt" for split in ("train", "test")}
    assert (ner.format, ner.repair_bio, ner.map_to_o) == ("masakhaner", True, ("DATE",))
    assert spec_from_config("dep", TASKS_CONFIG["dep"], lang="fr", fields=fields).splits == {
        "test": "hf:universal_dependencies/fr_x:test"
    }
    english = spec_from_config("dep", TASKS_CONFIG["dep"], lang="en", fields=fields)
    assert list(english.splits) == ["dev"]
    assert spec_from_config("nli", TASKS_CONFIG["nli"], lang="aym", fields=fields).language == "aym"


def test_load_split_gives_each_task_its_records(shared_data):
    fields = {"data_dir": str(shared_data)}
    counts = Counter()
    ner = load_split(spec_from_config("ner", TASKS_CONFIG["ner"], lang="hau", fields=fields), "test", counts=counts)
    assert isinstance(ner[0], TaggedSentence) and counts["mapped_to_o"] > 0
    assert not any(tag.endswith("DATE") for s in ner for tag in s.tags)
    nli = load_split(spec_from_config("nli", TASKS_CONFIG["nli"], lang="aym", fields=fields), "dev")
    assert len(nli) == 743 and isinstance(nli[0], NliPair)
    ewt = str(shared_data / "ud" / "UD_English-EWT" / "en_ewt-ud-dev.conllu")
    pos = load_split(DatasetSpec("pos", "conllu", {"dev": ewt}), "dev")
    dep = load_split(DatasetSpec("dep", "conllu", {"dev": ewt}), "dev")
    assert isinstance(pos[0], TaggedSentence) and isinstance(dep[0], ParsedSentence)
    assert pos[0] == dep[0].tagged()
    panx = DatasetSpec("ner", "panx", {"train": str(shared_data / "panx/hf_dummy_rahimi_format/am/train")},
                       language="am")  # fmt: skip
    assert load_split(panx, "train")[0].words[0] == "ግድም"


def test_hub_sources_go_through_the_loader(shared_data):
    rows = Dataset.from_dict({"tokens": [["a", "b"]], "upos": [["DET", "NOUN"]], "head": [["2", "0"]],
                              "deprel": [["det", "root"]]})  # fmt: skip
    spec = spec_from_config("dep", TASKS_CONFIG["dep"], lang="fr", fields={"data_dir": str(shared_data)})
    [sentence] = load_split(spec, "test", load_dataset=lambda name, config, split: rows)
    assert sentence.heads == (2, 0)


def test_demo_folder_specs_read_the_demo_formats(tmp_path):
    (tmp_path / "ud-train.conllu").write_text(
        "1\tbo\tbo\tNOUN\t_\t_\t2\tnsubj\t_\t_\n2\tka\tka\tVERB\t_\t_\t0\troot\t_\t_\n\n", encoding="utf-8"
    )
    (tmp_path / "ner-train.txt").write_text("Tamo B-PER\nka O\n\n", encoding="utf-8")
    (tmp_path / "nli-train.tsv").write_text(
        "language\tpremise\thypothesis\tlabel\nqaa\tbo ka\tbo\tentailment\n", encoding="utf-8"
    )
    specs = demo_specs(tmp_path)
    assert load_split(specs["pos"], "train") == [TaggedSentence(("bo", "ka"), ("NOUN", "VERB"))]
    assert load_split(specs["dep"], "train")[0].heads == (2, 0)
    assert load_split(specs["ner"], "train") == [TaggedSentence(("Tamo", "ka"), ("B-PER", "O"))]
    assert load_split(specs["nli"], "train") == [NliPair("bo ka", "bo", "entailment")]


@pytest.mark.parametrize(
    "task, entry, problem",
    [
        ("srl", {"format": "conllu", "splits": {"test": "x"}}, "unknown task 'srl'"),
        ("ner", {"format": "iob", "splits": {"test": "x"}}, "unknown format 'iob'"),
        ("ner", {"format": "conllu", "splits": {"test": "x"}}, "format 'conllu' cannot feed task 'ner'"),
        ("ner", {"format": "panx", "split": {"test": "x"}}, "unknown key(s) split"),
        ("ner", {"format": "panx", "splits": {"test": "{root}/x"}}, "cannot fill '{root}/x'"),
        ("ner", {"format": "panx", "splits": ["test"]}, "a list of splits needs a 'pattern'"),
        ("pos", {"format": "conllu", "splits": {"test": "x"}, "map_to_o": ["DATE"]}, "apply to NER only"),
        ("ner", {"format": "panx", "splits": {}}, "names no splits"),
        ("ner", {"format": "panx", "splits": {"t": "x"}, "overrides": {"de": {"formt": "bio"}}}, "overrides.de: formt"),
    ],
    ids=["task", "format", "format-task", "key", "placeholder", "list-no-pattern", "map-non-ner", "no-splits",
         "override-key"],
)  # fmt: skip
def test_bad_config_entries_are_config_errors(task, entry, problem):
    with pytest.raises(ConfigError) as caught:
        spec_from_config(task, entry, lang="de", fields={"data_dir": "/data"}, where="config/paper.yaml")
    assert problem in str(caught.value) and "config/paper.yaml" in str(caught.value)


def test_asking_for_a_split_the_spec_lacks(shared_data):
    spec = DatasetSpec("nli", "americasnli", {"dev": "x"}, name="config/config.yaml")
    with pytest.raises(ConfigError, match="has no split 'train' \\(it has: dev\\); add it under 'splits'"):
        load_split(spec, "train")

"""Hugging Face sources: parsing ``hf:`` strings and converting rows, with local in-memory datasets (no hub)."""

from __future__ import annotations

from collections import Counter

import pytest
from datasets import ClassLabel, Dataset, Features, List, Value

from langtickets.errors import InputError
from langtickets.tasks.hub import HubSource, parse_hub_source, read_hub
from langtickets.tasks.records import NLI_LABELS, UPOS_TAGS, NliPair, ParsedSentence, TaggedSentence

PANX_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def fake_hub(tables: dict):
    """A stand-in for datasets.load_dataset serving in-memory datasets by (name, config, split)."""
    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        return tables[(name, config, split)]

    load_dataset.calls = calls
    return load_dataset


def panx_split():
    features = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=PANX_NAMES)),
                         "langs": List(Value("string"))})  # fmt: skip
    rows = {"tokens": [["Paris", "is", "big"], ["Jean", "Dupont", "x"]], "ner_tags": [[5, 0, 0], [1, 2, 0]],
            "langs": [["fr"] * 3, ["fr"] * 3]}  # fmt: skip
    return Dataset.from_dict(rows, features=features)


def test_parse_hub_source():
    assert parse_hub_source("hf:google/xtreme/PAN-X.de:train") == HubSource("google/xtreme", "PAN-X.de", "train")
    assert parse_hub_source("hf:americas_nli/aym:validation") == HubSource("americas_nli", "aym", "validation")
    assert str(HubSource("xnli", "en", "test")) == "hf:xnli/en:test"
    for bad in ("hf:multi_nli:train", "hf:xtreme/PAN-X.de", "data/panx/train.txt"):
        with pytest.raises(InputError, match="write hf:<dataset>/<config>:<split>"):
            parse_hub_source(bad)


def test_panx_rows_become_iob2_sentences():
    hub = fake_hub({("google/xtreme", "PAN-X.fr", "train"): panx_split()})
    counts = Counter()
    sentences = read_hub("hf:google/xtreme/PAN-X.fr:train", "ner", counts=counts, load_dataset=hub)
    assert sentences == [TaggedSentence(("Paris", "is", "big"), ("B-LOC", "O", "O")),
                         TaggedSentence(("Jean", "Dupont", "x"), ("B-PER", "I-PER", "O"))]  # fmt: skip
    assert hub.calls == [("google/xtreme", "PAN-X.fr", "train")] and counts["sentences"] == 2


def test_default_loader_is_datasets_load_dataset(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fake_hub({("google/xtreme", "PAN-X.fr", "test"): panx_split()}))
    assert len(read_hub("hf:google/xtreme/PAN-X.fr:test", "ner", map_to_o={"PER"})) == 2


def test_hub_ner_rows_are_checked_like_files():
    features = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=PANX_NAMES))})
    bad = Dataset.from_dict({"tokens": [["a", "b"], ["c"]], "ner_tags": [[0, 0], [2]]}, features=features)
    hub = fake_hub({("masakhane/masakhaner", "hau", "test"): bad})
    with pytest.raises(InputError, match=r"^hf:masakhane/masakhaner/hau:test:1: 'I-PER' follows the start"):
        read_hub("hf:masakhane/masakhaner/hau:test", "ner", load_dataset=hub)
    [_, repaired] = read_hub("hf:masakhane/masakhaner/hau:test", "ner", repair_bio=True, load_dataset=hub)
    assert repaired.tags == ("B-PER",)


def test_xtreme_udpos_and_universal_dependencies_rows():
    udpos = Dataset.from_dict(
        {"tokens": [["The", "cat"]], "pos_tags": [[UPOS_TAGS.index("DET"), UPOS_TAGS.index("NOUN")]]},
        features=Features({"tokens": List(Value("string")), "pos_tags": List(ClassLabel(names=list(UPOS_TAGS)))}),
    )  # fmt: skip
    ud = Dataset.from_dict({"tokens": [["The", "cat", "sat"]], "upos": [["DET", "NOUN", "VERB"]],
                            "head": [["2", "3", "0"]], "deprel": [["det", "nsubj", "root"]]})  # fmt: skip
    hub = fake_hub({("google/xtreme", "udpos.English", "test"): udpos, ("universal_dependencies", "en_ewt", "test"): ud})
    assert read_hub("hf:google/xtreme/udpos.English:test", "pos", load_dataset=hub) == [
        TaggedSentence(("The", "cat"), ("DET", "NOUN"))
    ]
    assert read_hub("hf:universal_dependencies/en_ewt:test", "dep", load_dataset=hub) == [
        ParsedSentence(("The", "cat", "sat"), ("DET", "NOUN", "VERB"), (2, 3, 0), ("det", "nsubj", "root"))
    ]
    # a conversion that kept the multiword token "du" (UPOS "_", head None) before its words "de" "le"
    french = Dataset.from_dict({"tokens": [["du", "de", "le", "chat"]], "upos": [["_", "ADP", "DET", "NOUN"]],
                                "head": [["None", "3", "3", "0"]], "deprel": [["_", "case", "det", "root"]]})  # fmt: skip
    counts = Counter()
    [sentence] = read_hub("hf:universal_dependencies/fr_gsd:test", "dep", counts=counts,
                          load_dataset=fake_hub({("universal_dependencies", "fr_gsd", "test"): french}))  # fmt: skip
    assert sentence.words == ("de", "le", "chat") and sentence.heads == (3, 3, 0)
    assert counts["multiword_tokens"] == 1
    [tags] = read_hub("hf:universal_dependencies/fr_gsd:test", "pos",
                      load_dataset=fake_hub({("universal_dependencies", "fr_gsd", "test"): french}))  # fmt: skip
    assert tags == TaggedSentence(("de", "le", "chat"), ("ADP", "DET", "NOUN"))
    cyclic = Dataset.from_dict({"tokens": [["a", "b"]], "upos": [["X", "X"]], "head": [["2", "1"]],
                                "deprel": [["dep", "dep"]]})  # fmt: skip
    with pytest.raises(InputError, match="no word has head 0"):
        read_hub("hf:universal_dependencies/xx:test", "dep", load_dataset=fake_hub({("universal_dependencies", "xx", "test"): cyclic}))


def test_nli_rows_with_class_labels_and_unlabelled_rows():
    features = Features({"premise": Value("string"), "hypothesis": Value("string"),
                         "label": ClassLabel(names=list(NLI_LABELS))})  # fmt: skip
    data = Dataset.from_dict({"premise": ["p1", "p2", "p3"], "hypothesis": ["h1", "h2", "h3"], "label": [2, -1, 0]},
                             features=features)  # fmt: skip
    counts = Counter()
    pairs = read_hub("hf:nyu-mll/multi_nli/default:train", "nli", counts=counts,
                     load_dataset=fake_hub({("nyu-mll/multi_nli", "default", "train"): data}))  # fmt: skip
    assert pairs == [NliPair("p1", "h1", "contradiction"), NliPair("p3", "h3", "entailment")]
    assert counts["skipped_no_gold_label"] == 1


def test_missing_column_and_unreachable_hub_are_one_line_errors():
    hub = fake_hub({("google/xtreme", "PAN-X.fr", "train"): panx_split()})
    with pytest.raises(InputError, match=r":0: the row has no 'upos' column"):
        read_hub("hf:google/xtreme/PAN-X.fr:train", "pos", load_dataset=hub)

    def offline(name, config, split):
        raise ConnectionError("Couldn't reach 'no/such' on the Hub (OfflineModeIsEnabled)\nmore detail")

    with pytest.raises(InputError) as caught:
        read_hub("hf:no/such/xx:train", "ner", load_dataset=offline)
    assert str(caught.value).startswith("hf:no/such/xx:train: cannot load the dataset (Couldn't reach")
    assert "\n" not in str(caught.value)

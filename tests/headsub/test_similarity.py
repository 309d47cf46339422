"""Which fine-tuning language's subnetwork a target borrows: URIEL syntax_knn (lang2vec's real data) for real
languages, the grammar's typology and family tree for demo languages."""

from __future__ import annotations

import pytest

from langtickets.errors import ConfigError
from langtickets.headsub.similarity import choose_languages, transfer_choices

# fine-tuning languages like the paper's (Table 6) and targets whose closest one is clear-cut in lang2vec
ISO3 = {"it": "ita", "cs": "ces", "ru": "rus", "ar": "ara", "hi": "hin", "et": "est", "no": "nob",
        "pt": "por", "ca": "cat", "es": "spa", "mt": "mlt", "fi": "fin", "mr": "mar", "da": "dan"}  # fmt: skip


@pytest.fixture(scope="module")
def uriel():
    pytest.importorskip("lang2vec")

    def choose(targets, candidates):
        result = transfer_choices("uriel", targets, candidates, iso3=ISO3)
        return {target: entry["choice"] for target, entry in result["targets"].items()}

    return choose


def test_romance_targets_pick_the_romance_language_over_slavic_ones(uriel):
    assert uriel(["pt", "ca", "es"], ["cs", "it", "ru"]) == {"pt": "it", "ca": "it", "es": "it"}


def test_known_pairs_follow_syntax(uriel):
    chosen = uriel(["mt", "fi", "mr", "da"], ["ar", "cs", "et", "hi", "it", "no", "ru"])
    assert chosen == {"mt": "ar", "fi": "et", "mr": "hi", "da": "no"}


def test_a_language_without_uriel_data_is_a_config_error():
    pytest.importorskip("lang2vec")
    with pytest.raises(ConfigError, match="qqq"):
        transfer_choices("uriel", ["xx"], ["it"], iso3={"xx": "qqq", "it": "ita"})


def test_demo_languages_pick_their_family_then_their_genus(repo_root):
    table = repo_root / "config" / "demo-languages.tsv"
    result = transfer_choices("demo", ["qab", "qad", "qag", "qak"], ["qac", "qaa", "qae", "qai"], table_path=table,
                              seed=1234)  # fmt: skip
    chosen = {target: entry["choice"] for target, entry in result["targets"].items()}
    # qab shares qaa's genus (West Aralic), qad shares qac's (East Aralic); the others go by family typology
    assert chosen == {"qab": "qaa", "qad": "qac", "qag": "qae", "qak": "qai"}
    assert result["targets"]["qab"]["similarity"]["qac"] == 1.0  # one typology per family
    assert result["targets"]["qag"]["similarity"]["qai"] < 1.0


def test_exact_ties_go_to_the_first_listed_language():
    import numpy as np

    vectors = {"t": np.array([1.0, 0.0]), "a": np.array([2.0, 0.0]), "b": np.array([1.0, 0.0])}
    assert choose_languages(["t"], ["b", "a"], vectors)["t"]["choice"] == "b"

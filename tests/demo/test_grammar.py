"""Relatedness is real in the generated text: sisters share more than cousins, cousins more than strangers."""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter
from statistics import mean

import pytest

from langtickets.demo.grammar import build_grammar
from langtickets.demo.parallel import parallel_sentences
from langtickets.demo.phonology import SoundChange, evolve
from langtickets.errors import ConfigError
from langtickets.languages import load_table

from .conftest import SEED

SENTENCES = 300


@pytest.fixture(scope="module")
def texts(grammars) -> dict[str, str]:
    return {code: " ".join(parallel_sentences(grammar, SEED, SENTENCES)) for code, grammar in grammars.items()}


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _trigrams(text: str) -> set[str]:
    return {f" {word} "[i : i + 3] for word in _words(text) for i in range(len(word))}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def _by_relation(demo_table, texts, features) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {"genus": [], "family": [], "unrelated": []}
    for a, b in itertools.combinations(demo_table.codes, 2):
        row_a, row_b = demo_table[a], demo_table[b]
        relation = "genus" if row_a.genus == row_b.genus else "family" if row_a.family == row_b.family else "unrelated"
        groups[relation].append(_jaccard(features(texts[a]), features(texts[b])))
    return groups


@pytest.mark.parametrize("features", [_words, _trigrams], ids=["word-types", "char-trigrams"])
def test_overlap_orders_genus_over_family_over_unrelated(demo_table, texts, features):
    groups = _by_relation(demo_table, texts, features)
    means = {relation: mean(values) for relation, values in groups.items()}
    print(f"{features.__name__}: " + " ".join(f"{k}={v:.3f}" for k, v in means.items()))
    assert means["genus"] > means["family"] > means["unrelated"]
    # Not only on average: every pair of sisters beats every pair from different families.
    assert min(groups["genus"]) > max(groups["unrelated"])


def test_sister_languages_differ(texts):
    assert texts["qaa"] != texts["qab"] and texts["qae"] != texts["qaf"]


def test_families_differ_in_word_order_and_affixation(grammars):
    typologies = [grammars[code].typology for code in ("qaa", "qae", "qai")]
    assert {t.order for t in typologies} == {"SVO", "SOV", "VSO"}
    assert {t.affixation for t in typologies} == {"suffix", "prefix"}
    assert grammars["qaa"].typology == grammars["qad"].typology  # shared within a family


def test_word_frequencies_are_zipfian(texts):
    # log frequency against log rank falls with a slope near -1 over the middle ranks (Zipf's law).
    frequencies = sorted(Counter(re.findall(r"\w+", texts["qag"].lower())).values(), reverse=True)
    points = [(math.log(rank), math.log(freq)) for rank, freq in enumerate(frequencies, start=1) if 10 <= rank <= 300]
    mean_x, mean_y = mean(x for x, _ in points), mean(y for _, y in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    assert -1.6 < slope < -0.6


def test_cyrillic_family_is_written_in_cyrillic(demo_table, texts):
    for code in demo_table.codes:
        letters = {ch for ch in texts[code] if ch.isalpha()}
        scripts = {unicodedata.name(ch).split()[0] for ch in letters}
        assert scripts == ({"CYRILLIC"} if demo_table[code].script == "Cyrl" else {"LATIN"}), code


def test_cognates_follow_regular_sound_changes(grammars):
    # Same concept, same family: sisters' forms come from one proto-form through the listed changes.
    qaa, qab = grammars["qaa"], grammars["qab"]
    assert qaa.proto is qab.proto
    assert qaa.changes[:3] == qab.changes[:3]  # the genus's changes are shared
    proto = qaa.proto.words["verb"][0]
    assert qaa.word("verb", 0) == qaa._surface(proto, False)
    assert evolve("pata", (SoundChange("lenition t>d", "(?<=[a])t(?=[a])", "d"),)) == "pada"


def test_unsupported_script_is_a_config_error(tmp_path, demo_table_path):
    text = demo_table_path.read_text(encoding="utf-8").replace("\tCyrl\t", "\tArab\t", 1)
    table = tmp_path / "languages.tsv"
    table.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="script 'Arab'.*Latn"):
        build_grammar(load_table(table), "qae", SEED)

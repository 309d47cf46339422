"""overlap: Jaccard of tickets per layer and kind, the random-mask expectation, the re-seeded SNIP bound."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch

from langtickets.analysis.overlap import (
    approximate_random_jaccard,
    check_reproduces,
    expected_random_jaccard,
    jaccard_by_layer,
    jaccard_matrix,
    main,
    overlap_report,
    reseeded_ticket,
)
from langtickets.errors import InputError
from langtickets.masks import KINDS, TicketMasks, TicketShape
from langtickets.tickets import random_scores, save_scores, select_tickets

SHAPE = TicketShape(layers=2, hidden=4, intermediate=8, heads=2)
LANGS = ("lat", "cyr", "han")


def hand_masks() -> TicketMasks:
    """Known masks: 'lat' and 'cyr' share half their units, 'han' is the complement of 'lat'."""
    lat = {"mu_q": [1, 1, 0, 0], "mu_v": [1, 1, 1, 1], "mu_w": [1, 1, 1, 1, 0, 0, 0, 0]}
    cyr = {"mu_q": [1, 0, 1, 0], "mu_v": [1, 1, 1, 1], "mu_w": [0, 0, 1, 1, 1, 1, 0, 0]}
    masks = {}
    for layer in range(SHAPE.layers):
        for kind in KINDS:
            rows = [lat[kind], cyr[kind], [1 - x for x in lat[kind]]]
            masks[f"layer.{layer}.{kind}"] = torch.tensor(rows, dtype=torch.bool)
    return TicketMasks(LANGS, masks, SHAPE, "snip", {"name": "scaled"})


def test_jaccard_of_known_masks():
    matrix = jaccard_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 1, 1]], dtype=bool))
    assert matrix[0, 1] == pytest.approx(1 / 3)
    assert matrix[0, 0] == 1.0 and matrix[0, 3] == 0.0 and matrix[0, 2] == 0.0
    assert math.isnan(matrix[2, 2]), "two empty masks have no Jaccard"


def test_jaccard_by_layer_per_kind_layer_and_whole_ticket():
    result = jaccard_by_layer(hand_masks())
    assert set(result) == {"0", "1", "ticket"}
    layer = result["0"]
    assert layer["mu_q"][0, 1] == pytest.approx(1 / 3)
    assert layer["mu_v"][0, 1] == 1.0
    assert layer["mu_w"][0, 1] == pytest.approx(2 / 6)
    # the layer's 16 units together: shared 1 + 4 + 2 = 7 of union 3 + 4 + 6 = 13
    assert layer["all"][0, 1] == pytest.approx(7 / 13)
    assert layer["mu_w"][0, 2] == 0.0 and math.isnan(layer["mu_v"][2, 2])
    assert result["ticket"]["all"][0, 1] == pytest.approx(14 / 26)


def test_random_expectation_is_exact_on_a_small_case():
    n, ka, kb = 6, 2, 3
    subsets_a = list(itertools.combinations(range(n), ka))
    subsets_b = list(itertools.combinations(range(n), kb))
    exact = np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a in subsets_a for b in subsets_b])
    assert expected_random_jaccard([(n, ka, kb)]) == pytest.approx(exact, abs=1e-12)
    assert math.isnan(expected_random_jaccard([(4, 0, 0)]))
    assert expected_random_jaccard([(4, 4, 4)]) == 1.0


def test_random_expectation_matches_simulation_over_several_groups():
    groups = [(16, 10, 12), (16, 5, 9), (48, 30, 24)]
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(20000):
        inter = union = 0
        for units, ka, kb in groups:
            a = np.zeros(units, bool)
            b = np.zeros(units, bool)
            a[rng.choice(units, ka, replace=False)] = True
            b[rng.choice(units, kb, replace=False)] = True
            inter, union = inter + int((a & b).sum()), union + int((a | b).sum())
        draws.append(inter / union)
    standard_error = np.std(draws) / math.sqrt(len(draws))
    assert expected_random_jaccard(groups) == pytest.approx(np.mean(draws), abs=4 * standard_error)


def test_random_expectation_tends_to_the_density_formula():
    assert expected_random_jaccard([(3072, 1536, 1536)]) == pytest.approx(1 / 3, abs=1e-3)
    assert expected_random_jaccard([(3072, 2304, 1843)]) == pytest.approx(
        approximate_random_jaccard(0.75, 1843 / 3072), abs=1e-3
    )
    # small layers differ visibly from the formula (a ratio of expectations): the exact value matters there
    assert expected_random_jaccard([(8, 4, 4)]) == pytest.approx(0.35551, abs=1e-4)


def test_report_puts_random_tickets_at_their_expectation():
    shape = TicketShape(layers=2, hidden=64, intermediate=128, heads=4)
    langs = [f"l{i}" for i in range(5)]
    masks = select_tickets({lang: random_scores(shape, 3, lang) for lang in langs}, 0.6, shape, method="random")
    report = overlap_report(masks)
    ticket = report["ticket"]
    assert ticket["mean_off_diagonal"] == pytest.approx(ticket["random_mean_off_diagonal"], abs=0.02)
    assert report["same_language"] == {}
    assert len(report["layers"]["1"]["mu_w"]["jaccard"]) == 5


def scored_masks():
    scores = {lang: random_scores(SHAPE, 7, lang) for lang in LANGS}
    return scores, select_tickets(scores, 0.6, SHAPE, method="snip", arch={"name": "scaled"})


def test_reseeded_ticket_with_the_same_scores_is_the_same_ticket():
    scores, masks = scored_masks()
    again = reseeded_ticket(masks, scores, "cyr", scores["cyr"], "kind")
    assert all(np.array_equal(again[key], masks.for_language("cyr")[key].numpy()) for key in again)
    other = reseeded_ticket(masks, scores, "cyr", random_scores(SHAPE, 99, "cyr"), "kind")
    report = overlap_report(masks, {"cyr": other})
    same = report["same_language"]["cyr"]["ticket"]["all"]
    assert 0 < same["jaccard"] < 1 and same["random_expectation"] < 1


def test_wrong_normalisation_is_caught():
    scores, masks = scored_masks()
    check_reproduces(masks, scores, "kind")
    with pytest.raises(InputError, match="do not reproduce"):
        check_reproduces(masks, {lang: {k: v * (i + 1) for k, v in s.items()} for i, (lang, s) in
                                 enumerate(scores.items())}, "none")


def test_cli_writes_json_and_csv_with_the_same_language_bound(tmp_path):
    scores, masks = scored_masks()
    masks.save(tmp_path / "masks.safetensors")
    meta = {"method": "snip", "arch": {"layers": 2}, "arch_name": "scaled"}
    paths = []
    for lang in LANGS:
        save_scores(scores[lang], tmp_path / f"{lang}.safetensors", {**meta, "lang": lang})
        paths.append(str(tmp_path / f"{lang}.safetensors"))
    save_scores(random_scores(SHAPE, 5, "lat"), tmp_path / "reseed-lat.safetensors", {**meta, "lang": "lat"})
    out_json, out_csv = tmp_path / "out" / "snip.json", tmp_path / "out" / "snip.csv"
    assert main(["--masks", str(tmp_path / "masks.safetensors"), "--scores", *paths,
                 "--reseed-scores", str(tmp_path / "reseed-lat.safetensors"),
                 "--out-json", str(out_json), "--out-csv", str(out_csv)]) == 0
    report = json.loads(out_json.read_text())
    assert report["languages"] == list(LANGS) and list(report["same_language"]) == ["lat"]
    rows = list(csv.DictReader(out_csv.open()))
    cross = [r for r in rows if r["comparison"] == "cross-language" and r["scope"] == "ticket"]
    assert len(cross) == 3  # pairs of 3 languages
    assert any(r["comparison"] == "same-language-reseed" and r["lang_a"] == "lat" for r in rows)

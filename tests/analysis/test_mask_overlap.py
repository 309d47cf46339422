"""Overlap of IMP masks and LT-SFT language SFTs on hand-built selections with known Jaccard."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch

from langtickets.analysis.mask_overlap import (
    IndexSets,
    from_sft,
    from_weight_masks,
    main,
    mask_overlap_report,
    scope_of,
)
from langtickets.analysis.overlap import _convolve, approximate_random_jaccard, expected_random_jaccard
from langtickets.analysis.weight_masks import WeightMasks
from langtickets.errors import ConfigError, InputError
from langtickets.sft.sparse import SftInfo, SparseDiff, SparseFineTuning

Q0, W1 = "layer.0.attention.self.query.weight", "layer.0.intermediate.dense.weight"
Q1 = "layer.1.attention.self.query.weight"


def weight_masks(kept: dict[str, list[int]], sparsity: float = 0.5) -> WeightMasks:
    """2x2 masks per key keeping the listed flat positions."""
    masks = {}
    for key in (Q0, W1, Q1):
        flat = torch.zeros(4, dtype=torch.bool)
        flat[kept.get(key, [])] = True
        masks[key] = flat.view(2, 2)
    return WeightMasks(masks, {"name": "round01", "sparsity": sparsity})


def brute_force_jaccard(units: int, kept_a: int, kept_b: int) -> float:
    """E[J] over every pair of kept_a- and kept_b-subsets of ``units`` units."""
    subsets_a, subsets_b = (list(itertools.combinations(range(units), k)) for k in (kept_a, kept_b))
    values = [len(set(a) & set(b)) / len(set(a) | set(b)) for a in subsets_a for b in subsets_b]
    return sum(values) / len(values)


def test_imp_masks_give_the_jaccard_of_their_kept_weights_per_layer_and_kind():
    qaa = from_weight_masks(weight_masks({Q0: [0, 1], W1: [0, 1, 2], Q1: [3]}))
    qac = from_weight_masks(weight_masks({Q0: [1, 2], W1: [0, 1, 2], Q1: []}))
    report = mask_overlap_report("imp", "dense", {"qaa": qaa, "qac": qac})
    layer0 = report["layers"]["0"]
    assert sorted(report["layers"]) == ["0", "1"] and sorted(layer0) == ["all", "attention", "ffn"]
    assert layer0["attention"]["jaccard"][0][1] == pytest.approx(1 / 3)  # {0,1} vs {1,2}
    assert layer0["ffn"]["jaccard"][0][1] == pytest.approx(1.0)
    assert layer0["all"]["jaccard"][0][1] == pytest.approx(4 / 6)  # 1 + 3 shared of 3 + 3 in either
    assert report["layers"]["1"]["all"]["jaccard"][0][1] == 0.0
    assert report["ticket"]["jaccard"][0][1] == pytest.approx(4 / 7)
    assert report["ticket"]["jaccard"][0][0] == 1.0
    assert report["density"] == {"qaa": pytest.approx(6 / 12), "qac": pytest.approx(5 / 12)}


def test_random_expectation_is_exact_for_the_same_densities():
    qaa = from_weight_masks(weight_masks({Q0: [0, 1], W1: [0, 1, 2], Q1: [3]}))
    qac = from_weight_masks(weight_masks({Q0: [1, 2], W1: [0, 3], Q1: [0, 1]}))
    report = mask_overlap_report("imp", "dense", {"qaa": qaa, "qac": qac})
    assert report["layers"]["0"]["attention"]["random_expectation"][0][1] == pytest.approx(brute_force_jaccard(4, 2, 2))
    assert report["layers"]["1"]["all"]["random_expectation"][0][1] == pytest.approx(brute_force_jaccard(4, 1, 2))
    assert brute_force_jaccard(8, 4, 4) == pytest.approx(expected_random_jaccard([(8, 4, 4)]))
    assert expected_random_jaccard([(8, 4, 4)]) == pytest.approx(0.356, abs=5e-4)


def test_long_pmfs_convolve_by_fft_to_the_same_distribution():
    rng = np.random.default_rng(0)
    a, b = rng.random(300), rng.random(500)
    np.testing.assert_allclose(_convolve(a, b), np.convolve(a, b), rtol=1e-10, atol=1e-12)
    # a BERT-size matrix at 50% density: the exact value tends to d^2 / (2d - d^2) = 1/3
    big = expected_random_jaccard([(589_824, 294_912, 294_912)] * 6)
    assert big == pytest.approx(approximate_random_jaccard(0.5, 0.5), abs=1e-5)


def test_same_language_reseed_is_reported_beside_the_cross_language_blocks():
    qaa = from_weight_masks(weight_masks({Q0: [0, 1], W1: [0, 1], Q1: [0, 1]}))
    qac = from_weight_masks(weight_masks({Q0: [2, 3], W1: [2, 3], Q1: [2, 3]}))
    again = from_weight_masks(weight_masks({Q0: [0, 1], W1: [0, 2], Q1: [0, 1]}))
    report = mask_overlap_report("imp", "dense", {"qaa": qaa, "qac": qac}, {"qaa": again})
    assert report["ticket"]["jaccard"][0][1] == 0.0
    same = report["same_language"]["qaa"]
    assert same["ticket"]["all"]["jaccard"] == pytest.approx(5 / 7)
    assert same["0"]["ffn"] == {"jaccard": pytest.approx(1 / 3), "random_expectation": pytest.approx(brute_force_jaccard(4, 2, 2))}
    with pytest.raises(ConfigError, match="no original selection"):
        mask_overlap_report("imp", "dense", {"qaa": qaa}, {"qac": qac})


def sft(positions: dict[str, list[int]], sizes: dict[str, int]) -> SparseFineTuning:
    diffs = {name: SparseDiff(torch.tensor(pos, dtype=torch.int64), torch.ones(len(pos)), (sizes[name],))
             for name, pos in positions.items()}  # fmt: skip
    return SparseFineTuning(diffs, info=SftInfo(kind="language", method="lt-sft", n_maskable=sum(sizes.values())))


EMB, HEAD = "bert.embeddings.word_embeddings.weight", "cls.predictions.transform.dense.weight"
QUERY, OUT = "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.output.dense.weight"
SIZES = {EMB: 10, QUERY: 4, OUT: 4, HEAD: 4}


def test_sft_parameters_group_into_embeddings_layers_and_head():
    assert scope_of(EMB) == ("embeddings", "all")
    assert scope_of(QUERY) == ("0", "attention")
    assert scope_of("bert.encoder.layer.11.attention.output.dense.bias") == ("11", "attention")
    assert scope_of(OUT) == ("0", "ffn")
    assert scope_of(HEAD) == ("head", "all")


def test_lt_sft_supports_overlap_per_scope_and_a_missing_tensor_counts_as_empty():
    qaa = from_sft(sft({EMB: [0, 1, 2, 3], QUERY: [0], OUT: [1, 2], HEAD: [0]}, SIZES))
    qac = from_sft(sft({EMB: [2, 3, 4, 5], QUERY: [0], HEAD: [1]}, SIZES))  # no position in OUT
    report = mask_overlap_report("lt-sft", "ticket-snip", {"qaa": qaa, "qac": qac})
    assert list(report["layers"]) == ["embeddings", "0", "head"]
    assert report["layers"]["embeddings"]["all"]["jaccard"][0][1] == pytest.approx(2 / 6)
    assert report["layers"]["0"]["attention"]["jaccard"][0][1] == 1.0
    assert report["layers"]["0"]["ffn"]["jaccard"][0][1] == 0.0
    assert report["layers"]["head"]["all"]["jaccard"][0][1] == 0.0
    assert report["ticket"]["jaccard"][0][1] == pytest.approx(3 / 11)
    assert report["layers"]["embeddings"]["all"]["random_expectation"][0][1] == pytest.approx(brute_force_jaccard(10, 4, 4))
    other = IndexSets({EMB: np.array([0])}, {EMB: 12})
    with pytest.raises(InputError, match="compare masks of one model"):
        mask_overlap_report("lt-sft", "m", {"qaa": qaa, "qab": other})


def test_command_writes_the_report_the_heatmap_figure_draws(tmp_path):
    from langtickets.figures.base import Options, figure_spec, style

    files = {}
    for lang, kept in {"qaa": [0, 1], "qac": [1, 2], "qae": [0, 3]}.items():
        files[lang] = tmp_path / f"{lang}.safetensors"
        weight_masks({Q0: kept, W1: kept, Q1: kept}).save(files[lang])
    again = tmp_path / "qaa-again.safetensors"
    weight_masks({Q0: [0, 1], W1: [0, 2], Q1: [0, 1]}).save(again)
    out_json, out_csv = tmp_path / "o.json", tmp_path / "o.csv"
    assert main(["--kind", "imp", "--model", "dense", "--task", "ner", "--masks", *(f"{k}={v}" for k, v in files.items()),
                 "--reseed", f"qaa={again}", "--out-json", str(out_json), "--out-csv", str(out_csv)]) == 0  # fmt: skip
    report = json.loads(out_json.read_text())
    assert report["subject"] == "IMP subnetworks (ner, 50% sparsity)" and report["level"] == "round01"
    assert report["languages"] == ["qaa", "qac", "qae"]
    rows = list(csv.DictReader(out_csv.open()))
    assert {r["comparison"] for r in rows} == {"cross-language", "same-language-reseed"}
    assert math.isclose(float(next(r for r in rows if r["scope"] == "ticket" and r["lang_b"] == "qac")["jaccard"]), 1 / 3,
                        abs_tol=1e-6)  # fmt: skip
    with style():
        fig = figure_spec("jaccard-heatmaps").draw([out_json], Options(kinds="all,attention,ffn"))
        assert len([ax for ax in fig.axes if ax.images]) == 3 + 2 + 1, "layer 1 has no ffn weight here: left blank"
        assert "IMP subnetworks (ner, 50% sparsity)" in fig.get_suptitle() and "qaa 0." in fig.get_suptitle()

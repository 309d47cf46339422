"""tickets: SNIP / magnitude / random unit scores and the global top-r selection (§3.2, Eq. 4-5, fn. 4)."""

from __future__ import annotations

import csv
import math

import torch

import pytest
from langtickets.cli import main as cli_main
from langtickets.errors import ConfigError
from langtickets.masks import TicketMasks, TicketShape, find_bert_layers
from langtickets.mlm import mlm_batches
from langtickets.tickets import (
    load_scores,
    magnitude_scores,
    normalize_scores,
    random_scores,
    select_tickets,
    snip_scores,
)
from tests.ticket_fixtures import LANGS, language_shards, tiny_model

SHAPE = TicketShape(layers=3, hidden=16, intermediate=32, heads=4)


def test_select_keeps_exactly_round_r_of_all_units():
    scores = {lang: random_scores(SHAPE, 1, lang) for lang in LANGS}
    total = len(LANGS) * sum(SHAPE.layout().values())  # 3 * 3 * 64 = 576
    for ratio in (0.75, 2 / 3, 0.5, 0.0013):
        masks = select_tickets(scores, ratio, SHAPE)
        kept = sum(int(tensor.sum()) for tensor in masks.masks.values())
        assert kept == math.floor(ratio * total + 0.5)
    with pytest.raises(ConfigError, match="ratio"):
        select_tickets(scores, 1.5, SHAPE)


def test_ties_are_broken_by_layer_then_unit_then_language():
    flat = {lang: {key: torch.ones(units) for key, units in SHAPE.layout().items()} for lang in LANGS}
    masks = select_tickets(flat, 0.5, SHAPE, normalize="none")  # 288 of 576: layer 0, layer 1 q and v
    for lang in range(len(LANGS)):
        assert masks.masks["layer.0.mu_w"][lang].all() and masks.masks["layer.1.mu_v"][lang].all()
        assert not masks.masks["layer.1.mu_w"][lang].any()
    odd = select_tickets(flat, 0.5 + 1 / 576, SHAPE, normalize="none")  # one more: first language's unit
    assert odd.masks["layer.1.mu_w"][:, 0].tolist() == [True, False, False]


def test_per_layer_normalisation_makes_languages_and_layers_comparable():
    scores = {lang: random_scores(SHAPE, 2, lang) for lang in LANGS}
    louder = {**scores, "lat": {key: value * 1000 for key, value in scores["lat"].items()}}
    louder["cyr"] = {key: value * (10.0 if key.startswith("layer.1") else 1.0) for key, value in scores["cyr"].items()}
    for how in ("kind", "layer"):
        reference = select_tickets(scores, 0.6, SHAPE, normalize=how).masks
        rescaled = select_tickets(louder, 0.6, SHAPE, normalize=how).masks
        assert all(torch.equal(reference[key], mask) for key, mask in rescaled.items())
    normalized = normalize_scores(scores["lat"], SHAPE, "kind")
    assert torch.allclose(normalized["layer.1.mu_w"].norm(), torch.tensor(1.0, dtype=torch.float64))
    by_layer = normalize_scores(scores["lat"], SHAPE, "layer")
    norm = torch.cat([by_layer[f"layer.0.{kind}"] for kind in ("mu_q", "mu_v", "mu_w")]).norm()
    assert torch.allclose(norm, torch.tensor(1.0, dtype=torch.float64))


def test_snip_is_input_adaptive_and_magnitude_is_not(tmp_path):
    model = tiny_model(layers=3)
    shards = language_shards(tmp_path)
    shape = TicketShape.of_model(model)
    snip = {lang: snip_scores(model, shard, 512, 16, 8, seed=1, progress=False) for lang, shard in shards.items()}
    magnitude = {lang: magnitude_scores(model) for lang in shards}
    snip_masks = select_tickets(snip, 2 / 3, shape)
    magnitude_masks = select_tickets(magnitude, 2 / 3, shape)
    for key in shape.layout():
        assert (magnitude_masks.masks[key] == magnitude_masks.masks[key][0]).all()
    differing = [key for key in shape.layout() if not torch.equal(snip_masks.masks[key][0], snip_masks.masks[key][1])]
    assert len(differing) >= len(shape.layout()) // 2
    assert all(torch.equal(a, b) for a, b in zip(snip["lat"].values(), snip_scores(
        model, shards["lat"], 512, 16, 8, seed=1, progress=False).values()))


def test_snip_score_is_the_accumulated_gradient_times_the_mask(tmp_path):
    """Eq. 4-5 at m = 1: |sum over positions of dL/d(unit output) * unit output| for a W1 unit."""
    model = tiny_model(layers=2)
    shard = language_shards(tmp_path)["cyr"]
    scores = snip_scores(model, shard, 2 * 16 * 4, 16, 4, seed=5, progress=False)
    outputs = []
    dense = find_bert_layers(model)[1].intermediate.dense
    handle = dense.register_forward_hook(lambda module, args, output: outputs.append(output.retain_grad() or output))
    batches = mlm_batches(shard, 16, 4, torch.Generator().manual_seed(5))
    for _ in range(2):
        (model(**next(batches)).loss / 2).backward()
    handle.remove()
    expected = sum((out.grad * out).sum(dim=(0, 1)) for out in outputs).abs()
    assert torch.allclose(scores["layer.1.mu_w"], expected, rtol=1e-4, atol=1e-9)


def test_snip_leaves_the_model_as_it_found_it(tmp_path):
    model = tiny_model()
    model.train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    snip_scores(model, language_shards(tmp_path)["lat"], 256, 16, 8, seed=0, progress=False)
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    assert all(not m._forward_hooks for m in model.modules())


def run_cli(*args):
    assert cli_main([str(a) for a in args]) == 0


def test_cli_scores_and_selects_reproducibly(tmp_path):
    language_shards(tmp_path / "tokens")
    model_dir = tmp_path / "init"
    run_cli("init-model", "--vocab-size", 120, "--hidden", 16, "--layers", 2, "--scaled-layers", 3, "--heads", 4,
            "--intermediate", 32, "--max-position", 64, "--arch", "scaled", "--seed", 9, "--out", model_dir)
    for method in ("snip", "magnitude", "random"):
        for lang in LANGS:
            run_cli("snip-scores", "--model", model_dir, "--tokens", tmp_path / "tokens" / lang, "--lang", lang,
                    "--method", method, "--tokens-budget", 256, "--seq-len", 16, "--batch-size", 8, "--seed", 9,
                    "--out", tmp_path / method / "scores" / f"{lang}.safetensors")
        files = [tmp_path / method / "scores" / f"{lang}.safetensors" for lang in reversed(LANGS)]
        for run in ("a", "b"):
            run_cli("select-tickets", "--scores", *files, "--langs", *LANGS, "--base-layers", 2, "--scaled-layers", 3,
                    "--out", tmp_path / method / run / "masks.safetensors",
                    "--density", tmp_path / method / run / "density.csv")
        a, b = (tmp_path / method / run / "masks.safetensors" for run in ("a", "b"))
        assert a.read_bytes() == b.read_bytes()
        masks = TicketMasks.load(a)
        assert masks.languages == LANGS and masks.method == method and masks.arch["name"] == "scaled"
        rows = list(csv.DictReader(open(tmp_path / method / "a" / "density.csv")))
        assert len(rows) == len(LANGS) * 3 * 3
        assert sum(int(r["kept"]) for r in rows) == round(2 / 3 * sum(int(r["total"]) for r in rows))
    again = tmp_path / "again.safetensors"
    run_cli("snip-scores", "--model", model_dir, "--tokens", tmp_path / "tokens" / "lat", "--lang", "lat",
            "--tokens-budget", 256, "--seq-len", 16, "--batch-size", 8, "--seed", 9, "--out", again)
    assert again.read_bytes() == (tmp_path / "snip" / "scores" / "lat.safetensors").read_bytes()
    scores, meta = load_scores(tmp_path / "snip" / "scores" / "lat.safetensors")
    assert meta["lang"] == "lat" and meta["tokens"] == 256 and set(scores) == set(masks.masks)


def test_select_cli_rejects_mixed_inputs(tmp_path, capsys):
    from langtickets.tickets import save_scores

    for lang, layers in (("lat", 2), ("cyr", 3)):
        shape = TicketShape(layers=layers, hidden=16, intermediate=32, heads=4)
        save_scores(random_scores(shape, 0, lang), tmp_path / f"{lang}.safetensors",
                    {"lang": lang, "method": "random", "arch": {"vocab_size": 120, "layers": layers}})
    code = cli_main(["select-tickets", "--scores", str(tmp_path / "lat.safetensors"), str(tmp_path / "cyr.safetensors"),
                     "--ratio", "0.5", "--out", str(tmp_path / "m.safetensors"), "--density", str(tmp_path / "d.csv")])
    assert code == 2 and "same model and method" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()

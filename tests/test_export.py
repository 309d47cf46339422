"""export: a language's ticket with its masked units physically removed gives the masked model's outputs."""

from __future__ import annotations

import torch

import pytest
from langtickets.cli import main as cli_main
from langtickets.errors import InputError
from langtickets.export import export_ticket, load_exported, save_exported
from langtickets.io import read_json
from langtickets.masks import TicketShape, apply_masks
from langtickets.model import save_model
from tests.ticket_fixtures import LANGS, mlm_batch, random_masks, tiny_model


def masked_logits(model, masks, lang, batch):
    with torch.no_grad(), apply_masks(model, masks, lang):
        return model(**batch).logits


def test_exported_model_matches_the_masked_model():
    model = tiny_model(layers=3)
    masks = random_masks(TicketShape.of_model(model), density=0.55, seed=4)
    batch = {key: value for key, value in mlm_batch(batch=4, length=16).items() if key != "labels"}
    for lang in LANGS:
        pruned = export_ticket(model, masks, lang)
        with torch.no_grad():
            assert (pruned(**batch) - masked_logits(model, masks, lang, batch)).abs().max() < 1e-5
        kept = sum(p.numel() for p in pruned.parameters())
        assert kept < sum(p.numel() for p in model.parameters())


def test_degenerate_heads_and_layers_are_exported_exactly():
    """A head with no value units is dropped, one with no query units attends uniformly, an empty FFN adds b2."""
    model = tiny_model(layers=2)
    masks = random_masks(TicketShape.of_model(model), langs=("lat",), density=0.7, seed=1)
    q0, v0 = masks.masks["layer.0.mu_q"][0].view(4, 4), masks.masks["layer.0.mu_v"][0].view(4, 4)
    v0[1] = False  # head 1: no value units
    q0[2], v0[2] = False, True  # head 2: no query/key units, all value units
    masks.masks["layer.1.mu_w"][0] = False
    masks.masks["layer.1.mu_v"][0] = False  # no attention at all in layer 1
    pruned = export_ticket(model, masks, "lat")
    assert pruned.layers[0].attention.used_heads == 3 and pruned.layers[1].attention.used_heads == 0
    assert pruned.config["layers"][1]["w"] == 0
    batch = {key: value for key, value in mlm_batch().items() if key != "labels"}
    with torch.no_grad():
        assert (pruned(**batch) - masked_logits(model, masks, "lat", batch)).abs().max() < 1e-5


def test_save_and_load_give_the_same_outputs(tmp_path):
    model = tiny_model(layers=2)
    masks = random_masks(TicketShape.of_model(model))
    pruned = export_ticket(model, masks, "cyr")
    save_exported(pruned, tmp_path / "cyr")
    loaded = load_exported(tmp_path / "cyr")
    batch = {key: value for key, value in mlm_batch().items() if key != "labels"}
    with torch.no_grad():
        assert torch.equal(loaded(**batch), pruned(**batch))
    with pytest.raises(InputError, match="no config.json"):
        load_exported(tmp_path / "missing")


def test_export_cli(tmp_path):
    model = tiny_model(layers=3)
    save_model(model, tmp_path / "model", name="scaled")
    masks_file = tmp_path / "masks.safetensors"
    random_masks(TicketShape.of_model(model)).save(masks_file)
    code = cli_main(["export-ticket", "--model", str(tmp_path / "model"), "--masks", str(masks_file), "--lang", "cjk",
                     "--seq-len", "16", "--out", str(tmp_path / "cjk")])
    assert code == 0
    report = read_json(tmp_path / "cjk" / "export.json")
    assert float(report["max_abs_diff"]) < 1e-5 and report["flops_ratio"] > 1
    assert load_exported(tmp_path / "cjk").config["lang"] == "cjk"
    timing = read_json(tmp_path / "cjk" / "timing.json")
    assert timing["measured_speedup"] > 0 and timing["flops_ratio"] == round(report["flops_ratio"], 4)

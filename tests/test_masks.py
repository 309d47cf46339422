"""masks: per-language structured masks, the hooks that apply them, and their file format."""

from __future__ import annotations

import torch
from transformers import BertForTokenClassification, BertModel

import pytest
from langtickets.errors import ConfigError, InputError
from langtickets.masks import MaskSwitch, TicketMasks, TicketShape, apply_masks, find_bert_layers
from langtickets.model import save_model
from tests.ticket_fixtures import LANGS, mlm_batch, random_masks, tiny_arch, tiny_model


def logits(model, batch):
    with torch.no_grad():
        return model(**batch).logits


def unit_gradients(layer) -> dict[str, list[tuple[torch.Tensor, int]]]:
    """Gradients of the weights each mask kind gates, with the dimension that indexes units."""
    attention = layer.attention
    return {
        "mu_q": [(attention.self.query.weight.grad, 0), (attention.self.query.bias.grad, 0),
                 (attention.self.key.weight.grad, 0), (attention.self.key.bias.grad, 0)],
        "mu_v": [(attention.self.value.weight.grad, 0), (attention.self.value.bias.grad, 0),
                 (attention.output.dense.weight.grad, 1)],
        "mu_w": [(layer.intermediate.dense.weight.grad, 0), (layer.intermediate.dense.bias.grad, 0),
                 (layer.output.dense.weight.grad, 1)],
    }


def test_masked_units_get_exactly_zero_gradient_and_unmasked_units_do_not():
    model = tiny_model(layers=2)
    masks = random_masks(TicketShape.of_model(model), density=0.5)
    with apply_masks(model, masks, "cyr"):
        model(**mlm_batch()).loss.backward()
    ticket = masks.for_language("cyr")
    for i, layer in enumerate(find_bert_layers(model)):
        # a head whose value units are all masked outputs nothing, so its Q/K units learn nothing either
        heads = layer.attention.self.num_attention_heads
        head_alive = ticket[f"layer.{i}.mu_v"].view(heads, -1).any(1).repeat_interleave(16 // heads)
        for kind, grads in unit_gradients(layer).items():
            keep = ticket[f"layer.{i}.{kind}"]
            assert 0 < keep.sum() < keep.numel()
            learning = keep & head_alive if kind == "mu_q" else keep
            for grad, dim in grads:
                per_unit = grad.abs().reshape(grad.shape[0], -1).sum(1) if dim == 0 else grad.abs().sum(0)
                assert torch.all(per_unit[~keep] == 0), (i, kind)
                if grad is not layer.attention.self.key.bias.grad:  # softmax ignores key biases: zero anyway
                    assert torch.all(per_unit[learning] > 0), (i, kind)


def test_hooks_are_exactly_removable_and_leave_the_state_dict_alone():
    model = tiny_model()
    batch = mlm_batch()
    dense = logits(model, batch)
    keys = list(model.state_dict())
    masks = random_masks(TicketShape.of_model(model))
    with apply_masks(model, masks, "lat"):
        masked = logits(model, batch)
        assert list(model.state_dict()) == keys
    assert not torch.allclose(masked, dense)
    assert torch.equal(logits(model, batch), dense)
    assert all(not m._forward_hooks for m in model.modules())


def test_mask_switch_selects_the_batch_language_and_none_is_dense():
    model = tiny_model()
    batch = mlm_batch()
    masks = random_masks(TicketShape.of_model(model))
    expected = {}
    for lang in LANGS:
        with apply_masks(model, masks, lang):
            expected[lang] = logits(model, batch)
    dense = logits(model, batch)
    with MaskSwitch(model, masks) as switch:
        for lang in ("cjk", "lat", "cjk", "cyr"):
            switch.set(lang)
            assert torch.equal(logits(model, batch), expected[lang])
        switch.set(None)
        assert torch.equal(logits(model, batch), dense)
        with pytest.raises(ConfigError, match="no ticket"):
            switch.set("xx")
    assert torch.equal(logits(model, batch), dense)


def test_all_ones_masks_change_nothing():
    model = tiny_model()
    shape = TicketShape.of_model(model)
    ones = TicketMasks(("lat",), {k: torch.ones(1, n, dtype=torch.bool) for k, n in shape.layout().items()}, shape)
    batch = mlm_batch()
    dense = logits(model, batch)
    with apply_masks(model, ones, "lat"):
        assert torch.equal(logits(model, batch), dense)


@pytest.mark.parametrize("wrapper", [BertModel, BertForTokenClassification])
def test_masks_find_the_encoder_inside_other_models(wrapper):
    config = tiny_arch().to_bert_config()
    config.num_labels = 3
    torch.manual_seed(0)
    model = wrapper(config).eval()
    masks = random_masks(TicketShape.of_model(model))
    batch = {key: value for key, value in mlm_batch().items() if key != "labels"}
    with torch.no_grad():
        dense = model(**batch)[0]
        with apply_masks(model, masks, "lat"):
            masked = model(**batch)[0]
    assert not torch.allclose(dense, masked)


def test_save_load_roundtrip_is_byte_identical_and_reloaded_ticket_model_gives_same_logits(tmp_path):
    model = tiny_model(layers=3)
    masks = random_masks(TicketShape.of_model(model))
    masks.save(tmp_path / "a.safetensors")
    masks.save(tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    save_model(model, tmp_path / "model", name="scaled")
    from langtickets.model import load_model

    reloaded, reloaded_masks = load_model(tmp_path / "model"), TicketMasks.load(tmp_path / "a.safetensors")
    assert reloaded_masks.languages == LANGS and reloaded_masks.shape == masks.shape
    batch = mlm_batch()
    with apply_masks(model, masks, "cjk"):
        before = logits(model, batch)
    with apply_masks(reloaded, reloaded_masks, "cjk"):
        assert torch.equal(logits(reloaded, batch), before)


def test_mask_file_for_another_architecture_is_a_clear_input_error(tmp_path):
    masks = random_masks(TicketShape.of_model(tiny_model(layers=3)))
    masks.save(tmp_path / "masks.safetensors")
    loaded = TicketMasks.load(tmp_path / "masks.safetensors")
    with pytest.raises(InputError) as error:
        MaskSwitch(tiny_model(layers=2), loaded)
    with pytest.raises(InputError, match="rebuild the tickets"):
        TicketMasks.load(tmp_path / "masks.safetensors", model=tiny_model(layers=3, hidden=32))
    message = str(error.value)
    assert "masks.safetensors" in message and "3 layers" in message and "the model has 2 layers" in message
    assert "rebuild the tickets for this model" in message


def test_foreign_or_missing_files_are_input_errors(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="not a ticket mask file"):
        TicketMasks.load(tmp_path / "junk.safetensors")
    with pytest.raises(InputError, match="not found"):
        TicketMasks.load(tmp_path / "missing.safetensors")


def test_density_counts_kept_units():
    shape = TicketShape(layers=1, hidden=4, intermediate=8, heads=2)
    masks = TicketMasks(
        ("lat", "cyr"),
        {"layer.0.mu_q": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool),
         "layer.0.mu_v": torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool),
         "layer.0.mu_w": torch.ones(2, 8, dtype=torch.bool)},
        shape,
    )
    density = masks.density()
    assert density["lat"]["layer.0.mu_q"] == 0.5 and density["cyr"]["layer.0.mu_v"] == 0.0
    assert density["lat"]["all"] == 11 / 16
    rows = {(r["lang"], r["kind"]): (r["kept"], r["total"]) for r in masks.density_rows()}
    assert rows[("cyr", "mu_q")] == (4, 4) and rows[("lat", "mu_w")] == (8, 8)
    assert masks.for_language("cyr")["layer.0.mu_q"].all()


def test_malformed_masks_are_rejected():
    shape = TicketShape(layers=1, hidden=4, intermediate=8, heads=2)
    good = {"layer.0.mu_q": torch.ones(1, 4, dtype=torch.bool), "layer.0.mu_v": torch.ones(1, 4, dtype=torch.bool),
            "layer.0.mu_w": torch.ones(1, 8, dtype=torch.bool)}
    with pytest.raises(InputError, match="expected bool"):
        TicketMasks(("lat",), {**good, "layer.0.mu_w": torch.ones(1, 7, dtype=torch.bool)}, shape)
    with pytest.raises(InputError, match="do not match"):
        TicketMasks(("lat",), {k: v for k, v in good.items() if k != "layer.0.mu_v"}, shape)

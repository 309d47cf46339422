"""Subnetwork masks: the exact-share threshold, straight-through gradients, storage and how models wear them."""

from __future__ import annotations

import pytest
import torch

from langtickets.analysis.heads import head_gates
from langtickets.errors import InputError
from langtickets.headsub.masks import (
    HEADS_KEY,
    LanguageMasks,
    attention_modules,
    keep_mask,
    random_like,
    straight_through,
    union,
)
from langtickets.headsub.use import DynamicSettings, HeadMaskUse, WeightMaskUse, build_use

from .conftest import tiny_bert


@pytest.mark.parametrize(("n", "share", "dropped"),
                         [(144, 0.2, 28), (8, 0.2, 1), (4, 0.25, 1), (10, 0.3, 3), (10, 0.0, 0)])  # fmt: skip
def test_threshold_drops_exactly_the_asked_share_of_lowest_weights(n, share, dropped):
    scores = torch.randn(n, generator=torch.Generator().manual_seed(n))
    keep = keep_mask(scores.view(-1, 2) if n % 2 == 0 else scores, share).reshape(-1)
    assert int((~keep).sum()) == dropped
    if dropped:
        assert scores[~keep].max() < scores[keep].min()


def test_threshold_breaks_ties_by_position():
    keep = keep_mask(torch.zeros(10), 0.2)
    assert keep.tolist() == [False, False] + [True] * 8


def test_straight_through_is_binary_forward_and_identity_backward():
    scores = torch.tensor([0.3, -0.1, 0.5, 0.2, 0.0], requires_grad=True)
    upstream = torch.tensor([1.0, -2.0, 3.0, 0.5, 4.0])
    mask = straight_through(scores, 0.4)
    assert mask.tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]
    (mask * upstream).sum().backward()
    assert torch.equal(scores.grad, upstream)


def head_masks(rows: dict[str, list[list[int]]]) -> LanguageMasks:
    return LanguageMasks("heads", {lang: {HEADS_KEY: torch.tensor(m, dtype=torch.bool)} for lang, m in rows.items()})


def test_dynamic_head_mask_weights_receive_the_gates_gradient():
    """The straight-through estimator passes dL/d(gate) of the thresholded mask to the mask weights."""
    model = tiny_bert().eval()
    use = HeadMaskUse("dynamic", head_masks({"qaa": [[1, 1], [0, 1]]}), DynamicSettings(0.25, 0.01), 0,
                      torch.device("cpu"))  # fmt: skip
    ids = torch.tensor([[2, 5, 9, 11, 3]])
    projection = torch.linspace(-1, 1, 16)
    with use.wearing(model, "qaa"):
        loss = (model(input_ids=ids).last_hidden_state * projection).sum()
    (through_scores,) = torch.autograd.grad(loss, use.trainable())
    gates = use.current().of("qaa")[HEADS_KEY].float().requires_grad_(True)
    assert gates.tolist() == [[1.0, 1.0], [0.0, 1.0]]  # the statically disabled head is the one dropped
    with head_gates(model, gates):
        loss = (model(input_ids=ids).last_hidden_state * projection).sum()
    (through_gates,) = torch.autograd.grad(loss, gates)
    assert through_scores.abs().sum() > 0
    assert torch.allclose(through_scores, through_gates)


def test_static_heads_switch_per_language_and_the_full_model_stays_intact():
    model = tiny_bert().eval()
    use = build_use("static", {"heads": head_masks({"a": [[1, 1], [1, 1]], "b": [[0, 1], [1, 0]]})},
                    DynamicSettings(), 0, torch.device("cpu"))  # fmt: skip
    ids = torch.tensor([[2, 5, 9, 3]])
    with torch.no_grad():
        full = model(input_ids=ids).last_hidden_state
        with use.wearing(model, "a"):
            same = model(input_ids=ids).last_hidden_state
        with use.wearing(model, "b"):
            pruned = model(input_ids=ids).last_hidden_state
        again = model(input_ids=ids).last_hidden_state
    assert torch.allclose(full, same) and torch.equal(full, again)
    assert not torch.allclose(full, pruned)
    assert use.trainable() == []


def test_weight_masks_zero_their_weights_and_give_them_no_gradient():
    model = tiny_bert().eval()
    keys = list(attention_modules(model))
    masks = {key: torch.ones(16, 16, dtype=torch.bool) for key in keys}
    masks[keys[0]] = torch.rand(16, 16, generator=torch.Generator().manual_seed(0)) > 0.5
    use = WeightMaskUse("magnitude-static", LanguageMasks("weights", {"qaa": masks}), None, 0, torch.device("cpu"))
    original = attention_modules(model)[keys[0]].weight.detach().clone()
    with use.installed(model):
        module = attention_modules(model)[keys[0]]
        with use.wearing(model, "qaa"):
            assert torch.equal(module.weight, original * masks[keys[0]])
            hidden = model(input_ids=torch.tensor([[2, 5, 9, 3]])).last_hidden_state
            # a plain sum of LayerNorm outputs has zero gradient in exact arithmetic; weight the units instead
            (hidden * torch.arange(hidden.shape[-1], dtype=hidden.dtype)).sum().backward()
        grad = module.parametrizations.weight.original.grad
        assert torch.all(grad[~masks[keys[0]]] == 0) and grad[masks[keys[0]]].abs().sum() > 0
        assert torch.equal(module.weight, original)  # outside wearing: the full weights
    assert torch.equal(attention_modules(model)[keys[0]].weight, original)


def test_masks_round_trip_through_safetensors(tmp_path):
    masks = head_masks({"qaa": [[1, 0], [1, 1]], "qae": [[0, 0], [1, 1]]})
    masks.save(tmp_path / "heads.safetensors")
    loaded = LanguageMasks.load(tmp_path / "heads.safetensors")
    assert loaded.kind == "heads" and loaded.languages == ["qaa", "qae"]
    assert all(torch.equal(loaded.of(lang)[HEADS_KEY], masks.of(lang)[HEADS_KEY]) for lang in masks.languages)
    assert loaded.disabled("qae") == 2 and loaded.total("qae") == 4
    (tmp_path / "bad.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="bad.safetensors"):
        LanguageMasks.load(tmp_path / "bad.safetensors")


def test_union_keeps_heads_enabled_in_any_run_and_random_masks_keep_counts():
    runs = [torch.tensor([[1, 0], [0, 1]], dtype=torch.bool), torch.tensor([[0, 0], [1, 1]], dtype=torch.bool)]
    assert union(runs).tolist() == [[True, False], [True, True]]
    masks = head_masks({"qaa": [[1, 0], [1, 1]], "qae": [[0, 0], [0, 1]]})
    shuffled = random_like(masks, torch.Generator().manual_seed(3))
    assert [shuffled.disabled(lang) for lang in ("qaa", "qae")] == [1, 3]

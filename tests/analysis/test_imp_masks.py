"""IMP weight masks: exact sparsity per round, rewinding to theta0, pruned weights staying zero, random masks."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from langtickets.analysis.imp import ImpConfig, iterative_magnitude_pruning, random_baselines
from langtickets.analysis.weight_masks import (
    WeightMasks,
    magnitude_prune,
    prunable_modules,
    pruned_counts,
    random_masks,
    wearing,
)
from langtickets.errors import ConfigError, InputError


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy CPU OpenMP threads spin (seconds per step)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_bert(seed: int = 0) -> nn.Module:
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=24, max_position_embeddings=16)  # fmt: skip
    return BertModel(config, add_pooling_layer=False)


class ToyObjective:
    """Trains the encoder for a few AdamW steps (with weight decay, the harshest case for pruned weights) and
    checks, before and after, what IMP promises about the weights."""

    task, lang, metric, higher_is_better = "toy", "xx", "score", True

    def __init__(self) -> None:
        self.theta0 = tiny_bert()
        self.reference = {key: module.weight.detach().clone() for key, module in prunable_modules(self.theta0).items()}
        self.fits = 0

    def fresh_model(self, seed: int) -> nn.Module:
        return copy.deepcopy(self.theta0)

    def fit(self, model: nn.Module, seed: int) -> dict:
        modules = prunable_modules(model)
        for key, module in modules.items():  # rewound: kept weights are theta0 bit for bit, pruned ones zero
            kept = module.weight_mask.bool()
            assert torch.equal(module.weight_orig.detach()[kept], self.reference[key][kept])
            assert torch.count_nonzero(module.weight.detach()[~kept]) == 0
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
        for _ in range(3):
            ids = torch.randint(5, 40, (4, 8), generator=generator)
            loss = model(input_ids=ids).last_hidden_state.pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model(input_ids=torch.randint(5, 40, (1, 4), generator=generator))  # refreshes module.weight
        for module in modules.values():
            assert torch.count_nonzero(module.weight.detach()[~module.weight_mask.bool()]) == 0
        self.fits += 1
        return {"score": float(seed % 7), "selected_update": 3, "updates": 3}


def test_pruned_counts_are_shares_of_the_original_weights():
    assert pruned_counts(1000, 0.1, 5) == [0, 100, 200, 300, 400, 500]
    assert pruned_counts(7, 0.1, 5) == [0, 1, 1, 2, 3, 4]  # rounded half up to the nearest weight
    with pytest.raises(ConfigError):
        pruned_counts(1000, 0.3, 4)


def test_imp_reaches_the_asked_sparsity_every_round_and_rewinds():
    objective = ToyObjective()
    saved = {}

    def save(name: str, masks: WeightMasks) -> str:
        saved[name] = masks
        return name

    config = ImpConfig(rate=0.1, rounds=4, runs=(0, 1), random_rounds=())
    levels = iterative_magnitude_pruning(objective, config, lambda run: 11 + run, save)
    total = WeightMasks.dense(objective.theta0).total
    assert [level["pruned"] for level in levels] == [round(r * 0.1 * total) for r in range(5)]
    assert [level["sparsity"] for level in levels] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert objective.fits == 10  # every level trained once per run; the pruning uses run 0's training
    assert {level["selected_update"] for level in levels} == {3.0}  # i of the winning-ticket test, mean over runs
    assert sorted(saved) == ["round01", "round02", "round03", "round04"]
    for earlier, later in zip(list(saved.values()), list(saved.values())[1:]):
        for key in earlier.masks:  # a weight once pruned stays pruned
            assert not (later.masks[key] & ~earlier.masks[key]).any()


def test_magnitude_prune_removes_the_globally_smallest_remaining_weights():
    first, second = nn.Linear(3, 2, bias=False), nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[0.5, -0.1, 0.9], [0.05, 2.0, -0.3]]))
        second.weight.copy_(torch.tensor([[-0.2, 0.01], [1.5, 0.4]]))
    prune.custom_from_mask(first, "weight", torch.tensor([[1, 1, 1], [0, 1, 1]], dtype=torch.bool))  # 0.05 gone
    prune.custom_from_mask(second, "weight", torch.ones(2, 2, dtype=torch.bool))
    masks = magnitude_prune({"a": first, "b": second}, 3)
    # remaining magnitudes: 0.5 0.1 0.9 2.0 0.3 | 0.2 0.01 1.5 0.4 -> the three smallest are 0.01, 0.1, 0.2
    assert masks.masks["a"].tolist() == [[True, False, True], [False, True, True]]
    assert masks.masks["b"].tolist() == [[False, False], [True, True]]
    assert masks.pruned == 4


def test_wearing_masks_zeroes_outputs_like_zeroed_weights_and_restores_plain_parameters():
    model = tiny_bert()
    template = WeightMasks.dense(model)
    masks = random_masks(template, template.total // 2, torch.Generator().manual_seed(0))
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        for key, module in prunable_modules(zeroed).items():
            module.weight.mul_(masks.masks[key])
    ids = torch.randint(5, 40, (2, 6))
    model.eval(), zeroed.eval()
    with wearing(model, masks):
        worn = model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(worn, zeroed(input_ids=ids).last_hidden_state)
    assert all(not prune.is_pruned(module) for module in prunable_modules(model).values())


def test_random_masks_have_the_exact_count_and_follow_the_seed():
    template = WeightMasks.dense(tiny_bert())
    one = random_masks(template, 1234, torch.Generator().manual_seed(5))
    again = random_masks(template, 1234, torch.Generator().manual_seed(5))
    other = random_masks(template, 1234, torch.Generator().manual_seed(6))
    assert one.pruned == 1234 and other.pruned == 1234
    assert all(torch.equal(one.masks[k], again.masks[k]) for k in one.masks)
    assert any(not torch.equal(one.masks[k], other.masks[k]) for k in one.masks)


def test_random_baseline_matches_the_imp_sparsity():
    objective = ToyObjective()
    config = ImpConfig(rate=0.2, rounds=2, runs=(0,), random_rounds=(2,))
    template = WeightMasks.dense(objective.theta0)
    [level] = random_baselines(objective, config, template, lambda run: run, lambda r: 3, lambda name, m: name)
    assert level["pruned"] == round(0.4 * template.total) and level["kind"] == "random" and level["mask"] == "random02"


def test_masks_round_trip_through_safetensors_byte_identically(tmp_path):
    template = WeightMasks.dense(tiny_bert())
    masks = WeightMasks(random_masks(template, 100, torch.Generator().manual_seed(1)).masks, {"task": "ner"})
    masks.save(tmp_path / "a.safetensors")
    masks.save(tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    back = WeightMasks.load(tmp_path / "a.safetensors")
    assert back.info["task"] == "ner" and back.pruned == 100 and back.info["sparsity"] == round(100 / template.total, 8)
    assert all(back.masks[k].dtype == torch.bool and torch.equal(back.masks[k], masks.masks[k]) for k in masks.masks)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="bad.safetensors"):
        WeightMasks.load(tmp_path / "bad.safetensors")


def test_masks_for_another_architecture_are_refused():
    masks = WeightMasks.dense(tiny_bert())
    from transformers import BertConfig, BertModel

    wider = BertModel(BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=24), add_pooling_layer=False)  # fmt: skip
    with pytest.raises(InputError, match="shape"):
        with wearing(wider, masks):
            pass

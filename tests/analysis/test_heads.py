"""Head gates, importance (MeSH Eq. 4) against a hand-computed gradient, top-alpha heads and D(alpha)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from langtickets.analysis import heads as H
from langtickets.analysis.heads_run import joint_schedule
from langtickets.errors import ConfigError
from langtickets.tasks.finetune import TrainConfig

LAYERS, HEADS, SIZE = 2, 3, 4


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy CPU OpenMP threads spin (seconds per step)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30, hidden_size=HEADS * SIZE, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                        intermediate_size=16, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)  # fmt: skip
    return BertModel(config, add_pooling_layer=False).eval()


def batches(count: int = 3) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(4, 30, (2, 5), generator=generator)} for _ in range(count)]


def loss_fn(model: nn.Module, batch: dict) -> torch.Tensor:
    projection = torch.linspace(-1, 1, HEADS * SIZE)
    return (model(**batch).last_hidden_state * projection).sum().pow(2) / 100


def hand_gradient(model: nn.Module, batch: dict) -> torch.Tensor:
    """dL/dxi_h = sum over the head's slice of (dL/dz * z), z = the input of the attention output projection."""
    captured = []

    def keep(module, args):
        args[0].retain_grad()
        captured.append(args[0])

    handles = [layer.attention.output.dense.register_forward_pre_hook(keep) for layer in model.encoder.layer]
    loss_fn(model, batch).backward()
    for handle in handles:
        handle.remove()
    model.zero_grad()
    return torch.stack([(z.grad * z).view(*z.shape[:-1], HEADS, SIZE).sum(dim=(0, 1, 3)) for z in captured]).detach()


def test_head_importance_equals_the_mean_absolute_gate_gradient():
    model = tiny_bert()
    expected = torch.stack([hand_gradient(model, batch).abs() for batch in batches()]).mean(0)
    raw = H.head_importance(model, batches(), loss_fn, normalize=False)
    torch.testing.assert_close(raw, expected, rtol=1e-4, atol=1e-7)
    normalized = H.head_importance(model, batches(), loss_fn)
    torch.testing.assert_close(normalized.pow(2).sum(1), torch.ones(LAYERS))
    torch.testing.assert_close(normalized, expected / expected.norm(dim=1, keepdim=True), rtol=1e-4, atol=1e-7)
    assert all(p.grad is None for p in model.parameters())  # only the gates were differentiated


def test_no_pruned_head_reproduces_the_model_and_a_pruned_head_is_removed():
    model = tiny_bert()
    ids = batches(1)[0]
    plain = model(**ids).last_hidden_state
    with H.head_gates(model, torch.ones(LAYERS, HEADS)):
        assert torch.equal(model(**ids).last_hidden_state, plain)
    with H.head_gates(model, H.gates_without((LAYERS, HEADS), [(1, 2)])):
        gated = model(**ids).last_hidden_state
    with torch.no_grad():  # the same as zeroing the columns of W_O that read head 2 of layer 1
        model.encoder.layer[1].attention.output.dense.weight[:, 2 * SIZE:3 * SIZE] = 0.0
    torch.testing.assert_close(gated, model(**ids).last_hidden_state)
    assert not torch.equal(gated, plain)
    with pytest.raises(ConfigError):
        with H.head_gates(model, torch.ones(LAYERS, HEADS + 1)):
            pass


def test_top_heads_take_the_rounded_share_most_important_first_ties_by_index():
    importance = torch.tensor([[0.1, 0.9, 0.5], [0.5, 0.2, 0.7]])
    assert H.top_heads(importance, 0.5) == [(0, 1), (1, 2), (0, 2)]
    assert H.ranked_heads(importance, descending=False)[:2] == [(0, 0), (1, 1)]
    assert H.share_count(0.25, 6) == 2 and H.share_count(0.0, 6) == 0 and H.share_count(1.0, 6) == 6
    with pytest.raises(ConfigError):
        H.share_count(1.5, 6)


def test_dissociation_on_hand_made_accuracies():
    base = {"A": 0.80, "B": 0.60}
    pruned = {("A", "A"): 0.40, ("A", "B"): 0.72, ("B", "A"): 0.57, ("B", "B"): 0.30}
    rp = {pair: H.relative_performance(score, base[pair[0]]) for pair, score in pruned.items()}
    result = H.dissociation(rp, "A", "B")
    assert result["d_a"] == pytest.approx(0.9 - 0.5)  # RP_A(H_B) - RP_A(H_A)
    assert result["d_b"] == pytest.approx(0.95 - 0.5)
    assert result["d"] == pytest.approx((0.4 + 0.45) / 2)
    three = {(x, y): 1.0 for x in "ABC" for y in "ABC"}
    rows = H.pair_dissociations(["A", "B", "C"], three)
    assert [(row["a"], row["b"], row["d"]) for row in rows] == [("A", "B", 0.0), ("A", "C", 0.0), ("B", "C", 0.0)]


def test_joint_schedule_gives_each_unit_its_own_epochs_in_a_seeded_order():
    config = TrainConfig(batch_size=4, epochs=2)
    schedule = joint_schedule({"ner/x": 10, "nli/x": 4}, config, seed=3)
    counts = {unit: sum(1 for u, _ in schedule if u == unit) for unit in ("ner/x", "nli/x")}
    assert counts == {"ner/x": 6, "nli/x": 2}
    assert schedule == joint_schedule({"ner/x": 10, "nli/x": 4}, config, seed=3)
    assert [u for u, _ in schedule] != [u for u, _ in joint_schedule({"ner/x": 10, "nli/x": 4}, config, seed=4)]

"""First-order MAML against a hand-computed update, gradient conflicts on hand-made gradients, and the training
loops on a tiny parser (masked heads get no gradient, runs repeat exactly)."""

from __future__ import annotations

import pytest
import torch

from langtickets.headsub.conflicts import ConflictRecorder, conflict_summary, pairwise_cosines
from langtickets.headsub.masks import HEADS_KEY, LanguageMasks
from langtickets.headsub.training import (
    MetaRecipe,
    Recipe,
    first_order_maml,
    meta_update,
    train_maml,
    train_nonepisodic,
)
from langtickets.headsub.use import DynamicSettings, MaskUse, build_use
from langtickets.tasks.encoders import new_task_model
from langtickets.tasks.evaluate import featurize, task_labels
from langtickets.tasks.ud import read_conllu

from .conftest import tiny_bert


def test_first_order_maml_matches_a_hand_computed_meta_update():
    """theta = 1; task t has support loss (w - s_t)^2 and query loss (w - q_t)^2; two inner SGD steps of 0.1, the
    first-order meta-gradient at the adapted weight, an outer SGD step of 0.5 on the sum over tasks."""
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    support, query = {"a": 3.0, "b": -1.0}, {"a": 2.0, "b": 0.0}
    results = first_order_maml([w], ["a", "b"], lambda t: ((w - support[t]) ** 2).sum(),
                               lambda t: ((w - query[t]) ** 2).sum(), steps=2, lrs=[0.1])  # fmt: skip
    expected = {}
    for task in ("a", "b"):
        adapted = 1.0
        for _ in range(2):
            adapted -= 0.1 * 2 * (adapted - support[task])
        expected[task] = (2 * (adapted - query[task]), (adapted - query[task]) ** 2)
    # a: 1 -> 1.4 -> 1.72, query grad -0.56; b: 1 -> 0.6 -> 0.28, query grad 0.56
    assert [r[1][0].item() for r in results] == pytest.approx([expected["a"][0], expected["b"][0]], abs=1e-12)
    assert [r[0] for r in results] == pytest.approx([expected["a"][1], expected["b"][1]], abs=1e-12)
    assert w.item() == 1.0  # theta is restored after each learner
    optimizer = torch.optim.SGD([w], lr=0.5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    meta_update(optimizer, scheduler, [w], [grads for _, grads in results], clip=0.0)
    assert w.item() == pytest.approx(1.0 - 0.5 * (expected["a"][0] + expected["b"][0]), abs=1e-12)


def test_conflict_share_and_mean_cosine_on_hand_made_gradients():
    vectors = [torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.0])]
    cosines = pairwise_cosines(vectors)
    assert cosines == pytest.approx([2**-0.5, -1.0, -(2**-0.5)])
    summary = conflict_summary(cosines)
    assert (summary["pairs"], summary["conflicts"]) == (3, 2)
    assert summary["conflict_share"] == pytest.approx(2 / 3)
    assert summary["mean_cosine"] == pytest.approx(-1 / 3)
    recorder = ConflictRecorder(window=2, total=5)
    for iteration in range(5):
        recorder.add(iteration, vectors if iteration >= 3 else [torch.ones(2), -torch.ones(2)])
    assert recorder.summary()["pairs"] == 6 and recorder.summary()["conflict_share"] == pytest.approx(2 / 3)


@pytest.fixture
def parsing(tokenizer, ud_files):
    labels = task_labels("dep")
    features = {lang: featurize("dep", tokenizer, read_conllu(files["train"]), labels, 32).features
                for lang, files in ud_files.items() if lang != "qaa"}  # fmt: skip
    return features, labels


def parser_model(tokenizer, labels):
    return new_task_model(tiny_bert(len(tokenizer)), "dep", labels, 0, {"arc_dim": 8, "relation_dim": 8})


def heads_use(variant):
    masks = LanguageMasks("heads", {lang: {HEADS_KEY: torch.tensor([[True, False], [True, True]])}
                                    for lang in ("qac", "qae", "qai")})  # fmt: skip
    return build_use(variant, {"heads": masks}, DynamicSettings(0.25, 0.01), 0, torch.device("cpu"))


def test_non_episodic_training_spares_masked_heads_and_repeats_exactly(tokenizer, parsing):
    features, labels = parsing
    recipe = Recipe(batch_size=8, encoder_lr=1e-3, head_lr=1e-3, weight_decay=0.0)
    states = []
    for _ in range(2):
        model = parser_model(tokenizer, labels)
        query = model.encoder.encoder.layer[0].attention.self.query.weight
        before = query.detach().clone()
        record = train_nonepisodic(model, features, heads_use("static"), recipe, 4, seed=7, pad_id=0,
                                   device=torch.device("cpu"), window=2)  # fmt: skip
        # head 1 of layer 0 is off in every language: its rows of Q get no gradient, so Adam leaves them alone
        change = (query.detach() - before).view(2, 8, 16)
        assert change[0].abs().sum() > 0 and torch.equal(change[1], torch.zeros(8, 16))
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        assert record["conflicts"]["pairs"] == 2 * 3 and record["conflicts"]["window"] == 2
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_maml_with_dynamic_masks_updates_the_mask_weights(tokenizer, parsing):
    features, labels = parsing
    model, use = parser_model(tokenizer, labels), heads_use("dynamic")
    before = [p.detach().clone() for p in use.trainable()]
    record = train_maml(model, features, use, Recipe(batch_size=4), MetaRecipe(episodes=2, shots=4, inner_steps=2),
                        seed=3, pad_id=0, device=torch.device("cpu"), window=1)  # fmt: skip
    assert any(not torch.equal(a, b) for a, b in zip(before, use.trainable()))
    assert record["episodes"] == 2 and record["conflicts"]["pairs"] == 3
    assert all(use.current().disabled(lang) == 1 for lang in ("qac", "qae", "qai"))  # 25% of 4 heads


def test_full_model_has_no_masks():
    assert MaskUse().current() is None and MaskUse().trainable() == []

"""Fine-tuning protocols on demo data with tiny random BERTs: learning, tickets, zero-shot, few-shot, bad input."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import torch

from langtickets.errors import ConfigError, InputError
from langtickets.io import read_json
from langtickets.tasks import protocols
from langtickets.tasks.encoders import load_pretrained, mask_language, new_task_model
from langtickets.tasks.evaluate import featurize, score, task_labels
from langtickets.tasks.features import IGNORE_INDEX, collate
from langtickets.tasks.finetune import TrainConfig, batch_order
from langtickets.tasks.protocols import RunSettings, few_shot, in_language, train_source, wearing, zero_shot
from langtickets.tasks.records import TaggedSentence
from langtickets.tasks.spec import DatasetSpec, load_split

from .finetune_fixtures import SEED, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory, repo_root):
    return build_world(tmp_path_factory.mktemp("finetune-world"), repo_root)


def settings(task: str, runs=(0,), **train) -> RunSettings:
    head = {"dropout": 0.1, **({"arc_dim": 32, "relation_dim": 16} if task == "dep" else {})}
    config = TrainConfig(**{"lr": 2e-3, "max_updates": 6, **train})
    return RunSettings("dense", task, tuple(runs), SEED, config, max_length=64, head_options=head, device="cpu")


# ---- the loop --------------------------------------------------------------------------------------------


def test_update_count_follows_epochs_minimum_cap_and_exact_setting():
    assert TrainConfig(batch_size=32, epochs=2).total_updates(100) == 8  # ceil(100/32) = 4 per epoch
    assert TrainConfig(batch_size=32, epochs=2, min_updates=2500).total_updates(100) == 2500  # NER, section 4.1
    assert TrainConfig(batch_size=32, epochs=2, max_updates=5).total_updates(100) == 5
    assert TrainConfig(batch_size=32, epochs=2, min_updates=2500, updates=7).total_updates(100) == 7
    with pytest.raises(ConfigError, match="warmup"):
        TrainConfig(warmup_ratio=1.0)


def test_batch_order_is_seeded_and_visits_every_example_once_per_epoch():
    batches = batch_order(10, 4, 6, seed=5)
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    assert sorted(sum(batches[:3], [])) == list(range(10)) == sorted(sum(batches[3:], []))
    assert batches == batch_order(10, 4, 6, seed=5) and batches != batch_order(10, 4, 6, seed=6)
    with pytest.raises(ConfigError, match="no training examples"):
        batch_order(0, 4, 1, seed=5)


# ---- in-language -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("task, epochs", [("pos", 2), ("nli", 6)])
def test_short_in_language_finetune_beats_chance(world, tmp_path, task, epochs):
    spec = world.spec("qaa", task)
    in_language(load_pretrained(world.dense), spec, "qaa", settings(task, max_updates=0, epochs=epochs), tmp_path)
    record = read_json(tmp_path / "seed0.json")
    test = load_split(spec, "test")
    if task == "pos":
        tags = Counter(tag for sentence in test for tag in sentence.tags)
        chance = max(tags.values()) / sum(tags.values())  # always the most frequent tag
    else:
        chance = max(Counter(pair.label for pair in test).values()) / len(test)
    assert record["score"] > chance + 0.1, (record["score"], chance)
    assert record["train"]["selection"] == "dev" and record["train"]["examples"] == 400
    assert record["test"]["examples"] == 90 and record["protocol"] == "in-language"


def test_every_task_runs_and_reports_its_metrics(world, tmp_path):
    pretrained = load_pretrained(world.dense)
    expected = {"pos": {"accuracy"}, "dep": {"uas", "las"}, "ner": {"f1", "precision", "recall"},
                "nli": {"accuracy"}}  # fmt: skip
    for task, metrics in expected.items():
        in_language(pretrained, world.spec("qac", task), "qac", settings(task, max_updates=2), tmp_path / task)
        record = read_json(tmp_path / task / "seed0.json")
        assert set(record["metrics"]) == metrics and record["mask"] == {"train": None, "eval": None}
        assert record["train"]["updates"] == 2 and len(record["train"]["loss"]["curve"]) == 2
        if task != "nli":
            assert record["test"]["words"] > 0 and record["test"]["truncated_words"] == 0


# ---- tickets ---------------------------------------------------------------------------------------------


def test_ticket_changes_outputs_and_masked_units_get_no_gradient(world):
    pretrained = load_pretrained(world.ticket)
    masks = pretrained.masks
    labels = task_labels("pos")
    data = featurize("pos", pretrained.tokenizer, load_split(world.spec("qac", "pos"), "dev")[:8], labels, 64)
    batch = collate(data.features, pretrained.tokenizer.pad_token_id)
    model = new_task_model(pretrained.fresh_encoder(), "pos", labels, 0, {"dropout": 0.0})
    dense = model(batch).logits
    with wearing(model, masks, "qac"):
        output = model(batch)
        output.loss.backward()
    assert not torch.allclose(dense, output.logits)
    assert torch.equal(model(batch).logits, dense)  # the hooks are gone after the block
    ticket = masks.for_language("qac")
    for index, layer in enumerate(model.encoder.encoder.layer):
        for weight, kind in ((layer.attention.self.query.weight, "mu_q"), (layer.intermediate.dense.weight, "mu_w")):
            kept = ticket[f"layer.{index}.{kind}"]
            assert weight.grad[~kept].abs().max() == 0 and weight.grad[kept].abs().max() > 0


def test_ticket_language_resolution(world):
    masks = load_pretrained(world.ticket).masks
    assert mask_language(masks, "qac") == "qac" and mask_language(masks, "qac", dense=True) is None
    assert mask_language(None, "qae") is None
    with pytest.raises(ConfigError, match="'qae' has no ticket.*--dense"):
        mask_language(masks, "qae")
    assert mask_language(masks, "qae", fallback="qaa") == "qaa" and mask_language(masks, "qae", fallback="dense") is None


def test_in_language_on_a_ticketed_model_wears_the_ticket_unless_dense(world, tmp_path):
    pretrained = load_pretrained(world.ticket)
    base = settings("pos", max_updates=3)
    in_language(pretrained, world.spec("qac", "pos"), "qac", base, tmp_path / "ticket")
    in_language(pretrained, world.spec("qac", "pos"), "qac", dataclasses.replace(base, dense=True), tmp_path / "dense")
    ticket, dense = read_json(tmp_path / "ticket" / "seed0.json"), read_json(tmp_path / "dense" / "seed0.json")
    assert ticket["mask"] == {"train": "qac", "eval": "qac"} and dense["mask"] == {"train": None, "eval": None}
    assert ticket["train"]["loss"] != dense["train"]["loss"]
    with pytest.raises(ConfigError, match="no ticket"):
        in_language(pretrained, world.spec("qae", "pos"), "qae", base, tmp_path / "qae")
    assert not (tmp_path / "qae").exists()


# ---- zero-shot and few-shot ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_models(world, tmp_path_factory):
    """POS task models fine-tuned on qaa with its ticket, runs 0 and 1 (dev-selected every 4 updates)."""
    out = tmp_path_factory.mktemp("source")
    train_source(load_pretrained(world.ticket), world.spec("qaa", "pos"), "qaa",
                 settings("pos", runs=(0, 1), max_updates=8, eval_every=4), out)  # fmt: skip
    return {run: out / f"seed{run}" for run in (0, 1)}


def test_zero_shot_trains_once_and_scores_every_target(world, source_models, tmp_path, monkeypatch):
    assert all((folder / "masks.safetensors").is_file() for folder in source_models.values())
    monkeypatch.setattr(protocols, "train", lambda *args, **kwargs: pytest.fail("zero-shot must not train"))
    dev_as_test = DatasetSpec("pos", "conllu", {"test": str(world.file("qaa", "ud-dev.conllu"))})
    targets = {"qaa": dev_as_test, "qac": world.spec("qac", "pos"), "qae": world.spec("qae", "pos")}
    run_settings = dataclasses.replace(settings("pos", runs=(0, 1)), mask_fallback="dense")
    zero_shot(source_models, targets, run_settings, tmp_path)
    for run in (0, 1):
        for lang, mask in (("qaa", "qaa"), ("qac", "qac"), ("qae", None)):
            record = read_json(tmp_path / lang / f"seed{run}.json")
            assert (record["protocol"], record["lang"], record["run"]) == ("zero-shot", lang, run)
            assert record["train"]["lang"] == "qaa" and record["mask"] == {"train": "qaa", "eval": mask}
        # the saved model is the dev-selected state: scoring the source dev set again gives the best dev score
        source = read_json(tmp_path / "qaa" / f"seed{run}.json")
        assert source["score"] == max(score for _, score in source["train"]["dev_curve"])
    with pytest.raises(ConfigError, match="no ticket"):
        zero_shot(source_models, {"qae": targets["qae"]}, settings("pos", runs=(0,)), tmp_path / "strict")


def test_few_shot_uses_exactly_k_examples_and_n_updates(world, source_models, tmp_path, monkeypatch):
    seen, original = [], protocols.train

    def spy(model, features, config, **kwargs):
        result = original(model, features, config, **kwargs)
        seen.append((len(features), config.updates, len(result.losses), kwargs["dev_score"]))
        return result

    monkeypatch.setattr(protocols, "train", spy)
    few_shot(source_models, world.spec("qac", "pos"), "qac", 5, 7, settings("pos", runs=(0, 1)), tmp_path)
    assert seen == [(5, 7, 7, None)] * 2
    records = [read_json(tmp_path / f"seed{run}.json") for run in (0, 1)]
    for record in records:
        assert record["train"]["examples"] == 5 and record["train"]["updates"] == 7 and record["train"]["k"] == 5
        assert len(set(record["train"]["chosen"])) == 5 and record["mask"]["train"] == "qac"
    assert records[0]["train"]["chosen"] != records[1]["train"]["chosen"]
    with pytest.raises(ConfigError, match="exceeds the 60 training examples"):
        few_shot(source_models, world.spec("qac", "pos"), "qac", 61, 7, settings("pos"), tmp_path / "too-many")


# ---- bad input -------------------------------------------------------------------------------------------


def test_label_unseen_in_training_is_counted_and_scored_wrong(world):
    tokenizer = load_pretrained(world.dense).tokenizer
    labels = task_labels("ner", [TaggedSentence(("Volas", "Khilvanvin", "po"), ("B-PER", "I-PER", "O"))])
    test = [TaggedSentence(("Volas", "Wulwo", "Pumon"), ("B-PER", "B-MISC", "I-MISC"))]
    data = featurize("ner", tokenizer, test, labels, 64)
    assert data.unseen == Counter({"B-MISC": 1, "I-MISC": 1})
    assert data.counts()["unseen_label_words"] == 2 and data.counts()["unseen_labels"] == {"B-MISC": 1, "I-MISC": 1}
    starts, token_labels = data.features[0]["word_starts"], data.features[0]["labels"]
    assert [token_labels[p] for p in starts] == [labels.id("B-PER"), IGNORE_INDEX, IGNORE_INDEX]
    metrics, _ = score("ner", test, [[labels.id("B-PER"), labels.id("O"), labels.id("O")]], labels)
    assert metrics["precision"] == 1.0 and metrics["recall"] == 0.5  # the MISC entity is a miss, not dropped


def test_empty_split_and_bad_models_fail_with_one_clear_error(world, tmp_path, monkeypatch):
    # huggingface_hub reads HF_HUB_OFFLINE when first imported; without this it retries the blocked network
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    tokenizer = load_pretrained(world.dense).tokenizer
    with pytest.raises(InputError, match="holds no examples"):
        featurize("pos", tokenizer, [], task_labels("pos"), 64, where="dev.conllu")
    empty = tmp_path / "nli-train.tsv"
    empty.write_text("language\tpremise\thypothesis\tlabel\n", encoding="utf-8")
    spec = DatasetSpec("nli", "americasnli", {"train": str(empty), "test": str(world.file("qac", "nli-test.tsv"))})
    with pytest.raises(InputError, match="no labelled pairs"):
        in_language(load_pretrained(world.dense), spec, "qac", settings("nli"), tmp_path / "out")
    with pytest.raises(ConfigError, match="exceeds the model's 64 positions"):
        in_language(load_pretrained(world.dense), world.spec("qac", "pos"), "qac",
                    dataclasses.replace(settings("pos"), max_length=128), tmp_path / "out")  # fmt: skip
    with pytest.raises(InputError, match="no config.json"):
        load_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="cannot load model 'no-such-org/no-such-model'"):
        load_pretrained("no-such-org/no-such-model")  # a hub name, offline in tests
    assert not (tmp_path / "out").exists()

import torch

from langtickets.sft import base_fingerprint, language_sft_plan, task_sft_plan
from langtickets.sft.params import bias_parameter_names, head_parameter_names

from .conftest import make_mlm, make_tagger


def test_language_plan_unties_and_freezes_output_embeddings_and_layer_norm(mlm):
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight
    plan = language_sft_plan(mlm)
    output, word = mlm.get_output_embeddings().weight, mlm.get_input_embeddings().weight
    assert output is not word and torch.equal(output, word)
    assert mlm.config.tie_word_embeddings is False
    names = set(plan.maskable)
    assert "cls.predictions.decoder.weight" not in names
    assert not any("LayerNorm" in name for name in names)
    assert {"bert.embeddings.word_embeddings.weight", "cls.predictions.transform.dense.weight"} <= names
    assert plan.dense == ()


def test_task_plan_trains_the_head_densely(mlm):
    tagger = make_tagger(mlm)
    plan = task_sft_plan(tagger)
    assert plan.dense == ("classifier.weight", "classifier.bias")
    assert head_parameter_names(tagger) == ["classifier.weight", "classifier.bias"]
    assert not any("LayerNorm" in name or name.startswith("classifier") for name in plan.maskable)
    with_norms = task_sft_plan(tagger, freeze_layer_norm=False)
    assert any("LayerNorm" in name for name in with_norms.maskable)


def test_bias_names():
    assert bias_parameter_names(["a.weight", "a.bias", "cls.predictions.bias", "x.bias_scale"]) == [
        "a.bias",
        "cls.predictions.bias",
    ]


def test_fingerprint_identifies_the_pretrained_weights_across_heads(mlm):
    tagger = make_tagger(mlm)
    assert base_fingerprint(mlm) == base_fingerprint(tagger)
    assert base_fingerprint(mlm) != base_fingerprint(make_mlm(seed=3))

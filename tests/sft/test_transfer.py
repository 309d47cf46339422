import pytest
import torch

from langtickets.errors import InputError
from langtickets.sft import (
    LtSftConfig,
    SourceSwitcher,
    applied,
    base_fingerprint,
    bitfit,
    language_sft_plan,
    lt_sft,
    task_sft_plan,
    train_task_sft,
    train_task_sft_multisource,
    zero_shot,
)

from .conftest import make_mlm, make_tagger, mlm_batches, model_loss, same, snapshot, tagging_batches


def config(**overrides) -> LtSftConfig:
    settings = dict(phase1_steps=2, phase2_steps=2, k=200, lr=1e-2, seed=3, progress=False)
    settings.update(overrides)
    return LtSftConfig(**settings)


def language_sft(seed: int, language: str):
    mlm = make_mlm()
    sft = lt_sft(mlm, model_loss, mlm_batches(seed=seed), language_sft_plan(mlm), config(seed=seed), kind="language",
                 notes={"language": language})
    return sft


@pytest.fixture(scope="module")
def source_and_target():
    return language_sft(11, "en"), language_sft(12, "fo")


def test_task_sft_is_learned_on_top_of_the_source_language_sft(source_and_target):
    source, _ = source_and_target
    tagger = make_tagger(make_mlm())
    theta0, states = snapshot(tagger), []

    def evaluate(model):
        states.append(snapshot(model))
        return 0.0

    task = train_task_sft(tagger, source, model_loss, tagging_batches(), task_sft_plan(tagger), config(), evaluate=evaluate)
    assert same(snapshot(tagger), theta0)  # source SFT removed, model back to theta0
    assert task.info.kind == "task" and task.info.base_fingerprint == base_fingerprint(tagger)
    with applied(tagger, source):
        adapted = snapshot(tagger)  # theta0 + phi_L(source)
    theta_prime = states[-1]
    for name, diff in task.diffs.items():  # phi_T = theta' - (theta0 + phi_L(source))
        want = theta_prime[name].reshape(-1)[diff.indices] - adapted[name].reshape(-1)[diff.indices]
        assert torch.equal(diff.values, want)
    assert not any(name.startswith("cls.") for name in task.diffs)


def test_zero_shot_composes_task_and_target_language_with_the_head(source_and_target):
    source, target = source_and_target
    tagger = make_tagger(make_mlm())
    task = train_task_sft(tagger, source, model_loss, tagging_batches(), task_sft_plan(tagger), config())
    theta0 = snapshot(tagger)
    with applied(tagger, task, target):
        want = snapshot(tagger)
    with zero_shot(tagger, task, target) as model:
        assert same(snapshot(model), want)
        assert torch.equal(model.classifier.weight.detach(), task.heads["classifier.weight"])
        logits = model(input_ids=tagging_batches(1)[0]["input_ids"]).logits
    assert logits.shape[-1] == 5 and not logits.requires_grad
    with zero_shot(tagger, task) as model:  # task adaptation only
        assert torch.equal(model.classifier.weight.detach(), task.heads["classifier.weight"])
    assert same(snapshot(tagger), theta0)


def test_multisource_applies_each_batch_language_for_its_step_only(source_and_target):
    source, target = source_and_target
    tagger = make_tagger(make_mlm())
    theta0 = snapshot(tagger)
    batches = tagging_batches(2, seed=1, language="en") + tagging_batches(2, seed=2, language="fo")
    name = next(iter(source.diffs))
    seen = []

    def loss(model, batch):
        seen.append((batch["language"], dict(model.named_parameters())[name].detach().clone()))
        return model_loss(model, batch)

    sfts = {"en": source, "fo": target}
    task = train_task_sft_multisource(tagger, sfts, lambda b: b["language"], loss, batches, task_sft_plan(tagger),
                                      config(phase1_steps=0, phase2_steps=4), method=bitfit)
    assert same(snapshot(tagger), theta0)
    assert task.info.kind == "task" and task.info.method == "bitfit"
    positions = source.diffs[name].indices
    for language, value in seen[:2]:  # the first two steps are English: its SFT is applied at its positions
        assert language == "en"
        assert torch.equal(value.reshape(-1)[positions], theta0[name].reshape(-1)[positions] + source.diffs[name].values)


def test_switcher_rejects_a_language_without_an_sft():
    switcher = SourceSwitcher({}, lambda batch: batch["language"])
    with pytest.raises(KeyError, match="xx"):
        switcher(make_mlm(), {"language": "xx"})


def test_a_source_sft_from_another_base_is_refused(source_and_target):
    source, _ = source_and_target
    other = make_tagger(make_mlm(seed=9))
    with pytest.raises(InputError, match="different pretrained model"):
        train_task_sft(other, source, model_loss, tagging_batches(), task_sft_plan(other), config())

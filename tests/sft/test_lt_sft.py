import pytest
import torch
from safetensors import safe_open

from langtickets.errors import ConfigError
from langtickets.seeding import derive_seed
from langtickets.sft import (
    LtSftConfig,
    applied,
    bitfit,
    full_finetune,
    language_sft_plan,
    lt_sft,
    rand_sft,
    random_selection,
    task_sft_plan,
    top_k_changed,
)

from .conftest import make_mlm, make_tagger, mlm_batches, model_loss, same, snapshot, tagging_batches

K = 300


def config(**overrides) -> LtSftConfig:
    settings = dict(phase1_steps=3, phase2_steps=3, k=K, lr=1e-2, weight_decay=0.01, l1_phase1=0.1, l1_phase2=0.1,
                    seed=5, progress=False)
    settings.update(overrides)
    return LtSftConfig(**settings)


def recorder(states, scores=None):
    """An evaluation callback that keeps a copy of the model at each evaluation."""
    def evaluate(model):
        states.append(snapshot(model))
        return scores[len(states) - 1] if scores else 0.0
    return evaluate


def support_mask(sft, name, numel):
    mask = torch.zeros(numel, dtype=torch.bool)
    if name in sft.diffs:
        mask[sft.diffs[name].indices] = True
    return mask


def test_language_lt_sft_follows_algorithm_1(mlm):
    plan = language_sft_plan(mlm)
    theta0, states = snapshot(mlm), []
    sft = lt_sft(mlm, model_loss, mlm_batches(), plan, config(), evaluate=recorder(states), kind="language")
    theta1, theta2 = states  # evaluated once, at the end of each phase
    assert sft.k == K and sft.info.kind == "language" and sft.info.method == "lt-sft"
    want = top_k_changed({n: theta1[n] for n in plan.maskable}, {n: theta0[n] for n in plan.maskable}, K)
    assert {n: p for n, p in want.items() if p.numel()}.keys() == sft.diffs.keys()
    for name, positions in sft.diffs.items():
        assert torch.equal(positions.indices, want[name])
        expected = theta2[name].reshape(-1)[positions.indices] - theta0[name].reshape(-1)[positions.indices]
        assert torch.equal(positions.values, expected)
    for name, start in theta0.items():  # outside the mask: bitwise theta0 after phase 2, weight decay or not
        outside = ~support_mask(sft, name, start.numel())
        assert torch.equal(theta2[name].reshape(-1)[outside], start.reshape(-1)[outside]), name
    frozen = [n for n in theta0 if "LayerNorm" in n] + ["cls.predictions.decoder.weight"]
    assert all(torch.equal(theta1[n], theta0[n]) and torch.equal(theta2[n], theta0[n]) for n in frozen)
    assert not set(frozen) & set(sft.diffs)
    assert same(snapshot(mlm), theta0)  # the model is handed back at theta0


def test_selected_entries_that_end_at_theta0_still_count():
    mlm = make_mlm()
    sft = lt_sft(mlm, model_loss, mlm_batches(), language_sft_plan(mlm), config(phase2_steps=0))
    assert sft.k == K
    assert all(torch.count_nonzero(diff.values) == 0 for diff in sft.diffs.values())


def test_best_checkpoints_of_both_phases_are_kept(mlm):
    plan = language_sft_plan(mlm)
    theta0, states = snapshot(mlm), []
    scores = [3.0, 1.0, 2.0, 5.0, 4.0, 6.0]  # phase 1 best at step 2, phase 2 best at step 2
    sft = lt_sft(mlm, model_loss, mlm_batches(), plan, config(eval_every=1), evaluate=recorder(states, scores))
    best1, best2 = states[1], states[4]
    want = top_k_changed({n: best1[n] for n in plan.maskable}, {n: theta0[n] for n in plan.maskable}, K)
    for name, diff in sft.diffs.items():
        assert torch.equal(diff.indices, want[name])
        assert torch.equal(diff.values, best2[name].reshape(-1)[diff.indices] - theta0[name].reshape(-1)[diff.indices])
    assert sft.info.notes["phase1_best_step"] == "2" and sft.info.notes["phase2_best_step"] == "2"


def test_task_head_trains_in_both_phases_from_the_same_initialisation(mlm):
    tagger = make_tagger(mlm)
    initial_head = tagger.classifier.weight.detach().clone()
    seen = []

    def loss(model, batch):
        seen.append((model.classifier.weight.detach().clone(), snapshot(model)))
        return model_loss(model, batch)

    theta0 = snapshot(tagger)
    cfg = config(phase1_steps=2, phase2_steps=2, l1_phase1=0.0, l1_phase2=0.0)
    sft = lt_sft(tagger, loss, tagging_batches(), task_sft_plan(tagger), cfg, kind="task")
    assert torch.equal(seen[0][0], initial_head) and torch.equal(seen[2][0], initial_head)  # each phase's start
    assert same(seen[2][1], theta0)  # phase 2 starts from theta0 exactly
    assert set(sft.heads) == {"classifier.weight", "classifier.bias"}
    assert not torch.equal(sft.heads["classifier.weight"], initial_head)
    assert same(snapshot(tagger), theta0)


def test_phase_2_skips_gradients_of_tensors_without_selected_entries(mlm):
    plan = language_sft_plan(mlm)
    flags = []

    def loss(model, batch):
        flags.append({name: param.requires_grad for name, param in model.named_parameters()})
        return model_loss(model, batch)

    mlm.bert.embeddings.position_embeddings.weight.requires_grad_(False)  # a caller's own choice survives
    sft = lt_sft(mlm, loss, mlm_batches(), plan, config(k=5, phase1_steps=2, phase2_steps=1))
    phase2 = flags[-1]
    assert {name for name, on in phase2.items() if on} == set(sft.diffs)
    assert all(flags[0][name] for name in plan.maskable)  # phase 1 trains every maskable tensor
    assert mlm.bert.embeddings.position_embeddings.weight.requires_grad is False
    assert mlm.bert.embeddings.word_embeddings.weight.requires_grad is True


def test_reruns_give_identical_files(tmp_path):
    for name in ("a", "b"):
        model = make_mlm()
        lt_sft(model, model_loss, mlm_batches(), language_sft_plan(model), config()).save(tmp_path / name)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_rand_sft_trains_k_seeded_random_maskable_positions(mlm):
    plan = language_sft_plan(mlm)
    theta0, states = snapshot(mlm), []
    sft = rand_sft(mlm, model_loss, mlm_batches(), plan, config(), evaluate=recorder(states))
    numels = {name: theta0[name].numel() for name in plan.maskable}
    want = random_selection(numels, K, derive_seed(5, "rand-sft"))
    assert sft.k == K and sft.info.method == "rand-sft"
    assert all(torch.equal(diff.indices, want[name]) for name, diff in sft.diffs.items())
    assert set(sft.diffs) <= set(plan.maskable)
    (theta2,) = states
    for name, start in theta0.items():
        outside = ~support_mask(sft, name, start.numel())
        assert torch.equal(theta2[name].reshape(-1)[outside], start.reshape(-1)[outside])


def test_bitfit_touches_biases_only(mlm):
    tagger = make_tagger(mlm)
    plan = task_sft_plan(tagger)
    theta0, states = snapshot(tagger), []
    sft = bitfit(tagger, model_loss, tagging_batches(), plan, config(), evaluate=recorder(states))
    params = dict(tagger.named_parameters())
    biases = [n for n in plan.maskable if n.endswith(".bias")]
    assert sorted(sft.diffs) == sorted(biases) and sft.k == sum(params[n].numel() for n in biases)
    assert all(diff.indices.numel() == diff.numel for diff in sft.diffs.values())
    (theta2,) = states
    changed = {n for n in theta0 if not torch.equal(theta2[n], theta0[n])}
    assert changed <= set(biases) | {"classifier.weight", "classifier.bias"}


def test_full_finetune_is_stored_without_positions(tmp_path, mlm):
    plan = language_sft_plan(mlm)
    sft = full_finetune(mlm, model_loss, mlm_batches(), plan, config(phase2_steps=2))
    assert sft.k == plan.n_maskable(mlm) and sft.density == 1.0
    sft.save(tmp_path / "full.safetensors")
    with safe_open(str(tmp_path / "full.safetensors"), framework="pt") as handle:
        assert handle.get_tensor("sparse.indices").numel() == 0


def test_config_is_validated():
    with pytest.raises(ConfigError):
        LtSftConfig(phase1_steps=1, phase2_steps=1, k=3, density=0.1)
    with pytest.raises(ConfigError):
        LtSftConfig(phase1_steps=-1, phase2_steps=1, k=3)
    with pytest.raises(ConfigError, match="k or density"):
        LtSftConfig(phase1_steps=1, phase2_steps=1).resolve_k(100)
    with pytest.raises(ConfigError, match="K=101"):
        LtSftConfig(phase1_steps=1, phase2_steps=1, k=101).resolve_k(100)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lt_sft_on_a_gpu_keeps_the_mask_exact():
    model = make_mlm().cuda()
    theta0, states = snapshot(model), []
    sft = lt_sft(model, model_loss, [{k: v.cuda() for k, v in b.items()} for b in mlm_batches()],
                 language_sft_plan(model), config(), evaluate=recorder(states))
    assert sft.k == K and all(diff.indices.device.type == "cpu" for diff in sft.diffs.values())
    for name, start in theta0.items():
        outside = ~support_mask(sft, name, start.numel()).cuda()
        assert torch.equal(states[-1][name].reshape(-1)[outside], start.reshape(-1)[outside])
    with applied(model, sft):
        pass
    assert same(snapshot(model), theta0)

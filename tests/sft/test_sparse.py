import os

import pytest
import torch
from safetensors.torch import save_file

from langtickets.errors import InputError
from langtickets.sft import (
    SftInfo,
    SparseDiff,
    SparseFineTuning,
    applied,
    applied_sfts,
    base_fingerprint,
    compose,
    random_selection,
)

from .conftest import make_mlm, make_tagger, same, snapshot

WORD = "bert.embeddings.word_embeddings.weight"
QUERY = "bert.encoder.layer.0.attention.self.query.weight"
TRANSFORM = "cls.predictions.transform.dense.weight"


def random_sft(model, density=0.05, seed=0, names=None, scale=1.0, **info) -> SparseFineTuning:
    params = dict(model.named_parameters())
    names = names or [WORD, QUERY, TRANSFORM]
    support = random_selection({name: params[name].numel() for name in names}, round(density * 3000), seed)
    generator = torch.Generator().manual_seed(seed)
    diffs = {
        name: SparseDiff(pos, scale * torch.randn(pos.numel(), generator=generator), tuple(params[name].shape), name.startswith("cls."))
        for name, pos in support.items()
    }
    return SparseFineTuning(diffs, info=SftInfo(kind="language", n_maskable=3000, model_type="bert", **info))


def test_apply_then_revert_restores_the_model_bitwise(mlm):
    before = snapshot(mlm)
    sft = random_sft(mlm, scale=1e-3)  # small differences make (w + v) - v != w likely
    sft.apply(mlm)
    assert not same(snapshot(mlm), before)
    sft.revert(mlm)
    assert same(snapshot(mlm), before)
    assert applied_sfts(mlm) == []


def test_apply_adds_the_differences_at_the_support_only(mlm):
    before = snapshot(mlm)
    sft = random_sft(mlm)
    sft.apply(mlm)
    after = snapshot(mlm)
    for name in before:
        changed = torch.nonzero((after[name] != before[name]).reshape(-1)).squeeze(1)
        diff = sft.diffs.get(name)
        if diff is None:
            assert changed.numel() == 0
            continue
        assert set(changed.tolist()) <= set(diff.indices.tolist())
        expected = before[name].reshape(-1)[diff.indices] + diff.values
        assert torch.equal(after[name].reshape(-1)[diff.indices], expected)


def test_subtraction_revert_is_only_approximately_exact():
    model = make_mlm()
    base = snapshot(model)
    sft = random_sft(model, scale=1e-3)
    sft.apply(model)
    applied_elsewhere = make_mlm()
    applied_elsewhere.load_state_dict(model.state_dict())
    with pytest.raises(RuntimeError, match="not applied"):
        sft.revert(applied_elsewhere)
    sft.revert(applied_elsewhere, by_subtraction=True)
    assert not same(snapshot(applied_elsewhere), base)  # why apply() keeps the overwritten values
    for name, param in applied_elsewhere.named_parameters():
        torch.testing.assert_close(param.detach(), base[name], rtol=0, atol=1e-6)


def test_stacked_applications_revert_last_in_first_out(mlm):
    before = snapshot(mlm)
    first, second = random_sft(mlm, seed=1), random_sft(mlm, seed=2)
    first.apply(mlm)
    second.apply(mlm)
    with pytest.raises(RuntimeError, match="revert that one first"):
        first.revert(mlm)
    second.revert(mlm)
    first.revert(mlm)
    assert same(snapshot(mlm), before)


def test_applied_context_reverts_even_on_error(mlm):
    before = snapshot(mlm)
    with pytest.raises(KeyError):
        with applied(mlm, random_sft(mlm, seed=1), random_sft(mlm, seed=2)):
            raise KeyError("boom")
    assert same(snapshot(mlm), before)


def test_heads_are_copied_in_and_restored(mlm):
    tagger = make_tagger(mlm)
    before = snapshot(tagger)
    head = torch.full_like(tagger.classifier.weight, 0.5)
    sft = SparseFineTuning({}, {"classifier.weight": head})
    with applied(tagger, sft):
        assert torch.equal(tagger.classifier.weight.detach(), head)
    assert same(snapshot(tagger), before)


def test_composition_is_the_sum_of_the_differences(mlm):
    a, b = random_sft(mlm, density=0.3, seed=1), random_sft(mlm, density=0.3, seed=2)
    both = a + b
    for name in both.diffs:
        dense = torch.zeros(both.diffs[name].numel)
        for part in (a, b):
            if name in part.diffs:
                dense[part.diffs[name].indices] += part.diffs[name].values
        union = set(a.diffs[name].indices.tolist()) | set(b.diffs[name].indices.tolist())
        assert both.diffs[name].indices.tolist() == sorted(union)
        assert torch.equal(both.diffs[name].values, dense[both.diffs[name].indices])
    base = snapshot(mlm)
    with applied(mlm, a, b):
        stacked = snapshot(mlm)
    with applied(mlm, both):
        summed = snapshot(mlm)
    for name in base:
        torch.testing.assert_close(summed[name], stacked[name], rtol=0, atol=1e-6)


def test_composition_rejects_two_heads_and_different_bases(mlm):
    head = SparseFineTuning({}, {"classifier.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match="head"):
        compose(head, head)
    with pytest.raises(ValueError, match="different base"):
        compose(random_sft(mlm, base_fingerprint="a"), random_sft(mlm, base_fingerprint="b"))


def test_save_load_round_trip_is_exact_and_deterministic(tmp_path, mlm):
    tagger = make_tagger(mlm)
    sft = random_sft(mlm, seed=3, base_fingerprint=base_fingerprint(mlm), notes={"language": "fo"})
    full = SparseDiff(torch.arange(32), torch.randn(32), (32,))
    sft = SparseFineTuning({**sft.diffs, "bert.encoder.layer.1.output.dense.bias": full},
                           {"classifier.weight": tagger.classifier.weight.detach().clone()}, sft.info)
    sft.save(tmp_path / "a.safetensors")
    sft.save(tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    back = SparseFineTuning.load(tmp_path / "a.safetensors")
    assert back.info == sft.info and back.k == sft.k and back.source == str(tmp_path / "a.safetensors")
    for name, diff in sft.diffs.items():
        assert torch.equal(back.diffs[name].indices, diff.indices)
        assert torch.equal(back.diffs[name].values, diff.values)
        assert back.diffs[name].shape == diff.shape and back.diffs[name].optional == diff.optional
    assert torch.equal(back.heads["classifier.weight"], sft.heads["classifier.weight"])


def test_loading_into_another_architecture_names_the_file_and_fix(tmp_path, mlm):
    path = tmp_path / "fo.safetensors"
    random_sft(mlm).save(path)
    wider = make_mlm(hidden=48)
    before = snapshot(wider)
    with pytest.raises(InputError, match=r"fo\.safetensors.*shape|fo\.safetensors.*is \(") as error:
        SparseFineTuning.load(path).apply(wider)
    assert "retrain" in str(error.value)
    assert same(snapshot(wider), before)  # nothing applied partially


def test_missing_encoder_parameter_is_an_error_but_mlm_head_entries_are_optional(tmp_path, mlm):
    tagger = make_tagger(mlm)
    path = tmp_path / "fo.safetensors"
    random_sft(mlm).save(path)
    sft = SparseFineTuning.load(path)
    with applied(tagger, sft):  # the MLM head transform is skipped: a tagger has none
        pass
    renamed = {"roberta." + name: diff for name, diff in sft.diffs.items()}
    with pytest.raises(InputError, match="has no parameter 'roberta"):
        SparseFineTuning(renamed, source=path).apply(tagger)


def test_corrupt_and_foreign_files_raise_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        SparseFineTuning.load(tmp_path / "absent.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 40)
    with pytest.raises(InputError, match="junk.safetensors"):
        SparseFineTuning.load(junk)
    foreign = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(InputError, match="not a langtickets SFT"):
        SparseFineTuning.load(foreign)


def test_verify_base_detects_another_pretrained_variant(mlm):
    sft = random_sft(mlm, base_fingerprint=base_fingerprint(mlm))
    sft.verify_base(mlm)
    with pytest.raises(InputError, match="different pretrained model"):
        sft.verify_base(make_mlm(seed=5))


def test_file_size_is_at_most_three_quarters_of_index_value_pairs(tmp_path):
    # a realistic language-SFT density (4.3% for mBERT, section 4.2) over a ~0.9M-parameter model
    model = make_mlm(hidden=128)
    params = dict(model.named_parameters())
    numels = {name: param.numel() for name, param in params.items()}
    k = round(0.043 * sum(numels.values()))
    support = random_selection(numels, k, seed=0)
    diffs = {name: SparseDiff(pos, torch.randn(pos.numel()), tuple(params[name].shape)) for name, pos in support.items()}
    path = tmp_path / "sft.safetensors"
    SparseFineTuning(diffs).save(path)
    ratio = os.path.getsize(path) / (k * 8)
    assert ratio <= 0.75, ratio

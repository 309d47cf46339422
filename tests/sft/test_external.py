"""Language SFTs of Hugging Face models (tasks.external_models): a tiny BERT and a tiny XLM-R with their own fast
tokenizers, saved locally with save_pretrained (nothing from the hub). The tokenize stage encodes text with the
model's tokenizer; language-sft trains on it with the plan of section 4.2 (output embeddings and LayerNorm
frozen), exactly K entries, and apply/revert restores the model bitwise."""

from __future__ import annotations

import gzip

import pytest
import torch

from langtickets.cli import main
from langtickets.errors import InputError
from langtickets.io import read_json, write_json
from langtickets.mlm import shard_special_ids
from langtickets.sft import SparseFineTuning
from langtickets.sft.cli import Budget
from langtickets.sft.language_stage import LanguageSftSettings, language_data, max_positions, open_shard, train_one
from langtickets.sft.params import layer_norm_parameter_names
from langtickets.sft.taskmodel import load_language_sft, sft_task_model
from langtickets.tasks.encoders import load_masked_lm, load_pretrained
from langtickets.tasks.records import LabelSet
from langtickets.tokens import TokenShard, check_tokenizer

from .external_fixtures import TEXTS, save_external_model

K = 40
SETTINGS = LanguageSftSettings(seed=3, max_epochs=0, max_steps=4, min_steps=0, batch_size=4, seq_len=16, lr=0.01,
                               eval_every=2, eval_batches=2, progress=False)  # fmt: skip


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def external(request, tmp_path_factory):
    """(kind, model folder, token folder): the model saved with its tokenizer, and 'qaa' text tokenized by it."""
    root = tmp_path_factory.mktemp(f"external-{request.param}")
    save_external_model(root / "model", request.param)
    with gzip.open(root / "sentences.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("".join(f"{text}\n{text}\n\n" for _ in range(6) for text in TEXTS))
    tokens = root / "tokens" / "qaa"
    argv = ["tokenize", "--lang", "qaa", "--sentences", str(root / "sentences.txt.gz"), "--hf-tokenizer",
            str(root / "model"), "--train", str(tokens / "train.bin"), "--valid", str(tokens / "valid.bin"),
            "--meta", str(tokens / "meta.json"), "--validation-fraction", "0.2"]  # fmt: skip
    assert main(argv) == 0
    return request.param, root / "model", tokens


def test_tokenize_records_the_external_tokenizer_and_its_special_ids(external):
    kind, model_dir, tokens = external
    meta = read_json(tokens / "meta.json")
    assert meta["tokenizer_source"] == str(model_dir) and meta["unk_rate"] == 0.0
    expected = {"pad": 0, "unk": 1, "cls": 2, "sep": 3} if kind == "bert" else {"pad": 1, "unk": 3, "cls": 0, "sep": 2}
    assert {role: meta["special_ids"][role] for role in expected} == expected
    check_tokenizer(meta, model_dir)  # the folder's tokenizer.json is the one recorded
    shard = TokenShard.open(tokens)
    sep = meta["special_ids"]["sep"]
    assert int((shard.train == sep).sum()) == meta["splits"]["train"]["documents"]  # one separator per document
    assert shard_special_ids(shard)[3] == sep


def _plan_checks(model, before, sft: SparseFineTuning, frozen: set[str], output_name: str) -> None:
    """After train_one: theta0 restored, the SFT touches no frozen parameter, apply then revert is bitwise."""
    params = dict(model.named_parameters())
    assert all(torch.equal(params[name], before[name]) for name in before)  # LT-SFT rewinds to theta0
    assert not set(sft.diffs) & (frozen | {output_name}) and not set(sft.heads) & (frozen | {output_name})
    assert sft.k == K and sum(int((d.values != 0).sum()) for d in sft.diffs.values()) <= K
    sft.apply(model)
    applied = dict(model.named_parameters())
    assert torch.equal(applied[output_name], before[output_name])  # output embeddings frozen (section 4.2)
    assert all(torch.equal(applied[name], before[name]) for name in frozen)  # LayerNorm frozen
    changed = sum(int((applied[name] != before[name]).sum()) for name in sft.diffs)
    assert 0 < changed <= K
    sft.revert(model)
    assert all(torch.equal(param, before[name]) for name, param in model.named_parameters())


def test_language_sft_of_an_external_model_keeps_the_frozen_parts(external):
    kind, model_dir, tokens = external
    model = load_masked_lm(model_dir)
    assert model.base_model_prefix == ("bert" if kind == "bert" else "roberta")
    shard = open_shard(tokens, "qaa", model_dir, model.config.vocab_size)
    assert max_positions(model) == 32  # XLM-R's 34 positions start after <pad>=1
    data = language_data(shard, "qaa", SETTINGS, model.config.vocab_size)
    frozen = layer_norm_parameter_names(model)
    notes = {"lang": "qaa", "encoder_prefix": f"{model.base_model_prefix}."}
    sft, losses = train_one(model, data, "lt-sft", Budget(k=K), SETTINGS, notes)
    # train_one untied the output embeddings (a copy of theta0's input embeddings) and left the model at theta0
    output_name = next(name for name, p in model.named_parameters() if p is model.get_output_embeddings().weight)
    assert model.get_output_embeddings().weight is not model.get_input_embeddings().weight
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    prefix = f"{model.base_model_prefix}."
    assert sft.diffs and all(name.startswith(prefix) for name in sft.diffs)  # K spent on the encoder
    assert sft.heads and not any(name.startswith(prefix) for name in sft.heads)  # the MLM head trains densely
    assert any("LayerNorm" in name or "layer_norm" in name for name in frozen) and losses["base"] > 0
    _plan_checks(model, before, sft, frozen, output_name)


def test_language_sft_cli_on_a_local_external_model(external, tmp_path):
    kind, model_dir, tokens = external
    argv = ["language-sft", "--model", str(model_dir), "--model-name", kind, "--lang", "qaa", "--tokens", str(tokens),
            "--out-dir", str(tmp_path), "--methods", "lt-sft", "bitfit", "--k", str(K), "--max-steps", "3",
            "--min-steps", "0", "--batch-size", "4", "--seq-len", "16", "--eval-every", "0", "--eval-batches", "1",
            "--seed", "1", "--device", "cpu", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    sft = SparseFineTuning.load(tmp_path / "lt-sft.safetensors")
    info = read_json(tmp_path / "lt-sft.json")
    assert sft.k == K and info["k"] == K and info["model"] == kind
    prefix = "bert." if kind == "bert" else "roberta."
    assert sft.info.notes["encoder_prefix"] == prefix and all(name.startswith(prefix) for name in sft.diffs)
    bitfit = SparseFineTuning.load(tmp_path / "bitfit.safetensors")
    assert all(name.endswith(".bias") for name in bitfit.diffs)
    model = load_masked_lm(model_dir)
    pristine = {name: param.detach().clone() for name, param in model.named_parameters()}
    sft.apply(model)
    sft.revert(model)
    assert all(torch.equal(param, pristine[name]) for name, param in model.named_parameters())


def test_hub_tokenized_shard_is_refused_for_another_model(external, tmp_path):
    kind, model_dir, tokens = external
    meta = read_json(tokens / "meta.json")
    forged = tmp_path / "tokens"
    forged.mkdir()
    for name in ("train.bin", "valid.bin"):
        (forged / name).write_bytes((tokens / name).read_bytes())
    write_json(forged / "meta.json", {**meta, "tokenizer_source": "xlm-roberta-base"})
    with pytest.raises(InputError, match="tokenized with 'xlm-roberta-base'"):
        open_shard(forged, "qaa", tmp_path / "bert-base-multilingual-cased", 10**6)  # a hub name: no such folder


def test_language_sft_composes_on_the_task_stages_encoder(external, tmp_path):
    """task-sft and sft-transfer-eval load the encoder (AutoModel) of the same folder: the renamed language SFT
    fits it, its base fingerprint matches, and apply/revert is exact there too."""
    kind, model_dir, tokens = external
    model = load_masked_lm(model_dir)
    data = language_data(open_shard(tokens, "qaa", model_dir, model.config.vocab_size), "qaa", SETTINGS,
                         model.config.vocab_size)  # fmt: skip
    sft, _ = train_one(model, data, "lt-sft", Budget(k=K), SETTINGS, {"encoder_prefix": f"{model.base_model_prefix}."})
    sft.save(tmp_path / "lt-sft.safetensors")
    pretrained = load_pretrained(model_dir)
    task_model = sft_task_model(pretrained.fresh_encoder(), "pos", LabelSet(["NOUN", "VERB"]), 0, {})
    language = load_language_sft(tmp_path / "lt-sft.safetensors")
    language.verify_base(task_model)
    assert language.k == K and all(name.startswith("encoder.") for name in language.diffs)
    before = {name: param.detach().clone() for name, param in task_model.named_parameters()}
    language.apply(task_model)
    assert any(not torch.equal(p, before[n]) for n, p in task_model.named_parameters())
    language.revert(task_model)
    assert all(torch.equal(param, before[name]) for name, param in task_model.named_parameters())

"""model: architectures of the paper, seeded initialisation, Hugging Face layout on disk."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForMaskedLM, AutoTokenizer

import pytest
from langtickets.cli import main as cli_main
from langtickets.errors import ConfigError
from langtickets.io import read_json
from langtickets.model import ArchConfig, architectures, init_model, load_model, read_arch, save_model
from tests.ticket_fixtures import VOCAB, mlm_batch, tiny_arch


def write_tokenizer(path):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]
    tokenizer = Tokenizer(models.WordPiece({word: i for i, word in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))
    return path


def test_architectures_follow_the_paper():
    base = ArchConfig(vocab_size=1000)
    archs = architectures(base, scaled_layers=16, wide_factor=1.1)
    assert archs["base"] == base
    assert (archs["scaled"].layers, archs["scaled"].hidden) == (16, 768)
    wide = archs["wide"]
    # 768 * 1.1 = 844.8 -> nearest multiple of 12 heads is 840; 3072 * 1.1 = 3379.2 -> 3379
    assert (wide.layers, wide.hidden, wide.intermediate, wide.heads) == (12, 840, 3379, 12)
    assert wide.hidden % wide.heads == 0


def test_bad_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="not divisible"):
        ArchConfig(vocab_size=100, hidden=30, heads=4)
    with pytest.raises(ConfigError, match="scaled_layers"):
        architectures(ArchConfig(vocab_size=100), scaled_layers=8)


def test_same_seed_gives_bitwise_identical_weights_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    first, second, other = (init_model(tiny_arch(), seed) for seed in (7, 7, 8))
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), b, c in zip(first.state_dict().items(), second.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b), name
    weight = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])
    assert 0.015 < float(first.state_dict()[weight].std()) < 0.025  # BERT's N(0, 0.02) initialisation


def test_saved_model_loads_with_auto_classes_and_gives_same_logits(tmp_path):
    model = init_model(tiny_arch(), 3)
    out = tmp_path / "init"
    save_model(model, out, name="scaled", seed=3, tokenizer=write_tokenizer(tmp_path / "tokenizer.json"))
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    loaded = AutoModelForMaskedLM.from_pretrained(out).eval()
    batch = mlm_batch()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    assert AutoTokenizer.from_pretrained(out).convert_tokens_to_ids("[MASK]") == 4
    name, arch = read_arch(out)
    assert (name, arch) == ("scaled", tiny_arch())


def test_init_model_cli_is_reproducible(tmp_path):
    tokenizer = write_tokenizer(tmp_path / "tokenizer.json")
    common = ["init-model", "--tokenizer", str(tokenizer), "--hidden", "16", "--layers", "2", "--heads", "4",
              "--intermediate", "32", "--scaled-layers", "3", "--max-position", "64", "--seed", "5"]
    for run in ("a", "b"):
        assert cli_main([*common, "--arch", "scaled", "--out", str(tmp_path / run)]) == 0
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    model = load_model(tmp_path / "a")
    assert (model.config.num_hidden_layers, model.config.vocab_size) == (3, VOCAB)
    assert read_json(tmp_path / "a" / "arch.json")["name"] == "scaled"


def test_init_model_cli_rejects_bad_shape(tmp_path, capsys):
    code = cli_main(["init-model", "--vocab-size", "50", "--hidden", "30", "--heads", "4", "--seed", "1",
                     "--out", str(tmp_path / "m")])
    assert code == 2 and "not divisible" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()

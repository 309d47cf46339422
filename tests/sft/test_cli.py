"""The SFT stages end to end on tiny inputs: language-sft -> task-sft -> sft-transfer-eval (and sft-sweep),
byte-identical reruns, composition, ticket masks, and one-line errors for bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from langtickets.cli import main
from langtickets.io import read_json, write_json
from langtickets.masks import TicketMasks
from langtickets.sft import SparseFineTuning, zero_shot
from langtickets.sft.taskmodel import head_of, load_language_sft, load_task_sft, sft_task_model
from langtickets.tasks.encoders import load_pretrained
from langtickets.tokens import FORMAT, file_sha256
from tests.tasks.finetune_fixtures import SEED, build_world

LANGS = ("qaa", "qac")
RUNTIME = ["--seed", str(SEED), "--device", "cpu", "--threads", "1"]
LANGUAGE = ["--max-steps", "6", "--min-steps", "0", "--batch-size", "4", "--seq-len", "24", "--lr", "0.005",
            "--eval-every", "3", "--eval-batches", "2", *RUNTIME]  # fmt: skip
TASK = ["--epochs", "1", "--phase1-epochs", "1", "--max-steps", "4", "--batch-size", "8", "--lr", "0.005",
        "--eval-every", "2", "--max-length", "64", *RUNTIME]  # fmt: skip


def write_shard(world, lang: str, model_dir) -> None:
    """The language's demo text, tokenized with the world's vocabulary, as a token folder."""
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    lines = [line[9:].strip() for line in open(world.file(lang, "ud-train.conllu"), encoding="utf-8")
             if line.startswith("# text = ")]  # fmt: skip
    ids = np.concatenate([np.array(tokenizer.encode(line, add_special_tokens=False).ids + [3]) for line in lines])
    folder = world.root / "tokens" / lang
    folder.mkdir(parents=True, exist_ok=True)
    cut = len(ids) * 9 // 10
    ids[:cut].astype("<u2").tofile(folder / "train.bin")
    ids[cut:].astype("<u2").tofile(folder / "valid.bin")
    split = lambda n: {"documents": 1, "sentences": 1, "tokens": int(n), "unk_tokens": 0, "unk_rate": 0.0}
    write_json(folder / "meta.json", {
        "format": FORMAT, "lang": lang, "dtype": "uint16", "byteorder": "little",
        "vocab_size": tokenizer.get_vocab_size(), "tokenizer_sha256": file_sha256(model_dir / "tokenizer.json"),
        "special_ids": {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4},
        "files": {"train": "train.bin", "valid": "valid.bin"},
        "splits": {"train": split(cut), "valid": split(len(ids) - cut)},
    })  # fmt: skip


def errors(capsys) -> list[str]:
    """The error lines of the last command (progress bars share stderr)."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def language_sft(world, lang, out, *extra, model=None):
    model = model or world.dense
    return main(["language-sft", "--model", str(model), "--model-name", "dense", "--lang", lang, "--tokens",
                 str(world.root / "tokens" / lang), "--out-dir", str(out), *LANGUAGE, *extra])  # fmt: skip


def task_sft(world, out, method="lt-sft", sources=("qaa",), sfts=None, *extra, model=None):
    sfts = sfts or {}
    argv = ["task-sft", "--model", str(model or world.dense), "--model-name", "dense", "--method", method,
            "--source", *sources, "--task", "pos", "--format", "conllu",
            "--train", *(f"{l}={world.file(l, 'ud-train.conllu')}" for l in sources),
            "--dev", *(f"{l}={world.file(l, 'ud-dev.conllu')}" for l in sources),
            "--out-dir", str(out), *TASK]  # fmt: skip
    if sfts:
        argv += ["--language-sft", *(f"{lang}={path}" for lang, path in sfts.items())]
    if method in ("lt-sft", "rand-sft"):
        argv += ["--k", "500"]
    return main(argv + list(extra))


def transfer(world, out, task_sfts, language, *extra, targets=LANGS, model=None):
    argv = ["sft-transfer-eval", "--model", str(model or world.dense), "--model-name", "dense", "--task", "pos",
            "--source", "qaa", "--task-sft", *(f"{m}={d}" for m, d in task_sfts.items()), "--format", "conllu",
            "--target", *(f"{l}={world.file(l, 'ud-test.conllu')}" for l in targets), "--max-length", "64",
            "--out-dir", str(out), *RUNTIME]  # fmt: skip
    if language:
        argv += ["--language-sft", *(f"{key}={path}" for key, path in language.items())]
    return main(argv + list(extra))


@pytest.fixture(scope="module")
def world(tmp_path_factory, repo_root):
    world = build_world(tmp_path_factory.mktemp("sft-cli-world"), repo_root)
    for lang in LANGS:
        write_shard(world, lang, world.dense)
    return world


@pytest.fixture(scope="module")
def sfts(world):
    """Language SFTs (LT-SFT and BitFit) for qaa and qac, and a POS LT-SFT task SFT from qaa."""
    root = world.root / "sft"
    for lang in LANGS:
        assert language_sft(world, lang, root / "language" / lang, "--methods", "lt-sft", "bitfit", "--k", "300") == 0
    language = {lang: root / "language" / lang / "lt-sft.safetensors" for lang in LANGS}
    assert task_sft(world, root / "task", "lt-sft", ("qaa",), {"qaa": language["qaa"]}, "--runs", "0", "1") == 0
    return root


def test_language_sft_has_exactly_k_entries_in_the_encoder_and_mlm_head(world, sfts):
    sft = SparseFineTuning.load(sfts / "language" / "qaa" / "lt-sft.safetensors")
    info = read_json(sfts / "language" / "qaa" / "lt-sft.json")
    assert sft.k == info["k"] == info["nonzero"] == 300 and sft.info.kind == "language"
    assert not any("LayerNorm" in name or name == "cls.predictions.decoder.weight" for name in sft.diffs)  # §4.2
    assert info["valid_loss"]["sft"] < info["valid_loss"]["base"]
    bitfit = SparseFineTuning.load(sfts / "language" / "qaa" / "bitfit.safetensors")
    assert all(name.endswith("bias") for name in bitfit.diffs) and bitfit.info.method == "bitfit"


def test_reruns_write_byte_identical_sft_files(world, sfts, tmp_path):
    assert language_sft(world, "qaa", tmp_path / "lang", "--methods", "lt-sft", "bitfit", "--k", "300") == 0
    for name in ("lt-sft.safetensors", "lt-sft.json", "bitfit.safetensors"):
        assert (tmp_path / "lang" / name).read_bytes() == (sfts / "language" / "qaa" / name).read_bytes()
    source = {"qaa": sfts / "language" / "qaa" / "lt-sft.safetensors"}
    assert task_sft(world, tmp_path / "task", "lt-sft", ("qaa",), source, "--runs", "0", "1") == 0
    for name in ("seed0.safetensors", "seed1.json"):
        assert (tmp_path / "task" / name).read_bytes() == (sfts / "task" / name).read_bytes()
    assert (sfts / "task" / "seed0.safetensors").read_bytes() != (sfts / "task" / "seed1.safetensors").read_bytes()


def test_task_sft_records_its_source_sft_and_head(world, sfts):
    record = read_json(sfts / "task" / "seed0.json")
    assert record["k"] == 500 and record["sources"] == ["qaa"] and record["language_sfts"]["qaa"]["method"] == "lt-sft"
    sft = load_task_sft(sfts / "task" / "seed0.safetensors", "pos")
    labels, head = head_of(sft)
    assert len(labels) == 17 and sorted(sft.heads) == ["head.classifier.bias", "head.classifier.weight"]
    assert all(name.startswith("encoder.") and "LayerNorm" not in name for name in sft.diffs)


def test_transfer_is_theta0_plus_task_plus_target_language_diffs(world, sfts):
    pretrained = load_pretrained(world.dense)
    base = {name: value.clone() for name, value in pretrained.encoder.named_parameters()}
    task = load_task_sft(sfts / "task" / "seed0.safetensors", "pos")
    language = load_language_sft(sfts / "language" / "qac" / "lt-sft.safetensors")
    labels, head = head_of(task)
    model = sft_task_model(pretrained.encoder, "pos", labels, 0, head)
    with zero_shot(model, task, language):
        params = dict(model.named_parameters())
        for name, value in base.items():
            expected = value.clone().reshape(-1)
            for sft in (task, language):
                if f"encoder.{name}" in sft.diffs:
                    diff = sft.diffs[f"encoder.{name}"]
                    expected.index_add_(0, diff.indices, diff.values)
            assert torch.allclose(params[f"encoder.{name}"].reshape(-1), expected, atol=1e-6), name
        assert torch.equal(params["head.classifier.weight"], task.heads["head.classifier.weight"])
    assert all(torch.equal(value, base[name]) for name, value in pretrained.encoder.named_parameters())


def test_transfer_eval_scores_composed_and_task_only(world, sfts, tmp_path):
    language = {f"lt-sft:{lang}": sfts / "language" / lang / "lt-sft.safetensors" for lang in LANGS}
    runs = ["--runs", "0", "1"]
    assert transfer(world, tmp_path, {"lt-sft": sfts / "task"}, language, "--task-only", "lt-sft", *runs) == 0
    composed = read_json(tmp_path / "lt-sft" / "composed" / "qac" / "seed1.json")
    alone = read_json(tmp_path / "lt-sft" / "task-only" / "qac" / "seed1.json")
    assert [composed[key] for key in ("protocol", "metric", "lang", "run")] == ["sft-transfer", "accuracy", "qac", 1]
    assert 0.0 <= composed["score"] <= 1.0 and composed["test"]["words"] == alone["test"]["words"] > 0
    assert composed["language_sft"]["k"] > 0 and alone["language_sft"] is None
    assert composed["task_sft"]["k"] == 500 and alone["composition"] == "task-only"


def test_missing_language_sft_is_an_error_unless_a_policy_says_otherwise(world, sfts, tmp_path, capsys):
    language = {"lt-sft:qaa": sfts / "language" / "qaa" / "lt-sft.safetensors"}
    assert transfer(world, tmp_path / "strict", {"lt-sft": sfts / "task"}, language) == 2
    error = errors(capsys)
    assert len(error) == 1 and "no language SFT for target 'qac'" in error[0] and not (tmp_path / "strict").exists()
    assert transfer(world, tmp_path / "skip", {"lt-sft": sfts / "task"}, language, "--no-language-sft", "skip") == 0
    assert not (tmp_path / "skip" / "lt-sft" / "composed" / "qac").exists()
    assert transfer(world, tmp_path / "ta", {"lt-sft": sfts / "task"}, language, "--no-language-sft", "task-only") == 0
    assert read_json(tmp_path / "ta" / "lt-sft" / "composed" / "qac" / "seed0.json")["fallback"] == "task-only"


def test_sft_of_another_model_is_refused_in_one_line(world, sfts, tmp_path, capsys):
    source = {"qaa": sfts / "language" / "qaa" / "lt-sft.safetensors"}
    assert task_sft(world, tmp_path / "other", "lt-sft", ("qaa",), source, model=world.ticket) == 2
    error = errors(capsys)
    assert len(error) == 1 and str(source["qaa"]) in error[0] and "different pretrained model" in error[0]
    assert not (tmp_path / "other").exists()
    task = {"qaa": sfts / "task" / "seed0.safetensors"}  # a task SFT where a language SFT belongs
    assert task_sft(world, tmp_path / "kind", "bitfit", ("qaa",), task) == 2
    assert "is a 'task' SFT, not a language SFT" in capsys.readouterr().err


def test_ticket_model_trains_inside_the_language_ticket(world, tmp_path, capsys):
    for lang in LANGS:
        write_shard(world, lang, world.ticket)
    out = tmp_path / "ticket"
    assert language_sft(world, "qaa", out, "--k", "2000", model=world.ticket) == 0
    sft = SparseFineTuning.load(out / "lt-sft.safetensors")
    keep = TicketMasks.load(world.ticket / "masks.safetensors").for_language("qaa")["layer.0.mu_w"]
    diff = sft.diffs["bert.encoder.layer.0.intermediate.dense.bias"]
    changed = diff.indices[diff.values != 0]
    assert changed.numel() > 0 and bool(keep[changed].all())  # units outside the ticket never change
    assert read_json(out / "lt-sft.json")["mask"] == "qaa"
    assert language_sft(world, "qaa", tmp_path / "dense", "--k", "2000", "--tickets", "dense", model=world.ticket) == 0
    assert read_json(tmp_path / "dense" / "lt-sft.json")["mask"] is None
    write_shard(world, "qae", world.ticket)
    assert language_sft(world, "qae", tmp_path / "none", "--k", "10", model=world.ticket) == 2
    assert "has no ticket" in capsys.readouterr().err
    for lang in LANGS:  # the other tests use the dense model's shards
        write_shard(world, lang, world.dense)


def test_multi_source_task_sft_and_the_density_sweep(world, sfts, tmp_path):
    language = {lang: sfts / "language" / lang / "lt-sft.safetensors" for lang in LANGS}
    assert task_sft(world, tmp_path / "ms", "lt-sft", LANGS, language) == 0
    record = read_json(tmp_path / "ms" / "seed0.json")
    assert record["sources"] == list(LANGS) and set(record["data"]) == set(LANGS)
    assert main(["sft-sweep", "--model", str(world.dense), "--model-name", "dense", "--task", "pos", "--source", "qaa",
                 "--source-sft", str(language["qaa"]), "--format", "conllu",
                 f"--train=qaa={world.file('qaa', 'ud-train.conllu')}",
                 "--target", f"qac={world.file('qac', 'ud-test.conllu')}", "--target-sft", f"qac={language['qac']}",
                 "--language-density", "0.3", "--task-densities", "0.01", "1", "--out-dir", str(tmp_path / "sweep"),
                 *TASK]) == 0  # fmt: skip
    cell = read_json(tmp_path / "sweep" / "td1" / "qac" / "seed0.json")
    assert (cell["language_density"], cell["task_density"], cell["task_sft"]["density"]) == (0.3, 1.0, 1.0)
    sparse = read_json(tmp_path / "sweep" / "td0.01" / "qac" / "seed0.json")
    assert sparse["task_sft"]["density"] == pytest.approx(0.01, abs=1e-4)


def test_language_sft_refuses_another_languages_tokens(world, tmp_path, capsys):
    argv = ["language-sft", "--model", str(world.dense), "--model-name", "dense", "--lang", "qac", "--tokens",
            str(world.root / "tokens" / "qaa"), "--out-dir", str(tmp_path), "--k", "10", *LANGUAGE]  # fmt: skip
    assert main(argv) == 2
    error = errors(capsys)
    assert len(error) == 1 and "holds 'qaa' tokens, not 'qac'" in error[0] and not any(tmp_path.iterdir())

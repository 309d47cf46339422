"""Multilingual pretraining: language sampling, one language per batch, ticketed updates, exact resume after
SIGKILL, the saved model, and deterministic perplexity. Tiny hand-made token shards and BERT models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from langtickets.errors import ConfigError, InputError
from langtickets.io import read_json, write_json
from langtickets.masks import MaskSwitch, TicketMasks, TicketShape, apply_masks
from langtickets.mlm import IGNORE_INDEX, SPECIAL_IDS
from langtickets.model import ArchConfig, architectures, init_model, save_model
from langtickets.sampling import LanguageSampler, SeqLenSchedule, smoothed_probabilities

VOCAB = 80
LANGS = ("qaa", "qab", "qac")
TRAIN_TOKENS = {"qaa": 600, "qab": 2400, "qac": 6000}


def lang_ids(index: int) -> range:
    """Each language writes its own id range, so a batch's language can be read off its tokens."""
    return range(5 + 25 * index, 30 + 25 * index)


def write_shard(folder: Path, lang: str, index: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True)
    sizes = {"train": TRAIN_TOKENS[lang], "valid": 300}
    ids_range = lang_ids(index)
    for split, count in sizes.items():
        ids = rng.integers(ids_range.start, ids_range.stop, size=count).astype("<u2")
        ids[19::20] = 3  # a [SEP] after every 20-token "document"
        (folder / f"{split}.bin").write_bytes(ids.tobytes())
    write_json(folder / "meta.json", {
        "format": "langtickets-tokens/1", "lang": lang, "dtype": "uint16", "byteorder": "little",
        "vocab_size": VOCAB, "tokenizer_sha256": "0" * 64,
        "special_ids": {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4},
        "files": {"train": "train.bin", "valid": "valid.bin"},
        "splits": {split: {"tokens": count, "documents": count // 20} for split, count in sizes.items()},
    })


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """Token shards of three languages, base/scaled init models, and masks for the scaled one.

    Unit 0 of every mask is off for all languages (it must never move under ``frozen`` updates); the rest are
    random with density ~2/3.
    """
    root = tmp_path_factory.mktemp("pretrain")
    rng = np.random.default_rng(0)
    for index, lang in enumerate(LANGS):
        write_shard(root / "tokens" / lang, lang, index, rng)
    base = ArchConfig(vocab_size=VOCAB, hidden=16, layers=1, heads=2, intermediate=32, max_position=40)
    archs = architectures(base, scaled_layers=2)
    for name in ("base", "scaled"):
        save_model(init_model(archs[name], seed=5), root / "init" / name, name=name, seed=5)
    shape = TicketShape.of_arch(archs["scaled"])
    generator = torch.Generator().manual_seed(1)
    masks = {}
    for key, units in shape.layout().items():
        mask = torch.rand(len(LANGS), units, generator=generator) < 0.67
        mask[:, 0] = False
        mask[:, 1] = True
        masks[key] = mask
    TicketMasks(LANGS, masks, shape, "random").save(root / "masks.safetensors")
    return root


@pytest.fixture()
def one_thread():
    """Pin torch to one thread (bitwise-comparable runs, no thread thrashing); restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cli_args(workspace: Path, out: Path, variant: str = "ticket-random", steps: int = 12, **extra) -> list[str]:
    arch = "base" if variant == "dense" else "scaled"
    args = ["--variant", variant, "--init", str(workspace / "init" / arch),
            "--tokens", *[str(workspace / "tokens" / lang) for lang in LANGS], "--langs", *LANGS,
            "--out-dir", str(out), "--steps", str(steps), "--batch-size", "4", "--warmup", "2",
            "--seq-len-short", "12", "--seq-len-long", "20", "--long-fraction", "0.25", "--checkpoint-every", "4",
            "--uc-steps", "4", "--gc-every", "2", "--gc-batch-size", "2", "--eval-batches", "2",
            "--eval-batch-size", "4", "--seed", "11", "--device", "cpu", "--threads", "1"]
    if variant.startswith("ticket-"):
        args += ["--masks", str(workspace / "masks.safetensors")]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", *([str(value)] if not isinstance(value, list) else map(str, value))]
    return args


def run_pretrain(args: list[str]):
    """Run the stage in this process; returns the Pretrainer (model still in memory)."""
    from langtickets.pretrain import _parser, config_from_args
    from langtickets.pretrain_loop import Pretrainer

    trainer = Pretrainer(config_from_args(_parser().parse_args(args)))
    trainer.run()
    return trainer


# ---------------------------------------------------------------------------------------------------------
# Sampling


def test_smoothed_probabilities_follow_the_formula():
    counts = {"a": 100, "b": 900}
    q = smoothed_probabilities(counts, 0.7)
    expected_a = 0.1**0.7 / (0.1**0.7 + 0.9**0.7)
    assert q["a"] == pytest.approx(expected_a, rel=1e-12) and q["b"] == pytest.approx(1 - expected_a, rel=1e-12)
    assert q["a"] > 0.1  # low-resource languages are over-sampled
    assert smoothed_probabilities(counts, 0.0) == pytest.approx({"a": 0.5, "b": 0.5})
    with pytest.raises(ConfigError, match="no training tokens"):
        smoothed_probabilities({"a": 0, "b": 3}, 0.7)


def test_language_draws_match_the_smoothed_probabilities():
    sampler = LanguageSampler.from_counts(TRAIN_TOKENS, 0.7, seed=3)
    steps = range(1, 20_001)
    freq = Counter(sampler.schedule(steps))
    for lang, q in zip(sampler.languages, sampler.probabilities):
        assert freq[lang] / len(steps) == pytest.approx(q, abs=0.012)
    again = LanguageSampler.from_counts(TRAIN_TOKENS, 0.7, seed=3)
    assert [again.language(s) for s in (17, 5, 9000)] == [sampler.language(s) for s in (17, 5, 9000)]


def test_sequence_length_schedule():
    schedule = SeqLenSchedule(total_steps=10, short=128, long=512, long_fraction=0.1)
    assert [schedule(step) for step in range(1, 11)] == [128] * 9 + [512]
    assert {SeqLenSchedule(10, 8, 16, 0.0)(step) for step in range(1, 11)} == {8}


def test_step_batch_is_one_language_and_independent_of_the_process_count(workspace):
    from langtickets.sampling import step_batch
    from langtickets.tokens import TokenShard

    shard = TokenShard.open(workspace / "tokens" / "qab")
    whole, masked = step_batch(shard, 12, 4, seed=9, vocab_size=VOCAB, prob=0.15)
    text = torch.where(whole["labels"] != IGNORE_INDEX, whole["labels"], whole["input_ids"])
    content = text[~torch.isin(text, torch.tensor(SPECIAL_IDS))]
    assert set(content.tolist()) <= set(lang_ids(1))
    assert masked == int((whole["labels"] != IGNORE_INDEX).sum())
    halves = [step_batch(shard, 12, 4, seed=9, vocab_size=VOCAB, prob=0.15, rank=r, world=2) for r in (0, 1)]
    assert all(count == masked for _, count in halves)
    for name in whole:
        assert torch.equal(torch.cat([halves[0][0][name], halves[1][0][name]]), whole[name])


# ---------------------------------------------------------------------------------------------------------
# Ticketed updates


def _step(model, optimizer, switch, lang, ids, frozen=None):
    from langtickets.pretrain_loop import summed_mlm_loss

    switch.set(lang)
    batch = {"input_ids": ids, "labels": ids}
    summed_mlm_loss(model, batch).backward()
    saved = frozen.snapshot(lang) if frozen is not None else None
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if saved is not None:
        frozen.restore(saved)


def _masked_slices(model, masks, lang):
    """Copies of every parameter slice owned by a unit that ``lang``'s ticket masks out."""
    from langtickets.optim import unit_parameters

    off = {key: (~mask).nonzero().squeeze(1) for key, mask in masks.for_language(lang).items()}
    return [p.detach().index_select(dim, off[key]).clone()
            for key, plist in unit_parameters(model).items() for p, dim in plist]


@pytest.mark.parametrize("rule", ["frozen", "adamw"])
def test_a_step_leaves_the_units_masked_for_its_language_alone(workspace, one_thread, rule):
    """After a step on qab (momentum everywhere qab's ticket reaches), a step on qaa must not move qaa's
    masked units under ``frozen``. Plain AdamW moves them (momentum and weight decay) although their
    gradient is zero -- the reason ``frozen`` is the default."""
    from langtickets.model import load_model
    from langtickets.optim import FrozenUnits, build_optimizer

    model = load_model(workspace / "init" / "scaled")
    model.train()
    torch.manual_seed(0)
    masks = TicketMasks.load(workspace / "masks.safetensors")
    optimizer = build_optimizer(model, lr=1e-3, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-6)
    frozen = FrozenUnits(model, masks, optimizer) if rule == "frozen" else None
    ids = torch.randint(5, VOCAB, (2, 10), generator=torch.Generator().manual_seed(0))
    with MaskSwitch(model, masks) as switch:
        _step(model, optimizer, switch, "qab", ids, frozen)
        before = _masked_slices(model, masks, "qaa")
        _step(model, optimizer, switch, "qaa", ids, frozen)
    after = _masked_slices(model, masks, "qaa")
    unchanged = all(torch.equal(a, b) for a, b in zip(before, after))
    assert unchanged == (rule == "frozen")


def test_units_in_no_ticket_never_move_and_all_others_train(workspace, tmp_path, one_thread):
    from langtickets.model import load_model
    from langtickets.optim import unit_parameters

    trainer = run_pretrain(cli_args(workspace, tmp_path / "out", steps=6, gc_every=0, uc_steps=[]))
    init = unit_parameters(load_model(workspace / "init" / "scaled"))
    trained = unit_parameters(trainer.raw_model)
    for key in init:
        for (p0, dim), (p1, _) in zip(init[key], trained[key]):
            assert torch.equal(p0.detach().select(dim, 0), p1.detach().select(dim, 0)), key  # off everywhere
            assert not torch.equal(p0.detach().select(dim, 1), p1.detach().select(dim, 1)), key  # on everywhere


# ---------------------------------------------------------------------------------------------------------
# Whole runs


def _read_log(out: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_dense_run_outputs_reload_and_schedule(workspace, tmp_path, one_thread):
    from transformers import AutoModelForMaskedLM

    out = tmp_path / "dense"
    trainer = run_pretrain(cli_args(workspace, out, variant="dense", steps=8))
    log = _read_log(out)
    sampler = LanguageSampler.from_counts(TRAIN_TOKENS, 0.7, seed=trainer.sampler.seed)
    assert [r["step"] for r in log] == list(range(1, 9))
    assert [r["lang"] for r in log] == sampler.schedule(range(1, 9))  # one language per step, as drawn
    assert [r["seq_len"] for r in log] == [12] * 6 + [20] * 2
    assert log[0]["lr"] == pytest.approx(0.5e-4) and log[1]["lr"] == pytest.approx(1e-4)
    assert log[-1]["lr"] == pytest.approx(1e-4 / 6)
    assert all(r["tokens"] == 4 * r["seq_len"] for r in log)

    reloaded = AutoModelForMaskedLM.from_pretrained(out / "model").eval()
    assert read_json(out / "model" / "arch.json")["name"] == "base"
    ids = torch.randint(5, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    trainer.raw_model.eval()
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids).logits, trainer.raw_model(input_ids=ids).logits)
    ppl = read_json(out / "perplexity.json")["languages"]
    assert set(ppl) == set(LANGS) and all(v["perplexity"] > 1 for v in ppl.values())
    assert not (out / "model" / "masks.safetensors").exists()


def test_perplexity_is_deterministic(workspace, one_thread):
    from langtickets.model import load_model
    from langtickets.pretrain_loop import validation_perplexity
    from langtickets.tokens import TokenShard

    model = load_model(workspace / "init" / "scaled")
    masks = TicketMasks.load(workspace / "masks.safetensors")
    shards = {lang: TokenShard.open(workspace / "tokens" / lang) for lang in LANGS}
    with MaskSwitch(model, masks) as switch:
        runs = [validation_perplexity(model, shards, switch, 16, 2, 4, 3, VOCAB, 0.15) for _ in range(2)]
    dense = validation_perplexity(model, shards, None, 16, 2, 4, 3, VOCAB, 0.15)
    assert runs[0] == runs[1]
    assert runs[0]["qaa"]["perplexity"] != dense["qaa"]["perplexity"]  # the ticket is used


def test_a_language_without_validation_tokens_gets_no_perplexity_instead_of_failing(workspace, one_thread, capsys):
    """A wiki of one single-sentence article has nothing to hold out (a longer one keeps its last sentences)."""
    from types import SimpleNamespace

    from langtickets.model import load_model
    from langtickets.pretrain_loop import validation_perplexity
    from langtickets.tokens import TokenShard

    model = load_model(workspace / "init" / "base")
    shards = {lang: TokenShard.open(workspace / "tokens" / lang) for lang in LANGS}
    empty = shards[LANGS[0]]
    shards[LANGS[0]] = SimpleNamespace(valid=empty.valid[:0], train=empty.train, meta=empty.meta,
                                       meta_path=empty.meta_path)  # fmt: skip
    ppl = validation_perplexity(model, shards, None, 16, 2, 4, 3, VOCAB, 0.15)
    assert ppl[LANGS[0]]["perplexity"] is None and ppl[LANGS[0]]["reason"] == "no validation tokens"
    assert all(ppl[lang]["perplexity"] > 1 for lang in LANGS[1:])
    assert "no validation tokens" in capsys.readouterr().err


def test_killed_run_resumes_to_identical_weights(workspace, tmp_path, one_thread, capsys):
    """SIGKILL a real process after its first checkpoint; the rerun must end bitwise equal to a clean run."""
    from safetensors.torch import load_file

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    trainer = run_pretrain(cli_args(workspace, clean, steps=40))
    masks = TicketMasks.load(workspace / "masks.safetensors")

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "langtickets", "pretrain", *cli_args(workspace, killed, steps=40)],
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        if "checkpoint step" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model").exists(), "the run finished before it could be killed"

    capsys.readouterr()
    run_pretrain(cli_args(workspace, killed, steps=40))
    assert "resuming from" in capsys.readouterr().err
    for name in ("model/model.safetensors", "train_log.jsonl", "perplexity.json", "interference/uc.json",
                 "interference/gc.json", "interference/stability.json"):
        assert (clean / name).read_bytes() == (killed / name).read_bytes(), name
    a, b = load_file(clean / "model" / "model.safetensors"), load_file(killed / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (killed / "model" / "masks.safetensors").read_bytes() == (workspace / "masks.safetensors").read_bytes()

    # the saved ticketed model reloads and, wearing a ticket, gives the trained model's logits
    from transformers import AutoModelForMaskedLM

    reloaded = AutoModelForMaskedLM.from_pretrained(killed / "model").eval()
    ids = torch.randint(5, VOCAB, (2, 9), generator=torch.Generator().manual_seed(2))
    trainer.raw_model.eval()
    trainer.switch.remove()
    with torch.no_grad(), apply_masks(reloaded, masks, "qab"), apply_masks(trainer.raw_model, masks, "qab"):
        assert torch.equal(reloaded(input_ids=ids).logits, trainer.raw_model(input_ids=ids).logits)

    uc = read_json(killed / "interference" / "uc.json")
    assert [s["step"] for s in uc["snapshots"]] == [4, 40]
    assert sum(uc["snapshots"][-1]["steps_per_language"].values()) == 40
    stability = read_json(killed / "interference" / "stability.json")
    assert stability["gc"]["steps"] == list(range(4, 41, 2)) and stability["uc"]["steps"] == stability["gc"]["steps"]


def test_resume_refuses_checkpoints_of_other_settings(workspace, tmp_path, one_thread):
    out = tmp_path / "run"
    run_pretrain(cli_args(workspace, out, variant="dense", steps=4, uc_layers="none", gc_every=0))
    assert (out / "checkpoints").is_dir()
    with pytest.raises(ConfigError, match="different settings.*lr"):
        run_pretrain(cli_args(workspace, out, variant="dense", steps=4, uc_layers="none", gc_every=0, lr=0.001))


def test_bad_inputs_are_reported(workspace, tmp_path):
    from langtickets.pretrain import main

    with pytest.raises(ConfigError, match="needs --masks"):
        args = cli_args(workspace, tmp_path / "x", variant="ticket-snip")
        main(args[: args.index("--masks")])
    with pytest.raises(InputError, match="'scaled' model but variant 'dense'"):
        args = cli_args(workspace, tmp_path / "x", variant="dense")
        args[args.index("--init") + 1] = str(workspace / "init" / "scaled")
        main(args)
    with pytest.raises(ConfigError, match="one --tokens folder per language"):
        args = cli_args(workspace, tmp_path / "x", variant="dense")
        args.remove(str(workspace / "tokens" / "qac"))
        main(args)

"""``langtickets finetune``: byte-identical reruns, the source -> zero-shot -> few-shot chain, one-line errors."""

from __future__ import annotations

import pytest

from langtickets.cli import main
from langtickets.io import read_json

from .finetune_fixtures import SEED, build_world

QUICK = ["--seed", str(SEED), "--max-length", "64", "--lr", "2e-3", "--max-updates", "3", "--device", "cpu",
         "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory, repo_root):
    return build_world(tmp_path_factory.mktemp("finetune-cli-world"), repo_root)


def in_language(world, lang, out, *extra, model=None, train=None):
    files = {split: world.file(lang, f"ud-{split}.conllu") for split in ("train", "dev", "test")}
    if train is not None:
        files["train"] = train
    return main(["finetune", "in-language", "--model", str(model or world.dense), "--model-name", "dense",
                 "--task", "pos", "--lang", lang, "--format", "conllu", *(f"--{s}={f}" for s, f in files.items()),
                 "--out-dir", str(out), *QUICK, *extra])  # fmt: skip


def test_reruns_write_byte_identical_metrics_and_runs_differ(world, tmp_path, capsys):
    for name in ("a", "b"):
        timing = tmp_path / name / "t.json"
        assert in_language(world, "qac", tmp_path / name, "--runs", "0", "1", "--timing", str(timing)) == 0
    first = (tmp_path / "a" / "seed0.json").read_bytes()
    assert first == (tmp_path / "b" / "seed0.json").read_bytes()
    assert (tmp_path / "a" / "seed1.json").read_bytes() == (tmp_path / "b" / "seed1.json").read_bytes()
    runs = [read_json(tmp_path / "a" / f"seed{run}.json") for run in (0, 1)]
    assert runs[0]["train"]["loss"] != runs[1]["train"]["loss"]  # another run: another head, order and dropout
    assert b"seconds" not in first and len(read_json(tmp_path / "a" / "t.json")["runs"]) == 2
    assert "[finetune in-language] done" in capsys.readouterr().err


def test_source_then_zero_shot_then_few_shot(world, tmp_path):
    models, common = tmp_path / "models", ["--task", "pos", "--model-name", "ticket", "--format", "conllu", *QUICK]
    assert main(["finetune", "source", "--model", str(world.ticket), "--lang", "qaa",
                 f"--train={world.file('qaa', 'ud-train.conllu')}", f"--dev={world.file('qaa', 'ud-dev.conllu')}",
                 "--out-dir", str(models), *common]) == 0  # fmt: skip
    assert read_json(models / "seed0" / "task.json")["mask_lang"] == "qaa"
    targets = [f"{lang}={world.file(lang, 'ud-test.conllu')}" for lang in ("qac", "qae")]
    assert main(["finetune", "zero-shot", "--task-models", str(models), "--target", *targets,
                 "--mask-fallback", "dense", "--out-dir", str(tmp_path / "zero"), *common]) == 0  # fmt: skip
    assert read_json(tmp_path / "zero" / "qae" / "seed0.json")["mask"] == {"train": "qaa", "eval": None}
    assert main(["finetune", "few-shot", "--task-models", str(models), "--lang", "qac", "--k", "4", "--updates", "2",
                 f"--train={world.file('qac', 'ud-train.conllu')}", f"--test={world.file('qac', 'ud-test.conllu')}",
                 "--out-dir", str(tmp_path / "few"), *common]) == 0  # fmt: skip
    record = read_json(tmp_path / "few" / "seed0.json")
    assert (record["protocol"], record["train"]["updates"], record["train"]["examples"]) == ("few-shot", 2, 4)


def test_malformed_training_example_is_one_line_and_leaves_nothing(world, tmp_path, capsys):
    lines = world.file("qac", "ud-train.conllu").read_text(encoding="utf-8").splitlines(keepends=True)
    bad_line = next(number for number, line in enumerate(lines, start=1) if line[:1].isdigit())
    lines[bad_line - 1] = lines[bad_line - 1].replace("\t", " ", 1)
    broken = tmp_path / "ud-train.conllu"
    broken.write_text("".join(lines), encoding="utf-8")
    assert in_language(world, "qac", tmp_path / "out", train=broken) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: {broken}:{bad_line}: expected 10 tab-separated columns")
    assert not (tmp_path / "out").exists()


def test_language_without_a_ticket_needs_dense_or_a_fallback(world, tmp_path, capsys):
    assert in_language(world, "qae", tmp_path / "strict", model=world.ticket) == 2
    assert "has no ticket" in capsys.readouterr().err and not (tmp_path / "strict").exists()
    assert in_language(world, "qae", tmp_path / "dense", "--dense", model=world.ticket) == 0
    assert read_json(tmp_path / "dense" / "seed0.json")["mask"] == {"train": None, "eval": None}

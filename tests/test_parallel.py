"""Data-parallel training: 1 process and 2 processes give the same result for pretraining, task fine-tuning
and LT-SFT.

The two-process runs use the very command the workflow builds (``Launcher(2, "cpu")``: ``accelerate launch
--multi_gpu --num_processes 2``, which on a machine without CUDA starts two gloo CPU processes); the
one-process reference runs the same stage in this process. Models are tiny and have no dropout (dropout
masks are drawn per process, so with dropout on the runs would differ by design).

Tolerance. Both runs see the same global batches and take the same optimiser steps; they differ only in
float32 rounding: the two processes compute partial gradients over halves of each batch and gloo sums
them, which reorders the additions (relative error ~1e-7 per gradient entry). AdamW turns gradients into
steps of about ``lr`` whatever their size, so such rounding moves a weight by at most ~lr * 1e-6 per step;
over the ~10 updates here at lr 1e-3 that is far below the 1e-5 bound on max |delta weight| the tests
use, while one genuinely different update (a wrong row split, a loss normalised per process, a skipped
all-reduce) moves weights by ~lr = 1e-3. Discrete outcomes must match exactly: the language of every
pretraining step, the dev-selected update, LT-SFT's selected positions and chosen checkpoints.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist

from langtickets.cli import main as cli_main
from langtickets.io import read_json, write_json
from langtickets.launch import Launcher
from langtickets.model import ArchConfig, init_model, save_model
from langtickets.parallel import Replicas, rows, target_count
from langtickets.vocab import train_wordpiece

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5
IGNORE = -100
LANGS = ("qaa", "qab")

needs_two_processes = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is unavailable: cannot start 2 CPU processes",
)


# ---------------------------------------------------------------------------------------------------------
# Helpers (one process)


def test_rows_split_every_tensor_and_keep_other_values():
    batch = ("qaa", {"input_ids": torch.arange(10).reshape(5, 2), "labels": torch.arange(5)})
    first, second = rows(batch, 0, 2), rows(batch, 1, 2)
    assert first[0] == second[0] == "qaa"
    assert first[1]["labels"].tolist() == [0, 1] and second[1]["labels"].tolist() == [2, 3, 4]
    assert torch.equal(torch.cat([first[1]["input_ids"], second[1]["input_ids"]]), batch[1]["input_ids"])


def test_target_count_reads_the_loss_targets_of_each_task():
    assert target_count({"labels": torch.tensor([[-100, 3, -100], [1, -100, 2]])}) == 3
    assert target_count({"heads": torch.tensor([[0, -100]]), "relations": torch.tensor([[4, -100]])}) == 1
    assert target_count(("qaa", {"label": torch.tensor([0, 2, 1])})) == 3
    assert target_count({"input_ids": torch.ones(2, 3)}) == 0


@pytest.mark.parametrize("rows_in_batch,world", [(5, 2), (2, 3)])
def test_rescaled_shards_average_to_the_gradient_of_the_global_mean(rows_in_batch, world):
    """What DDP's all-reduce averages (each process's rescaled shard loss) is the one-process gradient, also
    with uneven target counts and with a process that gets no row (B < processes)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    labels = torch.randint(0, 4, (rows_in_batch, 6))
    labels[torch.rand(labels.shape) < 0.5] = IGNORE
    batch = {"x": torch.randn(rows_in_batch, 6, 3), "labels": labels}

    def loss_of(part):
        return torch.nn.functional.cross_entropy(model(part["x"]).reshape(-1, 4), part["labels"].reshape(-1),
                                                 ignore_index=IGNORE)  # fmt: skip

    loss_of(batch).backward()
    expected, grads = model.weight.grad.clone(), []
    for rank in range(world):
        model.zero_grad()
        replicas = Replicas(SimpleNamespace(process_index=rank, num_processes=world, is_main_process=rank == 0))
        part, factor = replicas.split(batch)
        replicas.scale(loss_of(part), factor, model).backward()
        grads.append(model.weight.grad.clone())
    assert torch.allclose(sum(grads) / world, expected, atol=1e-6)


def test_one_process_changes_nothing():
    replicas = Replicas()
    batch = {"labels": torch.tensor([[1, -100]])}
    loss = torch.tensor(2.5, requires_grad=True)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert replicas.split(batch) == (batch, 1.0) and replicas.scale(loss, 1.0, model) is loss
    assert replicas.prepare(model, optimizer) == (model, optimizer)
    assert replicas.seed(17) == 17 and replicas.agree(0.25) == 0.25 and replicas.is_main


# ---------------------------------------------------------------------------------------------------------
# A tiny world: POS data with a tokenizer and tagger model, synthetic token shards and an MLM model


def _write_shard(folder: Path, lang: str, vocab: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True)
    sizes = {"train": 1500, "valid": 300}
    for split, count in sizes.items():
        ids = rng.integers(5, vocab, size=count).astype("<u2")
        ids[19::20] = 3  # [SEP] after every 20-token "document"
        (folder / f"{split}.bin").write_bytes(ids.tobytes())
    write_json(folder / "meta.json", {
        "format": "langtickets-tokens/1", "lang": lang, "dtype": "uint16", "byteorder": "little",
        "vocab_size": vocab, "tokenizer_sha256": "0" * 64,
        "special_ids": {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4},
        "files": {"train": "train.bin", "valid": "valid.bin"},
        "splits": {split: {"tokens": count, "documents": count // 20} for split, count in sizes.items()},
    })  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("parallel")
    table = REPO / "config" / "demo-languages.tsv"
    # 45 training sentences in batches of 8: every epoch ends with a batch of 5, split 2 + 3
    assert cli_main(["make-demo", "tasks", "--table", str(table), "--lang", "qaa", "--seed", "5", "--train", "45",
                     "--dev", "16", "--test", "8", "--out-dir", str(root / "tasks")]) == 0  # fmt: skip
    lines = (root / "tasks" / "ud-train.conllu").read_text(encoding="utf-8").splitlines()
    (root / "text.txt").write_text("".join(line[9:] + "\n" for line in lines if line.startswith("# text = ")))
    tokenizer = train_wordpiece([str(root / "text.txt")], 300, min_frequency=1)
    tokenizer.save(str(root / "tokenizer.json"))
    arch = ArchConfig(vocab_size=tokenizer.get_vocab_size(), hidden=16, layers=2, heads=2, intermediate=32,
                      max_position=64, dropout=0.0, attention_dropout=0.0)  # fmt: skip
    save_model(init_model(arch, 7), root / "tagger", name="base", seed=7, tokenizer=root / "tokenizer.json")
    save_model(init_model(arch, 7), root / "mlm", name="base", seed=7)  # no tokenizer: the shards are synthetic
    rng = np.random.default_rng(0)
    for lang in LANGS:
        _write_shard(root / "tokens" / lang, lang, arch.vocab_size, rng)
    return root


@pytest.fixture()
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def run_both(args: list[str], one: Path, two: Path) -> str:
    """Run a stage with ``--out-dir`` ``one`` in this process and ``two`` under the two-process launch;
    returns the launch's stderr."""
    assert cli_main([*args, "--out-dir", str(one)]) == 0
    command = shlex.split(Launcher(2, "cpu").command())
    command[0] = sys.executable
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, *args, "--out-dir", str(two)], env=env, capture_output=True, text=True,
                          timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stderr


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[key].float() - b[key].float()).abs().max()) for key in a if a[key].numel())


# ---------------------------------------------------------------------------------------------------------
# One process against two


def pretrain_args(world: Path) -> list[str]:
    return ["pretrain", "--variant", "dense", "--init", str(world / "mlm"),
            "--tokens", *[str(world / "tokens" / lang) for lang in LANGS], "--langs", *LANGS,
            "--steps", "8", "--batch-size", "6", "--lr", "1e-3", "--warmup", "2", "--seq-len-short", "12",
            "--seq-len-long", "16", "--long-fraction", "0.25", "--checkpoint-every", "4", "--gc-every", "4",
            "--gc-batch-size", "2", "--eval-batches", "1", "--eval-batch-size", "2", "--seed", "3",
            "--device", "cpu", "--threads", "1"]  # fmt: skip


def numbers(node) -> list:
    """Every number (None kept) of a JSON value, in order, with the structure checked by the caller."""
    if isinstance(node, dict):
        return [x for key in sorted(node) for x in numbers(node[key])]
    if isinstance(node, list):
        return [x for item in node for x in numbers(item)]
    return [node] if node is None or isinstance(node, (int, float)) else []


def same_interference(one: Path, two: Path) -> None:
    """uc and gc of two runs agree within TOLERANCE (each process of a two-process run keeps one layer)."""
    for name in ("uc.json", "gc.json"):
        a, b = (numbers(read_json(run / "interference" / name)) for run in (one, two))
        assert len(a) == len(b) and [x is None for x in a] == [x is None for x in b], name
        assert max(abs(x - y) for x, y in zip(a, b) if x is not None) < TOLERANCE, name
    assert len(read_json(one / "interference" / "gc.json")["records"]) == 2


@needs_two_processes
def test_pretraining_is_independent_of_the_process_count(world, tmp_path, restore_threads):
    from safetensors.torch import load_file

    stderr = run_both(pretrain_args(world), tmp_path / "one", tmp_path / "two")
    assert stderr.count("[pretrain] done") == 1  # the main process alone reports and writes
    logs = [[json.loads(line) for line in (tmp_path / run / "train_log.jsonl").read_text().splitlines()]
            for run in ("one", "two")]  # fmt: skip
    assert [r["lang"] for r in logs[0]] == [r["lang"] for r in logs[1]] and len(logs[0]) == 8
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(*logs)) < TOLERANCE
    weights = [load_file(tmp_path / run / "model" / "model.safetensors") for run in ("one", "two")]
    moved = max_difference(weights[0], load_file(world / "mlm" / "model.safetensors"))
    assert max_difference(*weights) < TOLERANCE < moved
    same_interference(tmp_path / "one", tmp_path / "two")
    # Each process wrote the uc sums of its own layer into the shared checkpoint.
    manifest = read_json(tmp_path / "two" / "checkpoints" / "step-000000008" / "manifest.json")
    assert {"uc/layer-0.safetensors", "uc/layer-1.safetensors"} <= set(manifest["files"])

    # Two processes resume from the one-process checkpoint at step 4 (each reads the layer it keeps) and end
    # where the one-process run ended.
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    source = tmp_path / "one" / "checkpoints" / "step-000000004"
    shutil.copytree(source, resumed / "checkpoints" / source.name)
    (resumed / "checkpoints" / "train_log.partial.jsonl").write_bytes((tmp_path / "one" / "train_log.jsonl").read_bytes())
    command = shlex.split(Launcher(2, "cpu").command())
    command[0] = sys.executable
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, *pretrain_args(world), "--out-dir", str(resumed)], env=env,
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    assert done.returncode == 0 and "resuming from" in done.stderr and "(step 4)" in done.stderr, done.stderr[-3000:]
    assert max_difference(weights[0], load_file(resumed / "model" / "model.safetensors")) < TOLERANCE
    same_interference(tmp_path / "one", resumed)


@needs_two_processes
def test_task_fine_tuning_is_independent_of_the_process_count(world, tmp_path, restore_threads):
    from safetensors.torch import load_file

    tasks = world / "tasks"
    args = ["finetune", "source", "--model", str(world / "tagger"), "--model-name", "dense", "--task", "pos",
            "--lang", "qaa", "--format", "conllu", "--train", str(tasks / "ud-train.conllu"),
            "--dev", str(tasks / "ud-dev.conllu"), "--runs", "0", "--seed", "9", "--batch-size", "8",
            "--lr", "1e-3", "--epochs", "2", "--eval-every", "4", "--head-dropout", "0", "--max-length", "32",
            "--device", "cpu", "--threads", "1"]
    stderr = run_both(args, tmp_path / "one", tmp_path / "two")
    assert stderr.count("[finetune source] done") == 1
    records = [read_json(tmp_path / run / "seed0" / "task.json")["train"] for run in ("one", "two")]
    assert records[0]["updates"] == 12 and records[0]["selected_update"] == records[1]["selected_update"]
    assert [u for u, _ in records[0]["dev_curve"]] == [u for u, _ in records[1]["dev_curve"]] == [4, 8, 12]
    assert max(abs(a[1] - b[1]) for a, b in zip(records[0]["dev_curve"], records[1]["dev_curve"])) < 1e-6
    weights = [load_file(tmp_path / run / "seed0" / "model.safetensors") for run in ("one", "two")]
    assert max_difference(*weights) < TOLERANCE


@needs_two_processes
def test_lt_sft_is_independent_of_the_process_count(world, tmp_path, restore_threads):
    from langtickets.sft.sparse import SparseFineTuning

    args = ["language-sft", "--model", str(world / "mlm"), "--model-name", "dense", "--lang", "qaa",
            "--tokens", str(world / "tokens" / "qaa"), "--methods", "lt-sft", "--k", "400", "--max-epochs", "0",
            "--max-steps", "5", "--min-steps", "0", "--batch-size", "6", "--seq-len", "16", "--lr", "1e-3",
            "--eval-every", "2", "--eval-batches", "2", "--seed", "3", "--device", "cpu", "--threads", "1"]
    stderr = run_both(args, tmp_path / "one", tmp_path / "two")
    assert stderr.count("[language-sft] done") == 1
    sfts = [SparseFineTuning.load(tmp_path / run / "lt-sft.safetensors") for run in ("one", "two")]
    assert sfts[0].k == sfts[1].k == 400 and sfts[0].diffs.keys() == sfts[1].diffs.keys()
    for name, diff in sfts[0].diffs.items():
        assert torch.equal(diff.indices, sfts[1].diffs[name].indices), f"selected positions of {name} differ"
    assert max_difference({n: d.values for n, d in sfts[0].diffs.items()},
                          {n: d.values for n, d in sfts[1].diffs.items()}) < TOLERANCE  # fmt: skip
    assert max_difference(sfts[0].heads, sfts[1].heads) < TOLERANCE
    infos = [read_json(tmp_path / run / "lt-sft.json") for run in ("one", "two")]
    steps = [{key: value for key, value in info["selection"].items() if key.endswith("step")} for info in infos]
    assert steps[0] == steps[1] and len(steps[0]) == 2
    assert abs(infos[0]["valid_loss"]["sft"] - infos[1]["valid_loss"]["sft"]) < TOLERANCE

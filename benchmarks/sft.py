"""Benchmarks of langtickets.sft (CPU, about two minutes): ``python benchmarks/sft.py [--threads N]``.

Prints, in one run:
1. phase-2 step time over a full fine-tuning step on the same batch (goal <= 1.0), both through the same
   training loop (:func:`langtickets.sft.training.run_phase`), and over a plain ``torch.optim.AdamW`` step;
2. time and peak memory above the model to select the top K over a bert-base-sized (110M) parameter set
   (goals <= 2 s, <= 1.5 GB), peak RSS measured in a fresh process (Linux VmHWM, reset before selecting);
3. file size / (K x 8 bytes) (goal <= 0.75) at the paper's K values, for LT-SFT-like and uniform supports;
4. time to load an SFT file and to apply / revert it on the 110M model.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from langtickets.sft import (  # noqa: E402
    PAPER_LANGUAGE_K,
    LtSftConfig,
    SparseFineTuning,
    k_for_reduction_factor,
    language_sft_plan,
    random_selection,
    top_k_changed,
)
from langtickets.sft.sparse import SftInfo, diffs_at  # noqa: E402
from langtickets.sft.training import run_phase  # noqa: E402


def _bert(**overrides):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    return BertForMaskedLM(BertConfig(**overrides))


def step_times(rounds: int = 5, steps: int = 3) -> None:
    """Seconds per step of full fine-tuning and of phase 2 (4.3% density) on one MLM batch.

    Rounds alternate between the variants and the median is reported, in CPU seconds of this process
    (robust to other jobs on the machine) and wall seconds.
    """
    model = _bert(vocab_size=8000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    plan = language_sft_plan(model)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 8000, (8, 128), generator=generator)
    batch = {"input_ids": ids, "labels": torch.where(torch.rand(ids.shape, generator=generator) < 0.15, ids, -100)}
    loss = lambda m, b: m(**b).loss  # noqa: E731
    cfg = LtSftConfig(phase1_steps=steps, phase2_steps=steps, density=0.043, progress=False)
    params = dict(model.named_parameters())
    numels = {name: params[name].numel() for name in plan.maskable}
    # a random support touches every tensor: the worst case for phase 2 (no weight gradient skipped)
    support = random_selection(numels, round(0.043 * sum(numels.values())), seed=0)
    runs = {
        "full fine-tuning": lambda: run_phase(model, loss, [batch], {n: None for n in plan.maskable}, steps, cfg, phase="b"),
        "phase 2 (masked)": lambda: run_phase(model, loss, [batch], {n: p for n, p in support.items() if p.numel()},
                                              steps, cfg, phase="b"),
        "torch AdamW": lambda: _adamw_steps(model, plan, batch, loss, steps),
    }
    samples = {label: [] for label in runs}
    for _ in range(rounds):
        for label, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            samples[label].append(((time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps))
    medians = {label: tuple(statistics.median(x[i] for x in values) for i in (0, 1)) for label, values in samples.items()}
    print(f"[1] step time, {sum(numels.values()) / 1e6:.1f}M maskable params, batch 8x128 (median of {rounds} rounds):")
    for label, (cpu, wall) in medians.items():
        print(f"    {label:<18s} {cpu * 1000:7.0f} ms CPU {wall * 1000:7.0f} ms wall")
    full, masked = medians["full fine-tuning"], medians["phase 2 (masked)"]
    print(f"    phase-2 / full fine-tuning step = {masked[0] / full[0]:.2f} CPU, {masked[1] / full[1]:.2f} wall "
          f"(goal <= 1.0); / torch AdamW step = {masked[0] / medians['torch AdamW'][0]:.2f} CPU")


def _adamw_steps(model, plan, batch, loss, steps) -> None:
    """The plain reference: torch.optim.AdamW with clipping over the same parameters."""
    params = dict(model.named_parameters())
    trainable = [params[name] for name in plan.maskable]
    optimizer = torch.optim.AdamW(trainable, lr=5e-5)
    model.train()
    for _ in range(steps):
        loss(model, batch).backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _selection_child(queue, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = _bert()  # bert-base: 110M parameters (tied output embeddings)
    theta0 = {name: param.detach().clone() for name, param in model.named_parameters()}
    with torch.no_grad():  # theta1: every entry moved, except 70% of the word embedding rows (unseen tokens)
        for name, param in model.named_parameters():
            param.add_(torch.randn_like(param) * 1e-3 * param.std())
        seen = torch.rand(model.config.vocab_size) < 0.3
        word = model.get_input_embeddings().weight
        word[~seen] = theta0["bert.embeddings.word_embeddings.weight"][~seen]
    current = dict(model.named_parameters())
    total = sum(p.numel() for p in current.values())
    results = {"total": total, "select": {}, "ratio": {}}
    for k in (PAPER_LANGUAGE_K, k_for_reduction_factor(32)):
        baseline_kib = _rss_kib("VmRSS")
        exact = _reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        support = top_k_changed(current, theta0, k)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        results["select"][k] = (seconds, cpu, (_rss_kib("VmHWM") - baseline_kib) / 2**20, exact)
        results["ratio"][("top-K", k)] = _file_ratio(model, theta0, support, k, results if k == PAPER_LANGUAGE_K else None)
    numels = {name: p.numel() for name, p in current.items()}
    for rf in (32, 1):
        k = k_for_reduction_factor(rf)
        results["ratio"][("uniform", k)] = _file_ratio(model, theta0, random_selection(numels, k, seed=0), k, None)
    queue.put(results)


def _file_ratio(model, theta0, support, k, results) -> float:
    sft = SparseFineTuning(diffs_at(model, theta0, {n: p for n, p in support.items() if p.numel()}), info=SftInfo())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sft.safetensors"
        sft.save(path)
        ratio = os.path.getsize(path) / (k * 8)
        if results is not None:
            start = time.perf_counter()
            loaded = SparseFineTuning.load(path)
            load_s = time.perf_counter() - start
            start = time.perf_counter()
            loaded.apply(model)
            apply_s = time.perf_counter() - start
            start = time.perf_counter()
            loaded.revert(model)
            results["load_apply"] = (load_s, apply_s, time.perf_counter() - start, os.path.getsize(path))
    return ratio


def selection_and_storage() -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_selection_child, args=(queue, torch.get_num_threads()))
    child.start()
    results = queue.get()
    child.join()
    print(f"[2] top-K selection over {results['total'] / 1e6:.1f}M parameters (bert-base):")
    for k, (seconds, cpu, gib, exact) in results["select"].items():
        how = "VmHWM" if exact else "VmHWM, not reset: upper bound"
        print(f"    K={k:>9,d}: {seconds:5.2f} s wall, {cpu:5.2f} s CPU (goal <= 2); "
              f"peak +{gib:.2f} GiB above the model ({how}; goal <= 1.5)")
    print("[3] file size / (K x 8 bytes) (goal <= 0.75):")
    for (kind, k), ratio in results["ratio"].items():
        print(f"    {kind:<8s} K={k:>10,d} ({100 * k / results['total']:.2f}%): {ratio:.3f}")
    load_s, apply_s, revert_s, size = results["load_apply"]
    print(f"[4] K={PAPER_LANGUAGE_K:,d} SFT ({size / 2**20:.1f} MiB): load {load_s:.2f} s, "
          f"apply {apply_s:.2f} s, exact revert {revert_s:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch intra-op threads (default 1: on a CPU shared with other jobs, OpenMP barriers make more "
        "threads slower and the numbers erratic)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPUs, load average {load}")
    step_times()
    selection_and_storage()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ci config on a real (throwaway, single-node) SLURM cluster through `snakemake --profile slurm`.

The chain from the dumps to a ticketed pretrained model and its fine-tuning is submitted with sbatch; GPU
rules ask for (fake) GPUs; the results must equal the local run's byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from pathlib import Path

import pytest

from .conftest import copy_checkout, snakemake_env
from .slurm_cluster import LocalSlurm, PackagesUnavailable, install_packages, unavailable_reason

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

TARGETS = [
    "results/pretrain/ticket-snip/model",
    "results/eval/ticket-snip/pos/in-language/qac/seed0.json",
    "results/sft/ticket-snip/language/qaa/lt-sft.safetensors",
    "results/tables/ticket-density.csv",
    "results/figures/jaccard-heatmaps-scaled-snip.png",
]
#: files that record wall-clock time, the only outputs allowed to differ between two runs
TIMED = {"timing.json"}
def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: the pretraining job killed (SIGKILL) after its first checkpoint; the profile's retries resubmit it
KILLED = "ticket-snip"


def kill_after_first_checkpoint(workdir: Path, done: threading.Event) -> dict:
    """Follow the pretraining job's log; at its first checkpoint, SIGKILL the training process once."""
    log, seen = workdir / "logs" / "pretrain" / f"{KILLED}.log", {"killed": None}

    def watch() -> None:
        while not done.is_set():
            text = log.read_text(errors="replace") if log.is_file() else ""
            if "checkpoint step" in text:
                pids = subprocess.run(["pgrep", "-f", f"langtickets pretrain .*{KILLED}"], capture_output=True,
                                      text=True).stdout.split()  # fmt: skip
                for pid in pids:
                    os.kill(int(pid), signal.SIGKILL)
                seen["killed"] = pids
                seen["finished_before"] = (workdir / "results" / "pretrain" / KILLED / "model").exists()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    seen["thread"] = thread
    return seen


@pytest.fixture(scope="module")
def slurm_run(ci_run, tmp_path_factory, repo_root):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        install_packages()
    except PackagesUnavailable as error:
        pytest.skip(str(error))
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm") / "cluster")
    workdir = copy_checkout(repo_root, tmp_path_factory.mktemp("slurm-run") / "checkout")
    (workdir / "slurm-overrides.yaml").write_bytes((repo_root / "tests/workflow/slurm-overrides.yaml").read_bytes())
    done = threading.Event()
    try:
        cluster.start()
        env = snakemake_env() | {"SLURM_CONF": str(cluster.conf)}
        started = time.perf_counter()
        fault = kill_after_first_checkpoint(workdir, done)
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--profile", "slurm", "--configfile", "config/ci.yaml",
             "slurm-overrides.yaml", "--jobs", "4", "--slurm-no-account",
             "--slurm-init-seconds-before-status-checks", "2", "--", *TARGETS],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        jobs = cluster.jobs()
    finally:
        done.set()
        cluster.stop()
    return SimpleNamespace(workdir=workdir, result=result, jobs=jobs, seconds=seconds, fault=fault)


def test_workflow_finishes_on_slurm(slurm_run):
    result = slurm_run.result
    assert result.returncode == 0, result.stderr[-4000:]
    assert "slurm" in result.stderr.split("for setting default command line arguments")[0]


def test_jobs_went_through_sbatch(slurm_run):
    jobs = slurm_run.jobs
    rules = {job["comment"].split("_wildcards")[0] for job in jobs}
    assert {"rule_pretrain", "rule_train_vocab"} <= rules
    # Every job completed except the pretraining job the test killed, whose retry completed.
    failed = [job for job in jobs if job["state"] != "COMPLETED"]
    assert [job["comment"].split("_wildcards")[0] for job in failed] == ["rule_pretrain"], jobs
    # Each language's chain (cluster.group_chains) is one submission: extract+split, tokenize+SNIP scores;
    # the executor names a group job rule_<group>_<its rules>.
    for lang in ("qaa", "qak"):
        assert any(rule.startswith(f"rule_corpus-{lang}_extract") for rule in rules), rules
        assert any(rule.startswith(f"rule_tokens-{lang}_") for rule in rules), rules


def test_failed_job_is_retried_and_resumes_from_its_checkpoint(slurm_run):
    """SIGKILL the pretraining process after its first checkpoint: SLURM reports the job failed, the profile's
    retries resubmit it, and the new job resumes from the checkpoint rather than from step 0."""
    fault = slurm_run.fault
    fault["thread"].join(timeout=5)
    assert fault["killed"], "the pretraining process was not found to kill"
    assert not fault["finished_before"], "the pretraining job finished before it could be killed"
    submissions = [job for job in slurm_run.jobs if job["comment"].startswith("rule_pretrain")
                   and KILLED.replace("-", "") in job["comment"].replace("-", "")]  # fmt: skip
    assert sorted(job["state"] for job in submissions) == ["COMPLETED", "FAILED"], submissions
    log = (slurm_run.workdir / "logs" / "pretrain" / f"{KILLED}.log").read_text()
    assert "resuming from" in log and "(step 20)" in log, log[-2000:]


def test_gpu_rules_asked_for_gpus(slurm_run):
    by_rule = {}
    for job in slurm_run.jobs:
        by_rule.setdefault(job["comment"].split("_wildcards")[0], []).append(job)
    assert all("gpu:1" in job["tres_per_job"] for job in by_rule["rule_pretrain"])
    assert all("gpu:1" in job["tres_per_job"] for job in by_rule["rule_finetune_in_language"])
    assert all("gpu" not in job["tres_per_job"] for job in by_rule["rule_train_vocab"])


def test_results_equal_the_local_run(slurm_run, ci_run):
    """A second run from scratch, on the cluster and through a killed and resumed job, gives byte-identical
    results: the corpus, vocabulary, tokens, masks, pretrained weights, an SFT diff, metrics, a table and a
    figure."""
    workdir, result = slurm_run.workdir, slurm_run.result
    assert result.returncode == 0, result.stderr[-4000:]
    produced = sorted(p.relative_to(workdir) for p in (workdir / "results").rglob("*") if p.is_file())
    assert {Path(t) for t in TARGETS if Path(t).suffix} <= set(produced)
    compared = [path for path in produced if path.name not in TIMED]
    assert len(compared) > 50
    differing = [str(path) for path in compared if digest(workdir / path) != digest(ci_run.path(str(path)))]
    assert not differing, f"SLURM results differ from the local run: {differing}"

"""The ci config on a real (throwaway, single-node) SLURM cluster through `snakemake --profile slurm`.

The chain from the dumps to a ticketed pretrained model and its fine-tuning is submitted with sbatch; GPU
rules ask for (fake) GPUs; the results must equal the local run's byte for byte.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import copy_checkout, snakemake_env
from .slurm_cluster import LocalSlurm, unavailable_reason

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


@pytest.fixture(scope="module")
def slurm_run(ci_run, tmp_path_factory, repo_root):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm") / "cluster")
    workdir = copy_checkout(repo_root, tmp_path_factory.mktemp("slurm-run") / "checkout")
    (workdir / "slurm-overrides.yaml").write_bytes((repo_root / "tests/workflow/slurm-overrides.yaml").read_bytes())
    try:
        cluster.start()
        env = snakemake_env() | {"SLURM_CONF": str(cluster.conf)}
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--profile", "slurm", "--configfile", "config/ci.yaml",
             "slurm-overrides.yaml", "--jobs", "4", "--slurm-no-account",
             "--slurm-init-seconds-before-status-checks", "2", "--", *TARGETS],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        jobs = cluster.jobs()
    finally:
        cluster.stop()
    return workdir, result, jobs, seconds


def test_workflow_finishes_on_slurm(slurm_run):
    workdir, result, _, _ = slurm_run
    assert result.returncode == 0, result.stderr[-4000:]
    assert "slurm" in result.stderr.split("for setting default command line arguments")[0]


def test_jobs_went_through_sbatch(slurm_run):
    workdir, result, jobs, _ = slurm_run
    assert jobs and all(job["state"] == "COMPLETED" for job in jobs), jobs
    rules = {job["comment"].split("_wildcards")[0] for job in jobs}
    assert {"rule_pretrain", "rule_train_vocab"} <= rules
    # Each language's chain (cluster.group_chains) is one submission: extract+split, tokenize+SNIP scores;
    # the executor names a group job rule_<group>_<its rules>.
    for lang in ("qaa", "qak"):
        assert any(rule.startswith(f"rule_corpus-{lang}_extract") for rule in rules), rules
        assert any(rule.startswith(f"rule_tokens-{lang}_") for rule in rules), rules


def test_gpu_rules_asked_for_gpus(slurm_run):
    _, _, jobs, _ = slurm_run
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job["comment"].split("_wildcards")[0], []).append(job)
    assert all("gpu:1" in job["tres_per_job"] for job in by_rule["rule_pretrain"])
    assert all("gpu:1" in job["tres_per_job"] for job in by_rule["rule_finetune_in_language"])
    assert all("gpu" not in job["tres_per_job"] for job in by_rule["rule_train_vocab"])


def test_results_equal_the_local_run(slurm_run, ci_run):
    """A second run from scratch, on the cluster, gives byte-identical results: the corpus, vocabulary,
    tokens, masks, pretrained weights, an SFT diff, metrics, a table and a figure."""
    workdir, result, _, _ = slurm_run
    assert result.returncode == 0, result.stderr[-4000:]
    produced = sorted(p.relative_to(workdir) for p in (workdir / "results").rglob("*") if p.is_file())
    assert {Path(t) for t in TARGETS if Path(t).suffix} <= set(produced)
    compared = [path for path in produced if path.name not in TIMED]
    assert len(compared) > 50
    differing = [str(path) for path in compared if digest(workdir / path) != digest(ci_run.path(str(path)))]
    assert not differing, f"SLURM results differ from the local run: {differing}"

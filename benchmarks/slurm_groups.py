"""Grouping each language's chain into one SLURM submission (config ``cluster.group_chains``), measured.

``sudo python benchmarks/slurm_groups.py [--jobs 4]`` starts the throwaway single-node SLURM of the test suite
(tests/workflow/slurm_cluster.py; Linux, root, the Debian packages), runs the ci config's corpus-to-pretraining
chain twice from scratch with ``snakemake --profile slurm``, once per job and once with chains grouped, and
prints for each the number of sbatch submissions, the wall time, and the ratios grouped / ungrouped. Both runs
must give byte-identical pretrained weights.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflow.conftest import copy_checkout, snakemake_env  # noqa: E402
from tests.workflow.slurm_cluster import LocalSlurm, unavailable_reason  # noqa: E402

TARGET = "results/pretrain/ticket-snip/model"
OVERRIDES = """resources:
  snip_scores: {gpu: 1, cpus_per_gpu: 1, mem_mb: 1500, runtime: 30}
  pretrain: {gpu: 1, cpus_per_gpu: 1, mem_mb: 2000, runtime: 30}
cluster:
  group_chains: %s
"""


def run_once(scratch: Path, grouped: bool, jobs: int) -> dict:
    """One from-scratch run on a fresh cluster: submissions, wall seconds and the weights' digest."""
    cluster = LocalSlurm(scratch / f"cluster-{grouped}")
    workdir = copy_checkout(ROOT, scratch / f"run-{grouped}")
    (workdir / "overrides.yaml").write_text(OVERRIDES % str(grouped).lower())
    try:
        cluster.start()
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--profile", "slurm", "--configfile", "config/ci.yaml",
             "overrides.yaml", "--jobs", str(jobs), "--slurm-no-account",
             "--slurm-init-seconds-before-status-checks", "2", "--", TARGET],
            cwd=workdir, env=snakemake_env() | {"SLURM_CONF": str(cluster.conf)}, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        submissions = len(cluster.jobs())
    finally:
        cluster.stop()
    if result.returncode != 0:
        raise SystemExit(f"the {'grouped' if grouped else 'ungrouped'} run failed:\n{result.stderr[-3000:]}")
    weights = workdir / TARGET / "model.safetensors"
    return {"submissions": submissions, "seconds": seconds, "digest": hashlib.sha256(weights.read_bytes()).hexdigest()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=4, help="snakemake --jobs (concurrent submissions)")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="langtickets-slurm-bench-"))
    try:
        plain = run_once(scratch, grouped=False, jobs=args.jobs)
        grouped = run_once(scratch, grouped=True, jobs=args.jobs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"target {TARGET} of config/ci.yaml, --jobs {args.jobs}")
    print(f"{'':10} {'sbatch':>7} {'wall s':>8}")
    for name, run in (("per job", plain), ("grouped", grouped)):
        print(f"{name:10} {run['submissions']:7d} {run['seconds']:8.1f}")
    print(f"ratio      {grouped['submissions'] / plain['submissions']:7.2f} {grouped['seconds'] / plain['seconds']:8.2f}")
    print(f"identical weights: {plain['digest'] == grouped['digest']}")
    return 0 if plain["digest"] == grouped["digest"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

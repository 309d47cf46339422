"""The ci config run end to end once per test session, shared by every workflow test.

The checkout is copied into a temporary folder (code, configs, profiles; no results) and Snakemake runs
there exactly as a user would, with the test environment's ``python`` first on PATH. Tests that change
inputs work on their own copy of the finished run (``clone_run``) so they never disturb each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CHECKOUT_ITEMS = ["Snakefile", "workflow", "config", "envs", "profiles", "src", "resources", "slurm"]
GENERATED = {"resources": {"demo", "dumps"}}  # generated inputs are not part of a fresh checkout


def _ignore(folder: str, names: list[str]) -> set[str]:
    skipped = {name for name in names if name == "__pycache__" or name.endswith((".pyc", ".egg-info"))}
    return skipped | (GENERATED.get(Path(folder).name, set()) & set(names))


@dataclass
class Run:
    """A finished (or attempted) Snakemake run in its own working copy."""

    workdir: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def path(self, relative: str) -> Path:
        return self.workdir / relative


def copy_checkout(repo: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for item in CHECKOUT_ITEMS:
        source = repo / item
        if source.is_symlink():
            (dest / item).symlink_to(os.readlink(source))
        elif source.is_dir():
            shutil.copytree(source, dest / item, ignore=_ignore, symlinks=True)
        elif source.exists():
            shutil.copy2(source, dest / item)
    return dest


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    # Jobs must see the same offline switches as the tests.
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def snakemake(workdir: Path, *args: str, timeout: float = 1800) -> Run:
    """Run ``snakemake ARGS`` in ``workdir`` with this interpreter's environment."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=snakemake_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(workdir, result.returncode, result.stdout, result.stderr, time.perf_counter() - started)


def clone_run(run: Run, dest: Path) -> Path:
    """Copy a finished run (results, logs, Snakemake metadata; mtimes kept) into ``dest``."""
    shutil.copytree(run.workdir, dest, symlinks=True)
    return dest


def failure_report(run: Run) -> str:
    logs = sorted(run.workdir.glob("logs/**/*.log"))
    tails = []
    for log in logs:
        text = log.read_text(errors="replace")
        if "error" in text.lower() or "Traceback" in text:
            tails.append(f"--- {log.relative_to(run.workdir)}\n{text[-3000:]}")
    return f"snakemake exited {run.returncode}\n{run.stderr[-6000:]}\n" + "\n".join(tails[:5])


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory, repo_root) -> Run:
    """The ci config run end to end once; every workflow test asserts on its outputs."""
    workdir = copy_checkout(repo_root, tmp_path_factory.mktemp("ci-run") / "checkout")
    run = snakemake(workdir, "--cores", "2", "--configfile", "config/ci.yaml")
    if run.returncode != 0:
        pytest.fail(failure_report(run))
    return run

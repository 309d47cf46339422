"""The workflow as a user meets it before running anything: lint, configs, profiles, envs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from .conftest import copy_checkout, snakemake

ENVS = sorted(path.name for path in (Path(__file__).parents[2] / "envs").glob("*.yaml"))

CONFIGS = ["config/config.yaml", "config/ci.yaml", "config/real-sample.yaml", "config/paper.yaml"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, repo_root):
    return copy_checkout(repo_root, tmp_path_factory.mktemp("setup") / "checkout")


def test_snakemake_lint_is_clean(checkout):
    run = snakemake(checkout, "--lint")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations" in run.stdout + run.stderr


@pytest.mark.parametrize("configfile", CONFIGS)
def test_every_config_plans(checkout, request, configfile):
    extra = []
    if "real-sample" in configfile:
        extra = ["--config", f"data_dir={request.getfixturevalue('shared_data')}"]
    run = snakemake(checkout, "-n", "--configfile", configfile, *extra)
    assert run.returncode == 0, run.stderr[-3000:]


def test_paper_config_plans_on_slurm_in_seconds(checkout):
    started = time.perf_counter()
    run = snakemake(checkout, "-n", "--profile", "slurm", "--configfile", "config/paper.yaml")
    seconds = time.perf_counter() - started
    assert run.returncode == 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    assert re.search(r"Using profiles? slurm", output)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.M))
    assert int(counts["download_dump"]) >= 103  # 104 mBERT languages: zh is one wiki
    assert int(counts["extract"]) >= 103
    assert seconds < 30, f"paper dry run took {seconds:.1f}s"


def test_unknown_language_is_one_clear_line(checkout):
    run = snakemake(checkout, "-n", "--configfile", "config/ci.yaml", "--config", "languages=[qaa,zz]")
    assert run.returncode != 0
    line = next(l for l in (run.stdout + run.stderr).splitlines() if "unknown language" in l)
    assert "'zz'" in line and "demo-languages.tsv" in line and "add it" in line


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        ("vocab:\n  alpha: 3\n", ["'vocab.alpha'", "3 is greater than the maximum of 1", "fix the value"]),
        ("pretrain:\n  steps: ten\n", ["'pretrain.steps'", "'ten' is not of type 'integer'", "fix the value"]),
        ("data_dir: 'x; touch pwned'\n", ["'data_dir'", "';'", "rename the file or directory"]),
    ],
    ids=["out-of-range", "wrong-type", "shell-metacharacter"],
)
def test_invalid_config_value_is_one_clear_line(checkout, tmp_path, overlay, expected):
    bad = tmp_path / "bad.yaml"
    bad.write_text(overlay)
    run = snakemake(checkout, "-n", "--configfile", "config/ci.yaml", str(bad))
    assert run.returncode != 0
    line = next(l for l in (run.stdout + run.stderr).splitlines() if "bad.yaml" in l)
    assert "ci.yaml" in line and all(part in line for part in expected), line
    assert not (checkout / "pwned").exists()


def test_malformed_language_table_is_one_clear_line(checkout, tmp_path):
    table = tmp_path / "bad.tsv"
    text = (checkout / "config" / "demo-languages.tsv").read_text().splitlines()
    text[3] = text[3].replace("moses", "punkt")
    table.write_text("\n".join(text) + "\n")
    run = snakemake(checkout, "-n", "--configfile", "config/ci.yaml", "--config", f"languages_table={table}")
    assert run.returncode != 0
    line = next(l for l in (run.stdout + run.stderr).splitlines() if "bad.tsv" in l)
    assert f"{table}:4" in line and "splitter" in line


@pytest.mark.parametrize("env", ENVS)
def test_conda_envs_parse_and_pin(repo_root, env):
    spec = yaml.safe_load((repo_root / "envs" / env).read_text())
    assert spec["channels"], env
    deps = []
    for dep in spec["dependencies"]:
        deps.extend(dep["pip"] if isinstance(dep, dict) else [dep])
    unpinned = [d for d in deps if not re.search(r"[^=<>!]=[^=]|==", d)]
    assert not unpinned, f"{env}: unpinned {unpinned}"


def test_slurm_profile_takes_resources_from_config(repo_root):
    profile = yaml.safe_load((repo_root / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    assert (repo_root / "slurm").resolve() == (repo_root / "profiles" / "slurm").resolve()
    default = yaml.safe_load((repo_root / "profiles" / "default" / "config.yaml").read_text())
    assert not any("gpu" in str(key) for key in default), "GPU limits do not belong in the workflow profile"

"""`make figures` regenerates every figure and table and runs no other rule (asserted on a dry run).

The ci config's outputs are stood in for by empty files marked up to date with ``snakemake --touch``, so the
dry run sees a finished workflow without running it (seconds instead of minutes).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.workflow.conftest import copy_checkout, snakemake

CONFIG = ["--configfile", "config/ci.yaml"]


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M) if name != "total"}


def makefile_rule_pattern(repo: Path) -> str:
    """The rule-name pattern the Makefile's `figures` target forces (so the test checks what users run)."""
    recipe = (repo / "Makefile").read_text().split("\nfigures:", 1)[1].split("\n\n", 1)[0]
    match = re.search(r"--list-rules.*?grep -E '([^']+)'", recipe)
    assert match, "the Makefile's figures target should force the rules listed by `snakemake --list-rules`"
    return match.group(1)


@pytest.fixture(scope="module")
def finished_ci(tmp_path_factory, repo_root) -> Path:
    workdir = copy_checkout(repo_root, tmp_path_factory.mktemp("figures-rerun") / "checkout")
    summary = snakemake(workdir, "figures", *CONFIG, "--summary")
    assert summary.returncode == 0, summary.stderr[-3000:]
    for line in summary.stdout.splitlines()[1:]:
        path = workdir / line.split("\t")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix:
            path.touch()
        else:  # directory outputs (models) have no suffix; every file output has one
            path.mkdir(exist_ok=True)
    touched = snakemake(workdir, "figures", *CONFIG, "--touch", "--cores", "1")
    assert touched.returncode == 0, touched.stderr[-3000:]
    return workdir


def test_forced_rerun_runs_only_figure_and_table_rules(finished_ci, repo_root):
    idle = snakemake(finished_ci, "figures", *CONFIG, "-n")
    assert job_counts(idle.stdout + idle.stderr) == {}, "the stand-in run is up to date"
    pattern = makefile_rule_pattern(repo_root)
    listed = snakemake(finished_ci, "--list-rules", *CONFIG).stdout.split()
    rules = [name for name in listed if re.match(pattern, name)]
    assert rules and all(name.startswith(("figure_", "table_")) for name in rules), f"the Makefile forces {rules}"
    assert {"figure_ticket_umap", "table_perplexity", "table_imp_winning"} <= set(rules)
    forced = snakemake(finished_ci, "figures", *CONFIG, "-n", "--forcerun", *rules)
    jobs = job_counts(forced.stdout + forced.stderr)
    assert jobs, forced.stderr[-3000:]
    others = sorted(name for name in jobs if not name.startswith(("figure_", "table_")) and name != "figures")
    assert others == [], f"regenerating the figures reran {others}"
    figure_rules = {name for name in listed if name.startswith(("figure_", "table_"))}
    assert figure_rules <= set(jobs), f"not regenerated: {sorted(figure_rules - set(jobs))}"

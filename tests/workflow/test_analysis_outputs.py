"""Analyses, figures, tables and the HTML report of the ci run, as a user relies on them.

Works on a copy of the session's ci run; builds the `figures` target there when `all` did not already.
"""

from __future__ import annotations

import csv
import json
import re

import pytest

from .conftest import clone_run, failure_report, snakemake

CI_LANGS = ["qaa", "qac", "qae", "qag", "qai", "qak"]
VARIANTS = ["dense", "scaled", "wide", "ticket-snip", "ticket-magnitude", "ticket-random"]
CONFIG = ["--configfile", "config/ci.yaml"]
# Every figure and table the ci config makes (the sft-density figure and tables need a density sweep, which
# the ci config leaves to the demo config).
FIGURES = ["ticket-umap-scaled", "jaccard-heatmaps-scaled-snip", "jaccard-heatmaps-scaled-magnitude",
           "jaccard-heatmaps-scaled-random", "ticket-overlap-scaled", "uc-layers", "stability", "retrieval",
           "imp-sparsity", "imp-transfer", "head-importance", "head-pruning", "headsub-change",
           "imp-overlap-ner-r02", "sft-overlap-ticket-snip"]
TABLES = ["perplexity", "flops", "ticket-density", "ticket-overlap", "family-coherence", "interference", "retrieval",
          "imp-winning", "imp-relative-transfer", "head-dissociation",
          "headsub-las", "headsub-heads", "headsub-conflicts",
          "ner-in-language-f1", "pos-in-language-accuracy", "pos-zero-shot-accuracy", "nli-zero-shot-accuracy",
          "dep-zero-shot-las", "dep-zero-shot-uas", "pos-few-shot-accuracy",
          "sft-summary", "sft-ticket-snip-pos-accuracy"]  # fmt: skip
OUTPUTS = [f"results/figures/{n}.{e}" for n in FIGURES for e in ("pdf", "png")] + [
    f"results/tables/{n}.{e}" for n in TABLES for e in ("csv", "md")
]


def include_rules(workdir):
    """Include analysis.smk and figures.smk in the copy's Snakefile where the checkout does not yet."""
    snakefile = workdir / "Snakefile"
    text = snakefile.read_text()
    anchor = 'include: "workflow/rules/pretrain.smk"\n'
    extra = "".join(f'include: "workflow/rules/{n}"\n' for n in ("analysis.smk", "figures.smk") if n not in text)
    snakefile.write_text(text.replace(anchor, anchor + extra))


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M) if name != "total"}


@pytest.fixture(scope="module")
def run(ci_run, tmp_path_factory):
    """A copy of the ci run with every figure and table built."""
    workdir = clone_run(ci_run, tmp_path_factory.mktemp("figures") / "run")
    include_rules(workdir)
    built = snakemake(workdir, "figures", "--cores", "2", *CONFIG)
    if built.returncode != 0:
        pytest.fail(failure_report(built))
    return built


def load(run, path):
    return json.loads(run.path(path).read_text())


def built_outputs(run) -> list[str]:
    """Every file under results/figures and results/tables of the run."""
    return sorted(str(p.relative_to(run.workdir)) for folder in ("results/figures", "results/tables")
                  for p in run.path(folder).rglob("*") if p.is_file())  # fmt: skip


def test_every_figure_and_table_exists(run):
    missing = [path for path in OUTPUTS if not run.path(path).is_file() or run.path(path).stat().st_size == 0]
    assert missing == []
    unlisted = [path for path in built_outputs(run) if path not in OUTPUTS]
    assert unlisted == [], "add the new figures and tables to FIGURES / TABLES"


def test_subnetwork_tables_cover_every_unit(run):
    winning = list(csv.DictReader(run.path("results/tables/imp-winning.csv").open()))
    assert [(r["task"], r["lang"]) for r in winning] == [("mlm", "qaa"), ("ner", "qaa"), ("ner", "qac"), ("nli", "qaa")]
    assert all(float(r["dense"]) > 0 and r["metric"] for r in winning)
    relative = list(csv.DictReader(run.path("results/tables/imp-relative-transfer.csv").open()))
    assert [(r["task"], r["source"], r["targets"]) for r in relative] == [("ner", "qaa", "1"), ("ner", "qac", "1"),
                                                                          ("ner", "rand", "2")]  # fmt: skip
    assert {"relative_50", "successful_50"} <= set(relative[0])
    dissociation = list(csv.DictReader(run.path("results/tables/head-dissociation.csv").open()))
    pairs = [(r["a"], r["b"], r["contrast"]) for r in dissociation]
    assert pairs == [("ner/qaa", "ner/qac", "language"), ("ner/qaa", "nli/qaa", "task"),
                     ("ner/qac", "nli/qaa", "task+language")]  # fmt: skip
    assert all(r["alpha"] == "0.5000" and r["runs"] == "1" for r in dissociation)


def test_overlap_references(run):
    random = load(run, "results/analysis/overlap/scaled/random.json")["ticket"]
    assert random["mean_off_diagonal"] == pytest.approx(random["random_mean_off_diagonal"], abs=0.05)
    magnitude = load(run, "results/analysis/overlap/scaled/magnitude.json")
    assert magnitude["ticket"]["mean_off_diagonal"] == 1.0, "input-invariant scores: one ticket for all"
    snip = load(run, "results/analysis/overlap/scaled/snip.json")
    same = snip["same_language"]["qaa"]["ticket"]["all"]["jaccard"]
    assert 0 < same <= 1 and snip["languages"] == CI_LANGS


def test_imp_and_sft_mask_overlap_references(run):
    imp = load(run, "results/analysis/imp-overlap/dense/ner/round02.json")
    assert imp["languages"] == ["qaa", "qac"] and imp["sparsity"] == 0.5 and sorted(imp["layers"]) == ["0", "1"]
    assert imp["ticket"]["random_mean_off_diagonal"] == pytest.approx(1 / 3, abs=0.01), "two 50% masks: 1/3"
    assert 0 < imp["same_language"]["qaa"]["ticket"]["all"]["jaccard"] <= 1
    sft = load(run, "results/analysis/sft-overlap/ticket-snip.json")
    assert sft["languages"] == ["qaa", "qac"] and {"embeddings", "0", "1", "2"} <= set(sft["layers"])
    assert 0 < sft["ticket"]["random_mean_off_diagonal"] < sft["ticket"]["mean_off_diagonal"] <= 1
    assert 0 < sft["same_language"]["qaa"]["ticket"]["all"]["jaccard"] <= 1


def test_family_structure_numbers(run):
    report = load(run, "results/analysis/structure/scaled.json")
    assert set(report["methods"]) == {"snip", "magnitude", "random"}
    for entry in report["methods"].values():
        assert set(entry["umap"]) == set(CI_LANGS)
        family = entry["levels"]["family"]
        assert family["groups"] == 3 and family["silhouette_jaccard"] is not None
        assert family["null"]["permutations"] > 0
    rows = list(csv.DictReader(run.path("results/tables/family-coherence.csv").open()))
    assert {(r["method"], r["level"]) for r in rows} >= {("snip", "family"), ("random", "family")}


def test_interference_and_retrieval_cover_every_variant(run):
    uc = load(run, "results/analysis/interference/uc_layers.json")
    assert uc["order"] == VARIANTS
    assert uc["variants"]["dense"]["layers"] == [0, 1] and uc["variants"]["ticket-snip"]["layers"] == [0, 1, 2]
    assert {entry["step"] for entry in uc["variants"].values()} == {20}
    for variant in VARIANTS:
        retrieval = load(run, f"results/analysis/retrieval/{variant}.json")
        assert retrieval["ticketed"] == variant.startswith("ticket-")
        assert retrieval["languages"] == CI_LANGS and retrieval["sentences"] == 60
    perplexity = list(csv.DictReader(run.path("results/tables/perplexity.csv").open()))
    assert [r["variant"] for r in perplexity] == VARIANTS and all(float(r["avg"]) > 1 for r in perplexity)


def test_report_holds_every_figure_and_table(run, tmp_path):
    result = snakemake(run.workdir, "figures", *CONFIG, "--report", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    absent = [path for path in sorted({*OUTPUTS, *built_outputs(run)}) if path.rsplit("/", 1)[1] not in html]
    assert absent == []


def test_regenerating_figures_reruns_only_figure_and_table_rules(run):
    listed = snakemake(run.workdir, "--list-rules", *CONFIG).stdout.split()
    rules = [name for name in listed if name.startswith(("figure_", "table_"))]
    forced = snakemake(run.workdir, "figures", *CONFIG, "-n", "--forcerun", *rules)
    jobs = job_counts(forced.stdout + forced.stderr)
    assert jobs, forced.stderr[-3000:]
    others = sorted(name for name in jobs if not name.startswith(("figure_", "table_")) and name != "figures")
    assert others == [], f"regenerating the figures reran {others}"
    assert set(rules) <= set(jobs), f"not regenerated: {sorted(set(rules) - set(jobs))}"


def test_analyses_figures_and_tables_are_byte_identical_when_redone(run):
    analyses = [str(p.relative_to(run.workdir)) for p in run.path("results/analysis").rglob("*.json")]
    paths = OUTPUTS + analyses
    before = {path: run.path(path).read_bytes() for path in paths}
    # retrieval (a model pass per variant) is left out to keep the test short; the rest reruns from scratch
    pattern = r"(figure_|table_|analysis_(overlap|structure|interference|imp_overlap|sft_overlap)$)"
    rules = [n for n in snakemake(run.workdir, "--list-rules", *CONFIG).stdout.split() if re.match(pattern, n)]
    redone = snakemake(run.workdir, "figures", "--cores", "2", *CONFIG, "--forcerun", *rules)
    assert redone.returncode == 0, failure_report(redone)
    changed = [path for path in paths if run.path(path).read_bytes() != before[path]]
    assert changed == []

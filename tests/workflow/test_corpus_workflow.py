"""Corpus stages of the ci run: outputs, partial reruns and bad input, as a user relies on them."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import clone_run, snakemake

CI_LANGS = ["qaa", "qac", "qae", "qag", "qai", "qak"]


def corpus_files(workdir, lang):
    return [workdir / f"results/corpus/{lang}/{name}" for name in ("docs.jsonl.gz", "stats.json", "sentences.txt.gz", "split_stats.json")]


def planned_jobs(output: str) -> set[tuple[str, str]]:
    """(rule, lang) of every job a Snakemake dry run plans."""
    jobs = set()
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        rule = re.match(r"(?:local)?rule (\w+):", block.strip())
        lang = re.search(r"wildcards: .*?\blang=(\w+)", block)
        if rule:
            jobs.add((rule.group(1), lang.group(1) if lang else ""))
    return jobs


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a Snakemake dry run."""
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_corpus_outputs(ci_run):
    for lang in CI_LANGS:
        stats = json.loads(ci_run.path(f"results/corpus/{lang}/stats.json").read_text())
        with gzip.open(ci_run.path(f"results/corpus/{lang}/docs.jsonl.gz"), "rt", encoding="utf-8") as handle:
            docs = [json.loads(line) for line in handle]
        assert len(docs) == stats["articles"] > 0
        assert stats["redirects"] > 0, "the demo dumps carry redirects that extraction must skip"
        assert all(doc["text"] and doc["title"] and "[[" not in doc["text"] for doc in docs)
        sentences = gzip.open(ci_run.path(f"results/corpus/{lang}/sentences.txt.gz"), "rt", encoding="utf-8").read()
        assert sentences.count("\n\n") >= len(docs) - 1, "documents are separated by blank lines"


def test_vocab_and_tokens(ci_run):
    sampling = json.loads(ci_run.path("results/vocab/sampling.json").read_text())
    tokenizer = json.loads(ci_run.path("results/vocab/tokenizer.json").read_text())
    assert tokenizer["model"]["type"] == "WordPiece"
    for lang in CI_LANGS:
        meta = json.loads(ci_run.path(f"results/tokens/{lang}/meta.json").read_text())
        assert meta["lang"] == lang
        assert ci_run.path(f"results/tokens/{lang}/train.bin").stat().st_size > 0
    assert set(sampling["languages"]) == set(CI_LANGS)


def test_rerun_has_nothing_to_do(ci_run):
    run = snakemake(ci_run.workdir, "-n", "--configfile", "config/ci.yaml")
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


@pytest.fixture(scope="module")
def changed_dump_run(ci_run, tmp_path_factory):
    """A clone of the ci run in which one language's dump changed (regenerated with another seed)."""
    workdir = clone_run(ci_run, tmp_path_factory.mktemp("partial") / "checkout")
    dump = workdir / "resources/demo/dumps/qac" "wiki-demo-pages-articles.xml.bz2"
    subprocess.run(
        [sys.executable, "-m", "langtickets", "make-demo", "dump", "--table", "config/demo-languages.tsv",
         "--lang", "qac", "--seed", "99", "--documents", "80", "--out", str(dump)],
        cwd=workdir, check=True, capture_output=True,
    )
    return workdir


def test_changed_dump_plans_only_that_language(changed_dump_run):
    run = snakemake(changed_dump_run, "-n", "--configfile", "config/ci.yaml")
    counts = job_counts(run.stdout + run.stderr)
    assert counts.get("extract") == 1 and counts.get("split_sentences_moses") == 1, counts
    assert counts.get("make_demo_dump") is None, counts
    assert counts.get("train_vocab") == 1, counts
    jobs = planned_jobs(run.stdout + run.stderr)
    corpus_jobs = {(rule, lang) for rule, lang in jobs if rule in {"extract", "split_sentences_moses", "make_demo_dump"}}
    assert corpus_jobs == {("extract", "qac"), ("split_sentences_moses", "qac")}, corpus_jobs


def test_changed_dump_reruns_only_that_language(changed_dump_run):
    before = {path: path.stat().st_mtime_ns for lang in CI_LANGS if lang != "qac" for path in corpus_files(changed_dump_run, lang)}
    targets = [str(p.relative_to(changed_dump_run)) for lang in CI_LANGS for p in corpus_files(changed_dump_run, lang)]
    run = snakemake(changed_dump_run, "--cores", "2", "--configfile", "config/ci.yaml", "--", *targets)
    assert run.returncode == 0, run.stderr[-3000:]
    after = {path: path.stat().st_mtime_ns for path in before}
    assert before == after, "other languages' corpus outputs must be untouched"
    stats = json.loads((changed_dump_run / "results/corpus/qac/stats.json").read_text())
    assert stats["articles"] > 0


BAD_DUMPS = {
    "truncated": lambda data: data[: len(data) // 2],
    "corrupt": lambda data: data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:],
    "html": lambda data: b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_DUMPS))
def test_bad_dump_fails_cleanly_and_spares_other_languages(ci_run, tmp_path, kind):
    workdir = clone_run(ci_run, tmp_path / "checkout")
    shutil.rmtree(workdir / "results/corpus/qae")  # a language met for the first time, with a bad dump
    shutil.rmtree(workdir / "results/corpus/qak")  # and one with a good dump that must still be built
    dump = workdir / "resources/demo/dumps/qae" "wiki-demo-pages-articles.xml.bz2"
    dump.write_bytes(BAD_DUMPS[kind](dump.read_bytes()))
    targets = [str(p.relative_to(workdir)) for lang in CI_LANGS for p in corpus_files(workdir, lang)]
    run = snakemake(workdir, "--cores", "2", "--keep-going", "--configfile", "config/ci.yaml", "--", *targets)
    assert run.returncode != 0
    log = (workdir / "logs/corpus/qae/extract.log").read_text()
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "qaewiki-demo-pages-articles.xml.bz2" in errors[0], log[-2000:]
    assert "Traceback" not in log
    assert not any(path.exists() for path in corpus_files(workdir, "qae")), "no partial output"
    assert not list((workdir / "results/corpus/qae").glob(".*tmp*"))
    for lang in set(CI_LANGS) - {"qae"}:
        assert all(path.exists() for path in corpus_files(workdir, lang)), lang
    rebuilt = json.loads((workdir / "results/corpus/qak/stats.json").read_text())
    assert rebuilt == json.loads(ci_run.path("results/corpus/qak/stats.json").read_text())

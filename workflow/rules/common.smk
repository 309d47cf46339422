# Shared definitions: the validated language table, wildcard constraints, paths and target lists.
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))

from langtickets.languages import load_table  # noqa: E402

# Jobs run the library from this checkout, whatever environment (venv or conda) they run in.
# (Snakemake formats the prefix like a shell command, so literal braces are doubled.)
shell.prefix("set -euo pipefail; export PYTHONPATH='" + str(REPO / "src") + "'${{PYTHONPATH:+:$PYTHONPATH}}; ")


def repo_path(path):
    """A config path: absolute as given, else relative to the repository."""
    path = Path(path)
    return path if path.is_absolute() else REPO / path


LANGUAGE_TABLE_PATH = repo_path(config["languages_table"])
LANGUAGE_TABLE = load_table(LANGUAGE_TABLE_PATH, REPO / "config" / "schema" / "languages.schema.yaml")
CONFIG_FILES = ", ".join(str(path) for path in workflow.configfiles) or "the config"
LANGS = [row.code for row in LANGUAGE_TABLE.select(config["languages"], where=f"'languages' of {CONFIG_FILES}")]
DATA_DIR = repo_path(config["data_dir"])


def lang_regex(codes):
    return "|".join(sorted(codes, key=len, reverse=True)) or "(?!)"


def langs_with_splitter(name):
    return [code for code in LANGS if LANGUAGE_TABLE[code].splitter == name]


wildcard_constraints:
    lang=lang_regex(LANGS),


def rule_resources(name):
    """Cluster resources of one rule from the config's 'resources' section (empty when unset)."""
    return dict(config["resources"].get(name, {}))


CORPUS = config["corpus"]
DEMO = config["demo"]
VOCAB = config["vocab"]
TOKENIZE = config["tokenize"]


def dump_path(wildcards):
    """The dump a language's extraction reads, by corpus source."""
    row = LANGUAGE_TABLE[wildcards.lang]
    source = CORPUS["source"]
    if source == "demo":
        return f"resources/demo/dumps/{row.code}wiki-demo-pages-articles.xml.bz2"
    if source == "download":
        return f"resources/dumps/{row.wiki}wiki-{CORPUS['dump_date']}-pages-articles.xml.bz2"
    pattern = CORPUS["local_overrides"].get(row.code, CORPUS["local_pattern"])
    return str(repo_path(pattern.format(data_dir=DATA_DIR, wiki=row.wiki, lang=row.code)))


def corpus_targets():
    return expand(
        "results/corpus/{lang}/{name}",
        lang=LANGS,
        name=["docs.jsonl.gz", "stats.json", "sentences.txt.gz", "split_stats.json"],
    )


def vocab_targets():
    return ["results/vocab/tokenizer.json", "results/vocab/sampling.json"] + expand(
        "results/tokens/{lang}/{name}", lang=LANGS, name=["train.bin", "valid.bin", "meta.json"]
    )


def all_targets():
    targets = corpus_targets() + vocab_targets()
    return targets

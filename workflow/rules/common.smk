# Shared definitions: the validated language table, wildcard constraints, paths and target lists.
import re
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))

from langtickets.errors import ConfigError  # noqa: E402
from langtickets.languages import load_table  # noqa: E402
from langtickets.pretrain import VARIANTS  # noqa: E402  (light import: no torch)
from langtickets.tasks.spec import spec_from_config  # noqa: E402  (light import: no torch)

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


def rule_threads(name, default):
    """Threads of a rule: the config's 'threads' entry for it, else the rule's default."""
    return config["threads"].get(name, default)


def chain_group(name):
    """The Snakemake group of a language's chain of small jobs (config cluster.group_chains), else none."""
    return f"{name}-{{lang}}" if config["cluster"]["group_chains"] else None


def rule_resources(name):
    """Cluster resources of one rule from the config's 'resources' section (empty when unset)."""
    return dict(config["resources"].get(name, {}))


# Stage functions live beside this file, one per stage group (snakemake --lint keeps functions out of rule files).
include: "functions/corpus.smk"
include: "functions/tickets.smk"
include: "functions/pretrain.smk"
include: "functions/tasks.smk"
include: "functions/sft.smk"
include: "functions/analysis.smk"
include: "functions/figures.smk"
include: "functions/subnetworks.smk"
include: "functions/headsub.smk"
include: "functions/launcher.smk"


def all_targets():
    targets = ["results/languages/family_tree.tsv"] + demo_targets() + corpus_targets() + vocab_targets()
    targets += tickets_targets() + pretrain_targets() + export_targets() + tasks_targets()
    targets += sft_targets() + analysis_targets() + figures_targets() + subnetworks_targets() + headsub_targets()
    return targets

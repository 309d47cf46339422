# Shared definitions: the validated language table, wildcard constraints, paths and target lists.
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))

from langtickets.errors import ConfigError  # noqa: E402
from langtickets.languages import load_table  # noqa: E402
from langtickets.pretrain import VARIANTS  # noqa: E402  (light import: no torch)

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


MODEL = config["model"]
TICKETS = config["tickets"]
ARCHS = ["base", "scaled", "wide"]
ARCH_LAYERS = {"base": MODEL["layers"], "scaled": MODEL["scaled_layers"], "wide": MODEL["layers"]}


def ticket_ratio(arch):
    """r for an architecture: the configured override, else eta_0 / (its layers) (section 3.1)."""
    return TICKETS["ratio"].get(arch, MODEL["layers"] / ARCH_LAYERS[arch])


def ticket_scores(wildcards):
    return expand(
        "results/tickets/{arch}/{method}/scores/{lang}.safetensors",
        arch=wildcards.arch,
        method=wildcards.method,
        lang=LANGS,
    )


def tickets_targets():
    targets = expand("results/models/init/{arch}", arch=ARCHS) + ["results/tickets/flops.csv"]
    targets += expand(
        "results/tickets/{arch}/{method}/{name}",
        arch=TICKETS["archs"],
        method=TICKETS["methods"],
        name=["masks.safetensors", "density.csv"],
    )
    return targets


def export_targets():
    """Per-language exports of the pretrained ticketed variants (pretraining must run them)."""
    variants = [v for v in TICKETS["export_variants"] if v in PRETRAIN["variants"]]
    return expand("results/pretrain/{variant}/export/{lang}", variant=variants, lang=export_langs())


def export_langs():
    unknown = [lang for lang in TICKETS["export_langs"] if lang not in LANGS]
    if unknown:
        raise ConfigError(
            f"tickets.export_langs names {unknown}, which are not pretraining languages; "
            "pick codes from 'languages' of the config"
        )
    return TICKETS["export_langs"]


PRETRAIN = config["pretrain"]
INTERFERENCE = config["interference"]
PRETRAIN_OUTPUTS = [
    "train_log.jsonl",
    "perplexity.json",
    "interference/uc.json",
    "interference/gc.json",
    "interference/stability.json",
]


def pretrain_inputs(wildcards):
    """The variant's init model, every language's token shard, and its ticket masks when it has a ticket."""
    arch, method = VARIANTS[wildcards.variant]
    inputs = {
        "init": f"results/models/init/{arch}",
        "meta": expand("results/tokens/{lang}/meta.json", lang=LANGS),
        "train": expand("results/tokens/{lang}/train.bin", lang=LANGS),
        "valid": expand("results/tokens/{lang}/valid.bin", lang=LANGS),
    }
    if method is not None:
        inputs["masks"] = f"results/tickets/{arch}/{method}/masks.safetensors"
    return inputs


def pretrain_masks_flag(wildcards, input):
    return f"--masks {input.masks}" if "masks" in input.keys() else ""


def uc_layers_arg():
    layers = INTERFERENCE["layers"]
    return layers if isinstance(layers, str) else ",".join(str(layer) for layer in layers) or "none"


def pretrain_targets():
    targets = expand("results/pretrain/{variant}/model", variant=PRETRAIN["variants"])
    targets += expand("results/pretrain/{variant}/{name}", variant=PRETRAIN["variants"], name=PRETRAIN_OUTPUTS)
    return targets


def demo_targets():
    """Task data and parallel sentences of the demo languages (only with the demo corpus)."""
    if CORPUS["source"] != "demo":
        return []
    return expand("resources/demo/tasks/{lang}/ud-train.conllu", lang=LANGS) + expand(
        "resources/demo/parallel/{lang}.txt", lang=LANGS
    )


def all_targets():
    targets = ["results/languages/family_tree.tsv"] + demo_targets() + corpus_targets() + vocab_targets()
    targets += tickets_targets() + pretrain_targets() + export_targets()
    return targets

# Language-specific head subnetworks with meta-learning: targets and input functions (rules: headsub.smk).
HEADSUB = config["headsub"]
HEADSUB_FRAMEWORKS = ["nonep", "meta"]
HEADSUB_TABLES = ["las", "heads", "conflicts"]
#: the subnetworks file each variant starts from (mirrors langtickets.headsub.use.SOURCES)
HEADSUB_SOURCES = {"static": "heads", "dynamic": "heads", "random-static": "random", "random-dynamic": "random",
                   "magnitude-static": "magnitude", "magnitude-dynamic": "magnitude"}  # fmt: skip


def headsub_langs(key):
    """headsub.source / languages / targets, checked against the language table."""
    codes = [HEADSUB[key]] if key == "source" else list(HEADSUB[key])
    LANGUAGE_TABLE.select(codes, where=f"'headsub.{key}' of {CONFIG_FILES}")
    return codes


def headsub_frameworks():
    """Frameworks with variants to train (none when headsub.languages is empty)."""
    if not HEADSUB["languages"]:
        return []
    if not HEADSUB["targets"]:
        raise ConfigError(f"headsub.languages is set in {CONFIG_FILES} but headsub.targets is empty; add targets")
    overlap = set(headsub_langs("languages")) & ({HEADSUB["source"]} | set(headsub_langs("targets")))
    if overlap:
        raise ConfigError(f"headsub: {sorted(overlap)} are both fine-tuning languages and the source or targets "
                          f"in {CONFIG_FILES}; a language has one role")  # fmt: skip
    return [framework for framework in HEADSUB_FRAMEWORKS if HEADSUB["models"].get(framework)]


def headsub_mask_sources():
    """Subnetwork files the configured variants need (heads and random are always written)."""
    return {HEADSUB_SOURCES[v] for framework in headsub_frameworks() for v in HEADSUB["models"][framework]
            if v in HEADSUB_SOURCES}  # fmt: skip


def headsub_spec(lang):
    """The UD DatasetSpec of a language: headsub.dataset when given, else tasks.datasets.dep."""
    row = LANGUAGE_TABLE[lang]
    fields = {"data_dir": str(DATA_DIR), "iso3": row.iso639_3, "name": row.name}
    entry = HEADSUB.get("dataset") or TASKS_CFG["datasets"]["dep"]
    return spec_from_config("dep", entry, lang=lang, fields=fields, where=CONFIG_FILES)


def headsub_splits(needs, optional=()):
    """{lang: [splits]}: the required ones (a ConfigError naming the language when absent) and any of
    ``optional`` that the language's data has."""
    chosen = {}
    for lang, required in needs.items():
        spec = headsub_spec(lang)
        missing = [split for split in required if split not in spec.splits]
        if missing:
            raise ConfigError(f"headsub: language '{lang}' has no {'/'.join(missing)} split in {CONFIG_FILES}; "
                              "give it one (headsub.dataset or tasks.datasets.dep) or change its role")  # fmt: skip
        chosen[lang] = list(required) + [s for s in optional if s in spec.splits and s not in required]
    return chosen


def headsub_data_flags(splits):
    """--format/--train/--dev/--test LANG=VALUE flags of the headsub commands."""
    specs = {lang: headsub_spec(lang) for lang in splits}
    flags = ["--format " + " ".join(f"{lang}={spec.format}" for lang, spec in specs.items())]
    for split in ("train", "dev", "test"):
        pairs = [f"{lang}={specs[lang].source(split)}" for lang, wanted in splits.items() if split in wanted]
        flags += [f"--{split} {' '.join(pairs)}"] if pairs else []
    return " ".join(flags)


def headsub_data_files(splits):
    files = [headsub_spec(lang).source(split) for lang, wanted in splits.items() for split in wanted]
    return [path for path in files if not path.startswith("hf:")]


def headsub_subnetwork_splits():
    """Stage 1 needs the source's train split (dev when present scores it); pruning needs train and dev."""
    source = headsub_splits({headsub_langs("source")[0]: ["train"]}, optional=["dev"])
    return {**source, **headsub_splits({lang: ["train", "dev"] for lang in headsub_langs("languages")})}


def headsub_train_splits():
    """Fine-tuning languages: train and test (Table 4); targets: test, and dev (the few-shot pool) if any."""
    langs = headsub_splits({lang: ["train", "test"] for lang in headsub_langs("languages")})
    return {**langs, **headsub_splits({lang: ["test"] for lang in headsub_langs("targets")}, optional=["dev"])}


def headsub_folder(model=None, *parts):
    """results/headsub/MODEL[/PART...] (the configured model by default)."""
    return Path("results", "headsub", model or HEADSUB["model"], *parts).as_posix()


def headsub_subnetwork_outputs():
    """Outputs of headsub_subnetworks (``{model}`` left as a wildcard); magnitude masks only when used."""
    folder = headsub_folder("{model}", "subnetworks")
    outputs = {"json": f"{folder}/subnetworks.json", "heads": f"{folder}/heads.safetensors",
               "random": f"{folder}/random.safetensors", "source": directory(f"{folder}/source")}  # fmt: skip
    if "magnitude" in headsub_mask_sources():
        outputs["magnitude"] = f"{folder}/magnitude.safetensors"
    return outputs


def _headsub_model_flags():
    shared, train = TASKS_CFG["train"], HEADSUB["train"]
    return (
        f"--batch-size {train['batch_size']} --encoder-lr {train['encoder_lr']} --head-lr {train['head_lr']}"
        f" --mask-lr {HEADSUB['dynamic']['lr']} --weight-decay {train['weight_decay']}"
        f" --warmup-ratio {train['warmup_ratio']} --max-grad-norm {shared['max_grad_norm']}"
        f" --eval-batch-size {shared['eval_batch_size']} --max-length {TASKS_CFG['max_length']}"
        f" --head-dropout {shared['head_dropout']} --arc-dim {shared['arc_dim']}"
        f" --relation-dim {shared['relation_dim']}"
        f" --device {HEADSUB['device']}"
    )  # fmt: skip


def headsub_subnetworks_inputs(wildcards):
    return {"model": f"results/pretrain/{wildcards.model}/model",
            "data": headsub_data_files(headsub_subnetwork_splits())}  # fmt: skip


def headsub_subnetworks_params(wildcards):
    pruning, stage1 = HEADSUB["pruning"], HEADSUB["stage1"]
    return (
        f"--source {HEADSUB['source']} --languages {' '.join(headsub_langs('languages'))}"
        f" {headsub_data_flags(headsub_subnetwork_splits())} --runs {' '.join(map(str, range(pruning['seeds'])))}"
        f" --stage1-epochs {stage1['epochs']} --stage1-max-updates {stage1['max_updates']}"
        f" --prune-epochs {pruning['epochs']} --prune-max-updates {pruning['max_updates']}"
        f" --share {pruning['share']} --threshold {pruning['threshold']}"
        f" --magnitude-share {pruning['magnitude_share']} --importance-examples {pruning['importance_examples']}"
        f"{' --magnitude' if 'magnitude' in headsub_mask_sources() else ''} {_headsub_model_flags()}"
    )  # fmt: skip


def headsub_train_inputs(wildcards):
    folder = headsub_folder(wildcards.model, "subnetworks")
    sources = {HEADSUB_SOURCES[v] for v in HEADSUB["models"][wildcards.framework] if v in HEADSUB_SOURCES}
    return {"source": f"{folder}/source", "masks": [f"{folder}/{name}.safetensors" for name in sorted(sources)],
            "data": headsub_data_files(headsub_train_splits())}  # fmt: skip


def headsub_similarity_flags():
    """--similarity demo (the demo grammars' typology) for the demo corpus, else URIEL with ISO 639-3 codes."""
    method = HEADSUB["similarity"]
    if method == "auto":
        method = "demo" if config["corpus"]["source"] == "demo" else "uriel"
    if method == "demo":
        return f"--similarity demo --languages-table {LANGUAGE_TABLE_PATH} --demo-seed {config['seed']}"
    langs = headsub_langs("languages") + headsub_langs("targets")
    return "--similarity uriel --iso3 " + " ".join(f"{lang}={LANGUAGE_TABLE[lang].iso639_3}" for lang in langs)


def headsub_train_params(wildcards):
    folder = headsub_folder(wildcards.model, "subnetworks")
    variants = HEADSUB["models"][wildcards.framework]
    sources = {HEADSUB_SOURCES[v] for v in variants if v in HEADSUB_SOURCES}
    meta, fewshot, dynamic = HEADSUB["meta"], HEADSUB["fewshot"], HEADSUB["dynamic"]
    return (
        f"--variants {' '.join(variants)} {' '.join(f'--{s} {folder}/{s}.safetensors' for s in sorted(sources))}"
        f" --languages {' '.join(headsub_langs('languages'))} --targets {' '.join(headsub_langs('targets'))}"
        f" {headsub_data_flags(headsub_train_splits())} {headsub_similarity_flags()}"
        f" --runs {' '.join(map(str, range(HEADSUB['runs'])))} --iterations {HEADSUB['nonep']['iterations']}"
        f" --window {HEADSUB['conflicts_window']} --drop-share {dynamic['drop_share']} --mask-init {dynamic['init']}"
        f" --episodes {meta['episodes']} --shots {meta['shots']} --inner-steps {meta['inner_steps']}"
        f" --inner-encoder-lr {meta['inner_encoder_lr']} --inner-head-lr {meta['inner_head_lr']}"
        f" --outer-encoder-lr {meta['outer_encoder_lr']} --outer-head-lr {meta['outer_head_lr']}"
        f" --fewshot-examples {fewshot['examples']} --fewshot-updates {fewshot['updates']}"
        f" --fewshot-seeds {' '.join(map(str, range(fewshot['seeds'])))} {_headsub_model_flags()}"
    )  # fmt: skip


def headsub_results():
    return [f"{headsub_folder()}/{framework}/results.json" for framework in headsub_frameworks()]


def headsub_table_files():
    """Outputs of table_headsub_results: results/tables/headsub-{las,heads,conflicts}.{csv,md}, in the report."""
    return {
        f"{name}_{ext}": report(
            f"results/tables/headsub-{name}.{ext}",
            caption=f"../report/table_headsub_{name}.rst",
            category="Tables",
            labels={"table": f"headsub-{name}", "format": ext.upper()},
        )
        for name in HEADSUB_TABLES
        for ext in ("csv", "md")
    }


def headsub_figures():
    """The headsub figure and tables (for the `figures` target)."""
    if not headsub_frameworks():
        return []
    tables = expand("results/tables/headsub-{name}.{ext}", name=HEADSUB_TABLES, ext=["csv", "md"])
    return expand("results/figures/headsub-change.{ext}", ext=["pdf", "png"]) + tables


def headsub_targets():
    """Every head-subnetwork output: the subnetworks, each framework's results, the tables and the figure."""
    if not headsub_frameworks():
        return []
    folder = headsub_folder()
    targets = [f"{folder}/subnetworks/subnetworks.json"] + headsub_results()
    targets += [f"{folder}/{framework}/scores.csv" for framework in headsub_frameworks()]
    return targets + headsub_figures()

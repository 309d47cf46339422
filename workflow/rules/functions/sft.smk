# LT-SFT targets, inputs and command-line options (rules: sft.smk; LT-SFT paper sections 3-5).
SFT = config["sft"]
SFT_SWEEP = SFT["sweep"]
SFT_RUNS = list(range(SFT["seeds"]))
SFT_METHODS = ["lt-sft", "rand-sft", "bitfit", "full"]


def _sft_where(key):
    return f"'sft.{key}' of {CONFIG_FILES}"


def _sft_check_models(models, key):
    pretrained, external = config["pretrain"]["variants"], TASKS_CFG["external_models"]
    unknown = [m for m in models if not (m in VARIANTS and m in pretrained) and m not in external]
    if unknown:
        raise ConfigError(
            f"{_sft_where(key)} names {unknown}, which are neither pretraining variants in pretrain.variants nor "
            "tasks.external_models; add a Hugging Face model (hub name or local folder) under tasks.external_models"
        )
    return list(models)


def sft_models():
    """Models that get SFTs: sft.models, else the tasks stage's models that are pretraining variants."""
    return _sft_check_models(SFT["models"] or [m for m in task_models() if m in VARIANTS], "models")


def sft_external_models():
    """SFT models that are tasks.external_models (Hugging Face models: their own tokenizer and token shards)."""
    return [m for m in dict.fromkeys(sft_models() + sft_sweep_models()) if m in TASKS_CFG["external_models"]]


def sft_model_source(model):
    """What the SFT stages load: a pretraining variant's folder, or an external model's folder or hub name."""
    return model_source(model)


def sft_model_inputs(model):
    """The model as a Snakemake input: its folder (a hub name is no file)."""
    return model_inputs(model)


def sft_model_param(wildcards):
    return sft_model_source(wildcards.model)


def sft_tokenize_inputs(wildcards):
    """An external model's tokenize job: the language's sentences, and the model folder when it is local."""
    return {"sentences": f"results/corpus/{wildcards.lang}/sentences.txt.gz",
            "model": sft_model_inputs(wildcards.model)}  # fmt: skip


def sft_tokenize_source(wildcards):
    return sft_model_source(wildcards.model)


def sft_tokens(model, lang):
    """A language's token folder for a model: the shared vocabulary's, or results/tokens-{model}/ made with an
    external model's own tokenizer."""
    return f"results/tokens-{model}/{lang}" if model in TASKS_CFG["external_models"] else f"results/tokens/{lang}"


def sft_language_inputs(wildcards):
    tokens = sft_tokens(wildcards.model, wildcards.lang)
    return {"model": sft_model_inputs(wildcards.model), "meta": f"{tokens}/meta.json",
            "train": f"{tokens}/train.bin", "valid": f"{tokens}/valid.bin"}  # fmt: skip


def sft_transfer_entries():
    """sft.transfer as [{task, sources, tag, targets, methods}]; tag is the sources joined by '+'."""
    entries, seen = [], set()
    for entry in SFT["transfer"]:
        LANGUAGE_TABLE.select([*entry["sources"], *entry["targets"]], where=_sft_where("transfer"))
        tag = "+".join(entry["sources"])
        if (entry["task"], tag) in seen:
            raise ConfigError(f"task '{entry['task']}' from '{tag}' is listed twice in {_sft_where('transfer')}")
        seen.add((entry["task"], tag))
        with_corpus = [lang for lang in entry["sources"] if lang in LANGS]
        if with_corpus and len(with_corpus) != len(entry["sources"]):
            raise ConfigError(
                f"{_sft_where('transfer')}: the sources {tag} of {entry['task']} mix languages with and without a "
                "corpus; multi-source training applies every source's language SFT"
            )
        methods = entry.get("methods") or SFT["methods"]
        entries.append({"task": entry["task"], "sources": list(entry["sources"]), "tag": tag,
                        "targets": list(entry["targets"]), "methods": list(methods)})  # fmt: skip
    return entries


def sft_entry(task, tag):
    return next(e for e in sft_transfer_entries() if (e["task"], e["tag"]) == (task, tag))


def sft_language_method(method):
    """The language-SFT method a task method is composed with (sft.language_methods)."""
    return SFT["language_methods"][method]


def sft_language_methods():
    """Language-SFT methods any configured task method needs, in a fixed order."""
    wanted = {sft_language_method(m) for e in sft_transfer_entries() for m in e["methods"]}
    return [m for m in SFT_METHODS if m in wanted]


def sft_language_sft(model, lang, method):
    return f"results/sft/{model}/language/{lang}/{sft_language_method(method)}.safetensors"


def sft_language_outputs():
    return expand("results/sft/{{model}}/language/{{lang}}/{method}.{ext}", method=sft_language_methods(),
                  ext=["safetensors", "json"])  # fmt: skip


def sft_budget_flag(spec):
    """A budget from the config (an integer K, 'P%' or 'rf:R') as the stages' flag."""
    text = str(spec)
    if text.endswith("%"):
        return f"--density {float(text[:-1]) / 100:g}"
    if text.startswith("rf:"):
        return f"--reduction-factor {text[3:]}"
    return f"--k {int(text)}"


def sft_language_options(cap=None):
    """Training flags of language-sft (sft.language); the sweep caps a phase at ``cap`` steps (footnote 5)."""
    lang = SFT["language"]
    steps, least = lang["max_steps"], lang["min_steps"]
    if cap is not None:
        steps = min(cap, steps or cap)
        least = min(least, steps)
    return (
        f"--max-epochs {lang['max_epochs']} --max-steps {steps} --min-steps {least}"
        f" --batch-size {lang['batch_size']} --seq-len {lang['seq_len']} --lr {lang['lr']} --l1 {lang['l1']}"
        f" --mlm-probability {lang['mlm_probability']} --eval-every {lang['eval_every']}"
        f" --eval-batches {lang['eval_batches']} --mlm-head {lang['mlm_head']}"
    )


def sft_runtime_options(seed=None):
    """Seed (the config's unless given: the overlap analysis' second language SFT), tickets and device flags."""
    return (
        f"--seed {config['seed'] if seed is None else seed} --tickets {SFT['tickets']} --mask-fallback {TASKS_CFG['mask_fallback']}"
        f" --device {TASKS_CFG['device']}"
    )


def sft_task_options(task):
    """Training and head flags of task-sft and sft-sweep (sft.task with its per_task overrides; heads and
    lengths as in the tasks stage)."""
    recipe = {**SFT["task"], **SFT["task"]["per_task"].get(task, {})}
    train = TASKS_CFG["train"]
    return (
        f"--epochs {recipe['epochs']} --phase1-epochs {recipe['phase1_epochs']} --max-steps {recipe['max_steps']}"
        f" --batch-size {recipe['batch_size']} --lr {recipe['lr']} --eval-every {recipe['eval_every']}"
        f" --l1 {recipe['l1']} --max-grad-norm {recipe['max_grad_norm']} --max-length {TASKS_CFG['max_length']}"
        f" --eval-batch-size {train['eval_batch_size']} --head-dropout {train['head_dropout']}"
        f" --arc-dim {train['arc_dim']} --relation-dim {train['relation_dim']} --runs {' '.join(map(str, SFT_RUNS))}"
    )


def sft_source_data(task, sources):
    """Reading flags (from the first source's entry) and LANG=FILE train/dev pairs of every source."""
    specs = {lang: task_spec(task, lang) for lang in sources}
    first = specs[sources[0]]
    train = " ".join(f"{lang}={spec.source('train')}" for lang, spec in specs.items())
    dev = " ".join(f"{lang}={spec.source('dev')}" for lang, spec in specs.items() if "dev" in spec.splits)
    filters = " ".join(f"{lang}={spec.language}" for lang, spec in specs.items() if spec.language)
    flags = [f"--task {task} --format {first.format} --train {train}"]
    flags += [f"--dev {dev}"] if dev else []
    flags += [f"--data-language {filters}"] if filters else []
    flags += ["--repair-bio"] if first.repair_bio else []
    flags += [f"--map-to-o {' '.join(first.map_to_o)}"] if first.map_to_o else []
    return " ".join(flags)


def sft_task_inputs(wildcards):
    entry = sft_entry(wildcards.task, wildcards.source)
    sources = [lang for lang in entry["sources"] if lang in LANGS]
    return {
        "model": sft_model_inputs(wildcards.model),
        "language": [sft_language_sft(wildcards.model, lang, wildcards.method) for lang in sources],
        "data": [f for lang in entry["sources"] for f in task_files(wildcards.task, lang, ["train", "dev"])],
    }


def sft_task_params(wildcards, input):
    """Budget, source and data flags of one task-sft job."""
    entry = sft_entry(wildcards.task, wildcards.source)
    budget = sft_budget_flag(SFT["task"]["k"]) if wildcards.method in ("lt-sft", "rand-sft") else ""
    with_corpus = [lang for lang in entry["sources"] if lang in LANGS]
    pairs = [f"{lang}={path}" for lang, path in zip(with_corpus, input.language)]
    language = f"--language-sft {' '.join(pairs)}" if pairs else ""
    data = sft_source_data(wildcards.task, entry["sources"])
    return f"{budget} --source {' '.join(entry['sources'])} {language} {data}"


def sft_task_outputs():
    return expand("results/sft/{{model}}/task/{{task}}/{{source}}/{{method}}/seed{n}.{ext}", n=SFT_RUNS,
                  ext=["safetensors", "json"])  # fmt: skip


def sft_composed_targets(entry):
    """Targets scored with their language SFT composed in: those with a corpus, or all with sft.no_corpus
    'task-only' (the others then score task-only, and their files say so)."""
    if SFT["no_corpus"] == "task-only":
        return entry["targets"]
    return [lang for lang in entry["targets"] if lang in LANGS]


def sft_eval_dir(entry):
    return f"results/sft/{{model}}/eval/{entry['task']}/{entry['tag']}"


def sft_eval_files(entry):
    """Metrics files of an entry, rows in table order: methods composed, then TA-only."""
    folder = sft_eval_dir(entry).replace("{model}", "{{model}}")  # kept as a wildcard by expand
    files = []
    for method in entry["methods"]:
        files += expand(f"{folder}/{method}/composed/{{lang}}/seed{{n}}.json", lang=sft_composed_targets(entry),
                        n=SFT_RUNS)  # fmt: skip
    for method in [m for m in entry["methods"] if m in SFT["task_only"]]:
        files += expand(f"{folder}/{method}/task-only/{{lang}}/seed{{n}}.json", lang=entry["targets"], n=SFT_RUNS)
    if not files:
        raise ConfigError(
            f"{_sft_where('transfer')}: {entry['task']} from {entry['tag']} scores nothing (no target has a corpus and "
            "none of its methods is in sft.task_only); add a target with a corpus or list a method in sft.task_only"
        )
    return files


def sft_eval_inputs(entry):
    def inputs(wildcards):
        task_sfts = [f"results/sft/{wildcards.model}/task/{entry['task']}/{entry['tag']}/{method}/seed{n}.safetensors"
                     for method in entry["methods"] for n in SFT_RUNS]  # fmt: skip
        language = [sft_language_sft(wildcards.model, lang, method) for method in entry["methods"]
                    for lang in entry["targets"] if lang in LANGS]  # fmt: skip
        tests = [f for lang in entry["targets"] for f in task_files(entry["task"], lang, ["test"])]
        return {"model": sft_model_inputs(wildcards.model), "task_sfts": task_sfts,
                "language": language, "data": tests}  # fmt: skip

    return inputs


def sft_eval_params(entry):
    """Task-SFT folders, METHOD:LANG=SFT pairs, TA-only methods and the targets' test flags."""

    def params(wildcards):
        folders = " ".join(f"{m}=results/sft/{wildcards.model}/task/{entry['task']}/{entry['tag']}/{m}"
                           for m in entry["methods"])  # fmt: skip
        pairs = [f"{m}:{lang}={sft_language_sft(wildcards.model, lang, m)}" for m in entry["methods"]
                 for lang in entry["targets"] if lang in LANGS]  # fmt: skip
        flags = [f"--task-sft {folders}"]
        flags += [f"--language-sft {' '.join(pairs)}"] if pairs else []
        task_only = [m for m in entry["methods"] if m in SFT["task_only"]]
        flags += [f"--task-only {' '.join(task_only)}"] if task_only else []
        flags += [f"--no-language-sft {SFT['no_corpus']}", sft_target_data(entry["task"], entry["targets"])]
        return " ".join(flags)

    return params


def sft_target_data(task, targets, reading=True):
    """LANG=TEST pairs (and LANG=CODE filters) of the targets, with the reading flags of the first target's entry
    unless ``reading`` is off (sft-sweep reads them from the source's)."""
    specs = {lang: task_spec(task, lang) for lang in targets}
    first = specs[targets[0]]
    tests = " ".join(f"{lang}={spec.source('test')}" for lang, spec in specs.items())
    filters = " ".join(f"{lang}={spec.language}" for lang, spec in specs.items() if spec.language)
    flags = [f"--target {tests}"]
    flags += [f"--target-language {filters}"] if filters else []
    if reading:
        flags += [f"--format {first.format}"]
        flags += ["--repair-bio"] if first.repair_bio else []
        flags += [f"--map-to-o {' '.join(first.map_to_o)}"] if first.map_to_o else []
    return " ".join(flags)


def sft_eval_metrics_files():
    """Every transfer metrics file, models outermost (the tables' row order)."""
    entries = sft_transfer_entries()
    return [f for model in sft_models() for entry in entries for f in expand(sft_eval_files(entry), model=model)]


def sft_tables():
    """results/tables/sft-{model}-{task}-{metric}.{csv,md} and the summary."""
    tasks = list(dict.fromkeys(e["task"] for e in sft_transfer_entries()))
    names = [f"sft-{model}-{task}-{metric}" for model in sft_models() for task in tasks
             for metric in TASK_METRICS[task]]  # fmt: skip
    return expand("results/tables/{name}.{ext}", name=[*names, "sft-summary"], ext=["csv", "md"])


def sft_density(value):
    """A density as file names write it (the stages format it the same way)."""
    return f"{float(value):g}"


def sft_sweep_models():
    return _sft_check_models(SFT_SWEEP["models"], "sweep.models") if SFT_SWEEP["models"] else sft_models()


def sft_sweep_entries():
    """sft.sweep.transfer, validated: one entry per task; source and targets must have a corpus."""
    entries, tasks = [], set()
    for entry in SFT_SWEEP["transfer"]:
        langs = [entry["source"], *entry["targets"]]
        LANGUAGE_TABLE.select(langs, where=_sft_where("sweep.transfer"))
        missing = [lang for lang in langs if lang not in LANGS]
        if missing or entry["task"] in tasks:
            raise ConfigError(f"{_sft_where('sweep.transfer')}: one entry per task, and every language needs a corpus "
                              f"(a pretraining language); check {entry['task']} {missing or ''}")  # fmt: skip
        tasks.add(entry["task"])
        entries.append(dict(entry))
    return entries


def sft_sweep_language_densities():
    return [sft_density(d) for d in SFT_SWEEP["language_densities"]]


def sft_sweep_task_densities():
    return [sft_density(d) for d in SFT_SWEEP["task_densities"]]


def sft_sweep_language_sft(model, lang, density):
    return f"results/sft/{model}/sweep/language/{lang}/d{density}.safetensors"


def sft_sweep_dir(entry):
    return f"results/sft/{{model}}/sweep/{entry['task']}/{entry['source']}/ld{{ld}}"


def sft_sweep_outputs(entry):
    folder = sft_sweep_dir(entry).replace("{model}", "{{model}}").replace("{ld}", "{{ld}}")  # wildcards stay
    return expand(f"{folder}/td{{td}}/{{lang}}/seed{{n}}.json", td=sft_sweep_task_densities(), lang=entry["targets"],
                  n=SFT_RUNS)  # fmt: skip


def sft_sweep_inputs(entry):
    def inputs(wildcards):
        langs = [entry["source"], *entry["targets"]]
        data = task_files(entry["task"], entry["source"], ["train", "dev"])
        data += [f for lang in entry["targets"] for f in task_files(entry["task"], lang, ["test"])]
        language = [sft_sweep_language_sft(wildcards.model, lang, wildcards.ld) for lang in langs]
        return {"model": sft_model_inputs(wildcards.model), "data": data, "language": language}

    return inputs


def sft_sweep_params(entry):
    def params(wildcards):
        sfts = {lang: sft_sweep_language_sft(wildcards.model, lang, wildcards.ld) for lang in entry["targets"]}
        pairs = " ".join(f"{lang}={path}" for lang, path in sfts.items())
        source = sft_sweep_language_sft(wildcards.model, entry["source"], wildcards.ld)
        data = sft_source_data(entry["task"], [entry["source"]])
        return (
            f"--source {entry['source']} --source-sft {source} --target-sft {pairs}"
            f" {data} {sft_target_data(entry['task'], entry['targets'], reading=False)}"
            f" --language-density {wildcards.ld} --task-densities {' '.join(sft_sweep_task_densities())}"
        )

    return params


def sft_sweep_files():
    densities = sft_sweep_language_densities()
    return [f for model in sft_sweep_models() for entry in sft_sweep_entries()
            for f in expand(sft_sweep_outputs(entry), model=model, ld=densities)]  # fmt: skip


def sft_density_tables():
    names = [f"sft-density-{model}-{e['task']}-{metric}" for model in sft_sweep_models() for e in sft_sweep_entries()
             for metric in TASK_METRICS[e["task"]]]  # fmt: skip
    return expand("results/tables/{name}.{ext}", name=names, ext=["csv", "md"])


def sft_sweep_ran():
    return bool(sft_sweep_entries() and sft_sweep_models())


def sft_targets():
    """Every table of the SFT stage (transfer tables, and the density grids when a sweep is configured)."""
    targets = sft_tables() if sft_transfer_entries() and sft_models() else []
    targets += sft_density_tables() if sft_sweep_entries() and sft_sweep_models() else []
    return targets

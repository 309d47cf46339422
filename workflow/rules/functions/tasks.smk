# Downstream fine-tuning targets, dataset specs and command-line options (rules: tasks.smk).
TASKS_CFG = config["tasks"]
TASK_NAMES = ["pos", "dep", "ner", "nli"]
TASK_RUNS = list(range(TASKS_CFG["seeds"]))
#: the tables' metrics per task: the report metric first (it picks dev checkpoints too)
TASK_METRICS = {"pos": ["accuracy"], "dep": ["las", "uas"], "ner": ["f1"], "nli": ["accuracy"]}


def task_models():
    """Models to fine-tune: the configured list, else every pretraining variant."""
    models = TASKS_CFG["models"] or config["pretrain"]["variants"]
    unknown = [m for m in models if m not in VARIANTS and m not in TASKS_CFG["external_models"]]
    if unknown:
        raise ConfigError(
            f"tasks.models {unknown} in {CONFIG_FILES} are neither pretraining variants nor tasks.external_models"
        )
    return list(models)


def _check_langs(codes, where):
    LANGUAGE_TABLE.select(list(codes), where=f"'tasks.{where}' of {CONFIG_FILES}")
    return list(codes)


def _by_task(entries, where):
    """{task: entry} of a list of {task, ...} entries; a task listed twice is a ConfigError."""
    found = {}
    for entry in entries:
        if entry["task"] in found:
            raise ConfigError(f"task '{entry['task']}' is listed twice in tasks.{where} of {CONFIG_FILES}; merge the entries")
        found[entry["task"]] = entry
    return found


def in_language_units():
    """(task, lang) pairs of the in-language protocol."""
    entries = _by_task(TASKS_CFG["in_language"], "in_language")
    return [(task, lang) for task, entry in entries.items() for lang in _check_langs(entry["langs"], "in_language")]


def zero_shot_tasks():
    """task -> {"source": lang, "targets": [langs]}."""
    entries = _by_task(TASKS_CFG["zero_shot"], "zero_shot")
    for task, entry in entries.items():
        _check_langs([entry["source"], *entry["targets"]], "zero_shot")
    return entries


def few_shot_units():
    """(task, lang) pairs of the few-shot protocol; each task needs a zero-shot source."""
    units = []
    for task, entry in _by_task(TASKS_CFG["few_shot"]["targets"], "few_shot.targets").items():
        if task not in zero_shot_tasks():
            raise ConfigError(f"few-shot {task} in {CONFIG_FILES} needs a tasks.zero_shot entry for {task} (its source)")
        units += [(task, lang) for lang in _check_langs(entry["langs"], "few_shot.targets")]
    return units


def task_spec(task, lang):
    """The DatasetSpec of one task and language from tasks.datasets; placeholders: {data_dir}, {lang}, {split},
    and from the language table {iso3} (ISO 639-3, e.g. MasakhaNER's folders) and {name} (e.g. XTREME's udpos)."""
    row = LANGUAGE_TABLE[lang]
    fields = {"data_dir": str(DATA_DIR), "iso3": row.iso639_3, "name": row.name}
    return spec_from_config(task, TASKS_CFG["datasets"][task], lang=lang, fields=fields, where=CONFIG_FILES)


def task_files(task, lang, splits):
    """Local files of some splits (hub sources are no Snakemake inputs)."""
    spec = task_spec(task, lang)
    return [spec.source(split) for split in splits if split in spec.splits and not spec.source(split).startswith("hf:")]


def model_source(model):
    """A pretraining variant's model folder, or an external model's hub name / local folder."""
    external = TASKS_CFG["external_models"].get(model)
    if external is None:
        return f"results/pretrain/{model}/model"
    return str(repo_path(external)) if repo_path(external).exists() else external


def model_inputs(model):
    source = model_source(model)
    return [source] if model not in TASKS_CFG["external_models"] or Path(source).exists() else []


def dataset_options(task, lang, splits):
    """The data flags of `langtickets finetune`: format, splits and reading options."""
    spec = task_spec(task, lang)
    flags = [f"--format {spec.format}"]
    flags += [f"--{split} {spec.source(split)}" for split in splits if split in spec.splits]
    flags += ["--repair-bio"] if spec.repair_bio else []
    flags += [f"--map-to-o {' '.join(spec.map_to_o)}"] if spec.map_to_o else []
    flags += [f"--data-language {spec.language}"] if spec.language else []
    return " ".join(flags)


def finetune_in_language_inputs(wildcards):
    return {"model": model_inputs(wildcards.model),
            "data": task_files(wildcards.task, wildcards.eval_lang, ["train", "dev", "test"])}  # fmt: skip


def finetune_in_language_data(wildcards):
    return dataset_options(wildcards.task, wildcards.eval_lang, ["train", "dev", "test"])


def finetune_source_inputs(wildcards):
    return {"model": model_inputs(wildcards.model),
            "data": task_files(wildcards.task, wildcards.eval_lang, ["train", "dev"])}  # fmt: skip


def finetune_source_data(wildcards):
    return dataset_options(wildcards.task, wildcards.eval_lang, ["train", "dev"])


def source_models(task, model):
    """The folder of a model's source-language task models (one seed{run}/ task model per run)."""
    return f"results/finetune/{model}/{task}/{zero_shot_tasks()[task]['source']}"


def zero_shot_outputs(task):
    return expand("results/eval/{{model}}/{task}/zero-shot/{lang}/seed{n}.json", task=task,
                  lang=zero_shot_tasks()[task]["targets"], n=TASK_RUNS)  # fmt: skip


def zero_shot_inputs(task):
    def inputs(wildcards):
        tests = [f for lang in zero_shot_tasks()[task]["targets"] for f in task_files(task, lang, ["test"])]
        return {"models": source_models(task, wildcards.model), "data": tests}

    return inputs


def zero_shot_data(task):
    """Reading flags (from the first target's entry) and LANG=TEST (and LANG=CODE filters) of every target."""
    targets = zero_shot_tasks()[task]["targets"]
    specs = {lang: task_spec(task, lang) for lang in targets}
    first = specs[targets[0]]
    tests = " ".join(f"{lang}={spec.source('test')}" for lang, spec in specs.items())
    filters = " ".join(f"{lang}={spec.language}" for lang, spec in specs.items() if spec.language)
    flags = [f"--format {first.format}", f"--target {tests}"]
    flags += [f"--target-language {filters}"] if filters else []
    flags += ["--repair-bio"] if first.repair_bio else []
    flags += [f"--map-to-o {' '.join(first.map_to_o)}"] if first.map_to_o else []
    return " ".join(flags)


def few_shot_inputs(wildcards):
    return {"models": source_models(wildcards.task, wildcards.model),
            "data": task_files(wildcards.task, wildcards.eval_lang, ["train", "test"])}  # fmt: skip


def few_shot_data(wildcards):
    return dataset_options(wildcards.task, wildcards.eval_lang, ["train", "test"])


def train_options(task):
    """Training and head flags shared by every fine-tuning rule (tasks.train; min_updates per task)."""
    train = TASKS_CFG["train"]
    return (
        f"--batch-size {train['batch_size']} --lr {train['lr']} --epochs {train['epochs']}"
        f" --min-updates {train['min_updates'].get(task, 0)} --max-updates {train['max_updates']}"
        f" --warmup-ratio {train['warmup_ratio']} --weight-decay {train['weight_decay']}"
        f" --max-grad-norm {train['max_grad_norm']} --eval-every {train['eval_every']}"
        f" --eval-batch-size {train['eval_batch_size']} --head-dropout {train['head_dropout']}"
        f" --arc-dim {train['arc_dim']} --relation-dim {train['relation_dim']} --max-length {TASKS_CFG['max_length']}"
    )


def tasks_metrics_files():
    """Every metrics file the configured protocols write, models outermost (the tables' row order)."""
    files = []
    for model in task_models():
        for task, lang in in_language_units():
            files += expand("results/eval/{model}/{task}/in-language/{lang}/seed{n}.json", model=model, task=task,
                            lang=lang, n=TASK_RUNS)  # fmt: skip
        for task in zero_shot_tasks():
            files += expand(zero_shot_outputs(task), model=model)
        for task, lang in few_shot_units():
            files += expand("results/eval/{model}/{task}/few-shot/{lang}/seed{n}.json", model=model, task=task,
                            lang=lang, n=TASK_RUNS)  # fmt: skip
    return files


def eval_table_inputs(wildcards):
    inputs = {"metrics": tasks_metrics_files()}
    if hasattr(rules, "flops_table"):  # the ticket stage is part of the workflow
        inputs["flops"] = "results/tickets/flops.csv"
    return inputs


def eval_table_flops(wildcards, input):
    return f"--flops {input.flops}" if "flops" in input.keys() else ""


def tasks_tables():
    """Table files: one per (task, protocol, metric) that has results."""
    units = {(task, "in-language") for task, _ in in_language_units()}
    units |= {(task, "zero-shot") for task in zero_shot_tasks()} | {(task, "few-shot") for task, _ in few_shot_units()}
    names = sorted(f"{task}-{protocol}-{metric}" for task, protocol in units for metric in TASK_METRICS[task])
    return expand("results/tables/{name}.{ext}", name=names, ext=["csv", "md"])


def tasks_targets():
    return tasks_tables() if tasks_metrics_files() else []

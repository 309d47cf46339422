# Downstream fine-tuning and evaluation (multilingual-tickets section 4.1; LT-SFT section 4): in-language
# fine-tuning per (model, task, language), zero-shot transfer (train once on the source language, then score
# every target without retraining), few-shot transfer from the zero-shot models, and the tables of Tables 1-2.
# Each job runs every seed (run) of its unit, so a job pays the torch import once.

# ---- input functions and targets: to be moved to common.smk (snakemake --lint) ------------------------------
import re  # noqa: E402

from langtickets.errors import ConfigError  # noqa: E402
from langtickets.tasks.spec import spec_from_config  # noqa: E402  (light import: no torch)

TASKS_CFG = config["tasks"]
TASK_NAMES = ["pos", "dep", "ner", "nli"]
TASK_RUNS = list(range(TASKS_CFG["seeds"]))
#: the tables' metrics per task: the report metric first (it picks dev checkpoints too)
TASK_METRICS = {"pos": ["accuracy"], "dep": ["las", "uas"], "ner": ["f1"], "nli": ["accuracy"]}


def _pretrain_variants():
    from langtickets.pretrain import VARIANTS  # light import: the variant table only

    return VARIANTS


def task_models():
    """Models to fine-tune: the configured list, else every pretraining variant."""
    models = TASKS_CFG["models"] or config["pretrain"]["variants"]
    unknown = [m for m in models if m not in _pretrain_variants() and m not in TASKS_CFG["external_models"]]
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


# ---- end of the block for common.smk ----------------------------------------------------------------------


EVAL_CONSTRAINTS = {
    "model": "|".join(sorted(map(re.escape, task_models()), key=len, reverse=True)) or "(?!)",
    "task": "|".join(TASK_NAMES),
    "eval_lang": "[a-z]{2,3}(?:_[a-z0-9]{2,8})?",
}


rule finetune_in_language:
    input:
        unpack(finetune_in_language_inputs),
    output:
        metrics=expand("results/eval/{{model}}/{{task}}/in-language/{{eval_lang}}/seed{n}.json", n=TASK_RUNS),
        timing="results/eval/{model}/{task}/in-language/{eval_lang}/timing.json",
    log:
        "logs/eval/{model}/{task}/in-language/{eval_lang}.log",
    wildcard_constraints:
        **EVAL_CONSTRAINTS,
    params:
        model=lambda wildcards: model_source(wildcards.model),
        data=finetune_in_language_data,
        train=lambda wildcards: train_options(wildcards.task),
        out_dir="results/eval/{model}/{task}/in-language/{eval_lang}",
        runs=TASK_RUNS,
        seed=config["seed"],
        fallback=TASKS_CFG["mask_fallback"],
        device=TASKS_CFG["device"],
    threads: TASKS_CFG["threads"]
    resources:
        **rule_resources("finetune_in_language"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets finetune in-language --model {params.model} --model-name {wildcards.model}"
        " --task {wildcards.task} --lang {wildcards.eval_lang} {params.data} {params.train} --runs {params.runs}"
        " --seed {params.seed} --mask-fallback {params.fallback} --device {params.device} --threads {threads}"
        " --out-dir {params.out_dir} --timing {output.timing} > {log} 2>&1"


rule finetune_source:
    input:
        unpack(finetune_source_inputs),
    output:
        directory("results/finetune/{model}/{task}/{eval_lang}"),
    log:
        "logs/finetune/{model}/{task}/{eval_lang}.log",
    wildcard_constraints:
        **EVAL_CONSTRAINTS,
    params:
        model=lambda wildcards: model_source(wildcards.model),
        data=finetune_source_data,
        train=lambda wildcards: train_options(wildcards.task),
        runs=TASK_RUNS,
        seed=config["seed"],
        fallback=TASKS_CFG["mask_fallback"],
        device=TASKS_CFG["device"],
    threads: TASKS_CFG["threads"]
    resources:
        **rule_resources("finetune_source"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets finetune source --model {params.model} --model-name {wildcards.model}"
        " --task {wildcards.task} --lang {wildcards.eval_lang} {params.data} {params.train} --runs {params.runs}"
        " --seed {params.seed} --mask-fallback {params.fallback} --device {params.device} --threads {threads}"
        " --out-dir {output} --timing {output}/timing.json > {log} 2>&1"


# One scoring job per (model, task) covers every target: loading the task models once is the point of
# zero-shot transfer, and one job per target would pay the torch import per language.
for _task in zero_shot_tasks():

    rule:
        name:
            f"zero_shot_eval_{_task}"
        input:
            unpack(zero_shot_inputs(_task)),
        output:
            metrics=zero_shot_outputs(_task),
            timing=f"results/eval/{{model}}/{_task}/zero-shot/timing.json",
        log:
            f"logs/eval/{{model}}/{_task}/zero-shot.log",
        wildcard_constraints:
            model=EVAL_CONSTRAINTS["model"],
        params:
            data=zero_shot_data(_task),
            train=train_options(_task),
            task=_task,
            out_dir=f"results/eval/{{model}}/{_task}/zero-shot",
            runs=TASK_RUNS,
            seed=config["seed"],
            fallback=TASKS_CFG["mask_fallback"],
            device=TASKS_CFG["device"],
        threads: TASKS_CFG["threads"]
        resources:
            **rule_resources("zero_shot_eval"),
        conda:
            "../../envs/torch.yaml"
        shell:
            "python -m langtickets finetune zero-shot --task-models {input.models} --model-name {wildcards.model}"
            " --task {params.task} {params.data} {params.train} --runs {params.runs} --seed {params.seed}"
            " --mask-fallback {params.fallback} --device {params.device} --threads {threads}"
            " --out-dir {params.out_dir} --timing {output.timing} > {log} 2>&1"


rule few_shot:
    input:
        unpack(few_shot_inputs),
    output:
        metrics=expand("results/eval/{{model}}/{{task}}/few-shot/{{eval_lang}}/seed{n}.json", n=TASK_RUNS),
        timing="results/eval/{model}/{task}/few-shot/{eval_lang}/timing.json",
    log:
        "logs/eval/{model}/{task}/few-shot/{eval_lang}.log",
    wildcard_constraints:
        **EVAL_CONSTRAINTS,
    params:
        data=few_shot_data,
        train=lambda wildcards: train_options(wildcards.task),
        k=TASKS_CFG["few_shot"]["k"],
        updates=TASKS_CFG["few_shot"]["updates"],
        out_dir="results/eval/{model}/{task}/few-shot/{eval_lang}",
        runs=TASK_RUNS,
        seed=config["seed"],
        fallback=TASKS_CFG["mask_fallback"],
        device=TASKS_CFG["device"],
    threads: TASKS_CFG["threads"]
    resources:
        **rule_resources("few_shot"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets finetune few-shot --task-models {input.models} --model-name {wildcards.model}"
        " --task {wildcards.task} --lang {wildcards.eval_lang} --k {params.k} --updates {params.updates}"
        " {params.data} {params.train} --runs {params.runs} --seed {params.seed} --mask-fallback {params.fallback}"
        " --device {params.device} --threads {threads} --out-dir {params.out_dir} --timing {output.timing}"
        " > {log} 2>&1"


rule eval_tables:
    input:
        unpack(eval_table_inputs),
    output:
        tasks_tables(),
    log:
        "logs/tables/eval.log",
    params:
        flops=eval_table_flops,
        column=TASKS_CFG["flops_column"],
    resources:
        **rule_resources("eval_tables"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets eval-table --inputs {input.metrics} {params.flops} --flops-column {params.column}"
        " --out-dir results/tables > {log} 2>&1"

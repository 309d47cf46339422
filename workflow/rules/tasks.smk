# Downstream fine-tuning and evaluation (multilingual-tickets section 4.1; LT-SFT section 4): in-language
# fine-tuning per (model, task, language), zero-shot transfer (train once on the source language, then score
# every target without retraining), few-shot transfer from the zero-shot models, and the tables of Tables 1-2.
# Each job runs every seed (run) of its unit, so a job pays the torch import once.

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
        launch=launch_command("finetune_in_language"),
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
        **training_resources("finetune_in_language"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "{params.launch} finetune in-language --model {params.model} --model-name {wildcards.model}"
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
        launch=launch_command("finetune_source"),
        model=lambda wildcards: model_source(wildcards.model),
        data=finetune_source_data,
        train=lambda wildcards: train_options(wildcards.task),
        runs=TASK_RUNS,
        seed=config["seed"],
        fallback=TASKS_CFG["mask_fallback"],
        device=TASKS_CFG["device"],
    threads: TASKS_CFG["threads"]
    resources:
        **training_resources("finetune_source"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "{params.launch} finetune source --model {params.model} --model-name {wildcards.model}"
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
        launch=launch_command("few_shot"),
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
        **training_resources("few_shot"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "{params.launch} finetune few-shot --task-models {input.models} --model-name {wildcards.model}"
        " --task {wildcards.task} --lang {wildcards.eval_lang} --k {params.k} --updates {params.updates}"
        " {params.data} {params.train} --runs {params.runs} --seed {params.seed} --mask-fallback {params.fallback}"
        " --device {params.device} --threads {threads} --out-dir {params.out_dir} --timing {output.timing}"
        " > {log} 2>&1"


rule table_eval:
    localrule: True
    input:
        unpack(eval_table_inputs),
    output:
        reported_tables(tasks_tables(), "table_eval"),
    log:
        "logs/tables/eval.log",
    params:
        flops=eval_table_flops,
        column=TASKS_CFG["flops_column"],
    resources:
        **rule_resources("table_eval"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets eval-table --inputs {input.metrics} {params.flops} --flops-column {params.column}"
        " --out-dir results/tables > {log} 2>&1"

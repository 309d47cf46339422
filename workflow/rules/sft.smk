# Lottery-Ticket Sparse Fine-Tuning (Ansell et al., "Composable Sparse Fine-Tuning for Cross-Lingual Transfer"):
# language SFTs by MLM per (model, language), task SFTs on top of the source language's SFT per
# (model, task, source, method), zero-shot transfer by composition theta0 + phi_T + phi_L(target) per
# (model, task, source) over every method and target, tables laid out like Tables 2 and 5, and the density
# sweep of section 5.2 (one job per row of the grid). Jobs run every seed of their unit (one torch import).
# Models are pretraining variants or Hugging Face models (tasks.external_models, e.g. mBERT and XLM-R, as in the
# paper): those get token shards of their own tokenizer, results/tokens-{model}/{lang}/.
# Inputs, targets and options: functions/sft.smk (included by common.smk).

SFT_CONSTRAINTS = {
    "model": "|".join(sorted(map(re.escape, sft_models() + sft_sweep_models()), key=len, reverse=True)) or "(?!)",
    "task": "|".join(TASK_NAMES),
    "source": "[a-z]{2,3}(?:_[a-z0-9]{2,8})?(?:\\+[a-z]{2,3}(?:_[a-z0-9]{2,8})?)*",
    "method": "|".join(SFT_METHODS),
    "ld": "|".join(re.escape(d) for d in sft_sweep_language_densities()) or "(?!)",
    "external": "|".join(sorted(map(re.escape, sft_external_models()), key=len, reverse=True)) or "(?!)",
}


# An external model's SFTs train on its own vocabulary: each language's sentences tokenized by its tokenizer.
if sft_external_models():

    rule tokenize_external:
        input:
            unpack(sft_tokenize_inputs),
        output:
            train="results/tokens-{model}/{lang}/train.bin",
            valid="results/tokens-{model}/{lang}/valid.bin",
            meta="results/tokens-{model}/{lang}/meta.json",
        log:
            "logs/tokens-{model}/{lang}/tokenize.log",
        wildcard_constraints:
            model=SFT_CONSTRAINTS["external"],
        params:
            tokenizer=sft_tokenize_source,
            validation_fraction=TOKENIZE["validation_fraction"],
            max_train_tokens=TOKENIZE["max_train_tokens"],
            seed=config["seed"],
        threads: 2
        resources:
            **rule_resources("tokenize"),
        conda:
            "../../envs/torch.yaml"
        shell:
            "python -m langtickets tokenize --lang {wildcards.lang} --sentences {input.sentences}"
            " --hf-tokenizer {params.tokenizer} --train {output.train} --valid {output.valid} --meta {output.meta}"
            " --validation-fraction {params.validation_fraction} --max-train-tokens {params.max_train_tokens}"
            " --seed {params.seed} > {log} 2>&1"


# Only with transfer entries configured (a rule without outputs could not name its log).
if sft_transfer_entries() and sft_models():

    rule language_sft:
        input:
            unpack(sft_language_inputs),
        output:
            sft_language_outputs(),
        log:
            "logs/sft/{model}/language/{lang}.log",
        wildcard_constraints:
            model=SFT_CONSTRAINTS["model"],
        params:
            launch=launch_command("language_sft"),
            model=sft_model_param,
            methods=sft_language_methods(),
            budget=sft_budget_flag(SFT["language"]["k"]),
            options=sft_language_options(),
            runtime=sft_runtime_options(),
            out_dir="results/sft/{model}/language/{lang}",
        threads: rule_threads("language_sft", 1)
        resources:
            **training_resources("language_sft"),
        conda:
            "../../envs/torch.yaml"
        shell:
            "{params.launch} language-sft --model {params.model} --model-name {wildcards.model}"
            " --lang {wildcards.lang} --tokens {input.meta} --methods {params.methods} {params.budget} {params.options}"
            " {params.runtime} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


    rule task_sft:
        input:
            unpack(sft_task_inputs),
        output:
            sft_task_outputs(),
        log:
            "logs/sft/{model}/task/{task}/{source}/{method}.log",
        wildcard_constraints:
            **{key: SFT_CONSTRAINTS[key] for key in ("model", "task", "source", "method")},
        params:
            launch=launch_command("task_sft"),
            model=sft_model_param,
            flags=sft_task_params,
            options=lambda wildcards: sft_task_options(wildcards.task),
            runtime=sft_runtime_options(),
            out_dir="results/sft/{model}/task/{task}/{source}/{method}",
        threads: rule_threads("task_sft", 1)
        resources:
            **training_resources("task_sft"),
        conda:
            "../../envs/torch.yaml"
        shell:
            "{params.launch} task-sft --model {params.model} --model-name {wildcards.model}"
            " --method {wildcards.method} {params.flags} {params.options} {params.runtime} --threads {threads}"
            " --out-dir {params.out_dir} > {log} 2>&1"


    # One scoring job per (model, task, source) covers every method and target: the pretrained model and the
    # test sets are loaded once, and a job per target would pay the torch import per language.
    for _entry in sft_transfer_entries():

        rule:
            name:
                f"sft_transfer_eval_{_entry['task']}_{_entry['tag'].replace('+', '_')}"
            input:
                unpack(sft_eval_inputs(_entry)),
            output:
                sft_eval_files(_entry),
            log:
                f"logs/sft/{{model}}/eval/{_entry['task']}/{_entry['tag']}.log",
            wildcard_constraints:
                model=SFT_CONSTRAINTS["model"],
            params:
                model=sft_model_param,
                flags=sft_eval_params(_entry),
                task=_entry["task"],
                source=_entry["tag"],
                runs=SFT_RUNS,
                max_length=TASKS_CFG["max_length"],
                eval_batch_size=TASKS_CFG["train"]["eval_batch_size"],
                runtime=sft_runtime_options(),
                out_dir=sft_eval_dir(_entry),
            threads: rule_threads("sft_transfer_eval", 1)
            resources:
                **rule_resources("sft_transfer_eval"),
            conda:
                "../../envs/torch.yaml"
            shell:
                "python -m langtickets sft-transfer-eval --model {params.model} --model-name {wildcards.model}"
                " --task {params.task} --source {params.source} {params.flags} --max-length {params.max_length}"
                " --eval-batch-size {params.eval_batch_size} --runs {params.runs} {params.runtime} --threads {threads}"
                " --out-dir {params.out_dir} > {log} 2>&1"


    rule table_sft:
        input:
            sft_eval_metrics_files(),
        output:
            reported_tables(sft_tables(), "table_sft"),
        log:
            "logs/tables/sft.log",
        resources:
            **rule_resources("table_sft"),
        conda:
            "../../envs/torch.yaml"
        shell:
            "python -m langtickets sft-table transfer --inputs {input} --out-dir results/tables > {log} 2>&1"


# The density sweep of section 5.2, only when configured.
if sft_sweep_entries() and sft_sweep_models():

    rule language_sft_sweep:
        input:
            unpack(sft_language_inputs),
        output:
            expand("results/sft/{{model}}/sweep/language/{{lang}}/d{density}.{ext}",
                   density=sft_sweep_language_densities(), ext=["safetensors", "json"]),
        log:
            "logs/sft/{model}/sweep/language/{lang}.log",
        wildcard_constraints:
            model=SFT_CONSTRAINTS["model"],
        params:
            launch=launch_command("language_sft_sweep"),
            model=sft_model_param,
            densities=sft_sweep_language_densities(),
            options=sft_language_options(SFT_SWEEP["language_max_steps"]),
            runtime=sft_runtime_options(),
            out_dir="results/sft/{model}/sweep/language/{lang}",
        threads: rule_threads("language_sft_sweep", 1)
        resources:
            **training_resources("language_sft_sweep"),
        conda:
            "../../envs/torch.yaml"
        shell:
            "{params.launch} language-sft --model {params.model} --model-name {wildcards.model}"
            " --lang {wildcards.lang} --tokens {input.meta} --densities {params.densities} {params.options}"
            " {params.runtime} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


    # One job per (model, task, language density): a row of the grid, every task density in one process.
    for _entry in sft_sweep_entries():

        rule:
            name:
                f"sft_sweep_{_entry['task']}_{_entry['source']}"
            input:
                unpack(sft_sweep_inputs(_entry)),
            output:
                sft_sweep_outputs(_entry),
            log:
                f"logs/sft/{{model}}/sweep/{_entry['task']}/{_entry['source']}/ld{{ld}}.log",
            wildcard_constraints:
                model=SFT_CONSTRAINTS["model"],
                ld=SFT_CONSTRAINTS["ld"],
            params:
                launch=launch_command("sft_sweep"),
                model=sft_model_param,
                flags=sft_sweep_params(_entry),
                options=sft_task_options(_entry["task"]),
                runtime=sft_runtime_options(),
                out_dir=sft_sweep_dir(_entry),
            threads: rule_threads("sft_sweep", 1)
            resources:
                **training_resources("sft_sweep"),
            conda:
                "../../envs/torch.yaml"
            shell:
                "{params.launch} sft-sweep --model {params.model} --model-name {wildcards.model} {params.flags}"
                " {params.options} {params.runtime} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


    rule table_sft_density:
        input:
            sft_sweep_files(),
        output:
            reported_tables(sft_density_tables(), "table_sft_density"),
        log:
            "logs/tables/sft-density.log",
        resources:
            **rule_resources("table_sft_density"),
        conda:
            "../../envs/torch.yaml"
        shell:
            "python -m langtickets sft-table density --inputs {input} --out-dir results/tables > {log} 2>&1"

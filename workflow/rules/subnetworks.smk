# IMP subnetworks and their cross-lingual transfer (IMP paper, Algorithm 1 and section 5), and attention-head
# importance with multi-task dissociation (MeSH paper, section III). One IMP job per (task, language) runs
# every round, the winning-ticket retraining and the random baseline; one transfer job per task fills the
# transfer matrix from the languages' masks; one heads job per model trains the joint model and measures
# everything. Each job pays the torch import once. The figures read only what these rules write.

rule subnetworks_imp:
    input:
        unpack(imp_inputs),
    output:
        json="results/analysis/imp/{model}/{task}/{imp_lang}/imp.json",
        csv="results/analysis/imp/{model}/{task}/{imp_lang}/imp.csv",
        masks=expand("results/analysis/imp/{{model}}/{{task}}/{{imp_lang}}/masks/{name}.safetensors", name=IMP_MASKS),
    log:
        "logs/analysis/imp/{model}/{task}/{imp_lang}.log",
    wildcard_constraints:
        model=re.escape(IMP["model"]),
        task="|".join(IMP_TASK_NAMES),
        imp_lang="[a-z]{2,3}(?:_[a-z0-9]{2,8})?",
    params:
        data=lambda wildcards: imp_data(wildcards.task, [wildcards.imp_lang]),
        recipe=lambda wildcards: imp_recipe(wildcards.task),
        out_dir="results/analysis/imp/{model}/{task}/{imp_lang}",
        rate=IMP["rate"],
        rounds=IMP["rounds"],
        random_rounds=imp_transfer_rounds(),
        runs=IMP_RUNS,
        seed=config["seed"],
        device=IMP["device"],
    threads: rule_threads("subnetworks_imp", 1)
    resources:
        **rule_resources("subnetworks_imp"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets subnetworks-imp --task {wildcards.task} --lang {wildcards.imp_lang}"
        " --model {input.model} --model-name {wildcards.model} {params.data} {params.recipe} --rate {params.rate}"
        " --rounds {params.rounds} --random-rounds {params.random_rounds} --runs {params.runs} --seed {params.seed}"
        " --device {params.device} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


rule subnetworks_transfer:
    input:
        unpack(transfer_inputs),
    output:
        json="results/analysis/imp/{model}/{task}/transfer.json",
        csv="results/analysis/imp/{model}/{task}/transfer.csv",
        relative="results/analysis/imp/{model}/{task}/transfer-relative.csv",
    log:
        "logs/analysis/imp/{model}/{task}/transfer.log",
    wildcard_constraints:
        model=re.escape(IMP["model"]),
        task="|".join(IMP_TASK_NAMES),
    params:
        langs_data=transfer_params,
        recipe=lambda wildcards: imp_recipe(wildcards.task),
        rounds=imp_transfer_rounds(),
        runs=IMP_RUNS,
        seed=config["seed"],
        device=IMP["device"],
    threads: rule_threads("subnetworks_transfer", 1)
    resources:
        **rule_resources("subnetworks_transfer"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets subnetworks-transfer --task {wildcards.task} --model {input.model}"
        " --model-name {wildcards.model} {params.langs_data} {params.recipe} --rounds {params.rounds}"
        " --runs {params.runs} --seed {params.seed} --device {params.device} --threads {threads}"
        " --json {output.json} --csv {output.csv} --relative-csv {output.relative} > {log} 2>&1"


rule subnetworks_heads:
    input:
        unpack(heads_inputs),
    output:
        json="results/analysis/heads/{model}/heads.json",
        importance="results/analysis/heads/{model}/importance.csv",
        dissociation="results/analysis/heads/{model}/dissociation.csv",
        pruning="results/analysis/heads/{model}/pruning.csv",
    log:
        "logs/analysis/heads/{model}.log",
    wildcard_constraints:
        model=re.escape(HEADS["model"]),
    params:
        options=heads_params,
        out_dir="results/analysis/heads/{model}",
        runs=HEADS_RUNS,
        seed=config["seed"],
        device=HEADS["device"],
    threads: rule_threads("subnetworks_heads", 1)
    resources:
        **rule_resources("subnetworks_heads"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets subnetworks-heads --model {input.model} --model-name {wildcards.model} {params.options}"
        " --runs {params.runs} --seed {params.seed} --device {params.device} --threads {threads}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule figure_imp_sparsity:
    input:
        [f"{imp_folder(IMP['model'], task, lang)}/imp.json" for task, langs in imp_units().items() for lang in langs],
    output:
        **figure_files("imp-sparsity", "figure_imp_sparsity", "Subnetworks", "IMP score vs sparsity"),
    log:
        "logs/figures/imp-sparsity.log",
    params:
        name="imp-sparsity",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_imp_sparsity"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_imp_transfer:
    input:
        expand("results/analysis/imp/{model}/{task}/transfer.json", model=IMP["model"], task=imp_transfer_tasks()),
    output:
        **figure_files("imp-transfer", "figure_imp_transfer", "Subnetworks", "IMP transfer matrices"),
    log:
        "logs/figures/imp-transfer.log",
    params:
        name="imp-transfer",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_imp_transfer"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_head_importance:
    input:
        f"results/analysis/heads/{HEADS['model']}/heads.json",
    output:
        **figure_files("head-importance", "figure_head_importance", "Subnetworks", "head importance"),
    log:
        "logs/figures/head-importance.log",
    params:
        name="head-importance",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_head_importance"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_head_pruning:
    input:
        f"results/analysis/heads/{HEADS['model']}/heads.json",
    output:
        **figure_files("head-pruning", "figure_head_pruning", "Subnetworks", "heads pruned and D(alpha)"),
    log:
        "logs/figures/head-pruning.log",
    params:
        name="head-pruning",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_head_pruning"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule table_imp_winning:
    input:
        [f"{imp_folder(IMP['model'], task, lang)}/imp.json" for task, langs in imp_units().items() for lang in langs],
    output:
        **table_files("imp-winning"),
    log:
        "logs/tables/imp-winning.log",
    params:
        name="imp-winning",
    resources:
        **rule_resources("table_imp_winning"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_imp_relative_transfer:
    input:
        expand("results/analysis/imp/{model}/{task}/transfer-relative.csv", model=IMP["model"], task=imp_transfer_tasks()),
    output:
        **table_files("imp-relative-transfer"),
    log:
        "logs/tables/imp-relative-transfer.log",
    params:
        name="imp-relative-transfer",
    resources:
        **rule_resources("table_imp_relative_transfer"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_head_dissociation:
    input:
        f"results/analysis/heads/{HEADS['model']}/dissociation.csv",
    output:
        **table_files("head-dissociation"),
    log:
        "logs/tables/head-dissociation.log",
    params:
        name="head-dissociation",
    resources:
        **rule_resources("table_head_dissociation"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL

# Language-specific head subnetworks with meta-learning for dependency parsing (Choenni et al., sections 4-8).
# One job finds every fine-tuning language's subnetwork and trains stage 1 on the source language; one job per
# framework (non-episodic, MAML) trains all its variants and few-shot-evaluates every target; one job writes
# Tables 1, 4 and 5 and one draws the figure. Each torch job pays the import once.


# Inputs, targets and options: functions/headsub.smk (included by common.smk).


rule headsub_subnetworks:
    input:
        unpack(headsub_subnetworks_inputs),
    output:
        **headsub_subnetwork_outputs(),
    log:
        "logs/headsub/{model}/subnetworks.log",
    wildcard_constraints:
        model=re.escape(HEADSUB["model"]),
    params:
        options=headsub_subnetworks_params,
        out_dir=lambda wildcards: headsub_folder(wildcards.model, "subnetworks"),
        seed=config["seed"],
    threads: rule_threads("headsub_subnetworks", 1)
    resources:
        **rule_resources("headsub_subnetworks"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets headsub-subnetworks --model {input.model} --model-name {wildcards.model}"
        " {params.options} --seed {params.seed} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


rule headsub_train:
    input:
        unpack(headsub_train_inputs),
    output:
        json="results/headsub/{model}/{framework}/results.json",
        csv="results/headsub/{model}/{framework}/scores.csv",
    log:
        "logs/headsub/{model}/{framework}.log",
    wildcard_constraints:
        model=re.escape(HEADSUB["model"]),
        framework="|".join(HEADSUB_FRAMEWORKS),
    params:
        options=headsub_train_params,
        seed=config["seed"],
    threads: rule_threads("headsub_train", 1)
    resources:
        **rule_resources("headsub_train"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets headsub-train --framework {wildcards.framework} --model-name {wildcards.model}"
        " --source-model {input.source} {params.options} --seed {params.seed} --threads {threads}"
        " --json {output.json} --csv {output.csv} > {log} 2>&1"


rule table_headsub_results:
    input:
        headsub_results(),
    output:
        **headsub_table_files(),
    log:
        "logs/tables/headsub.log",
    resources:
        **rule_resources("table_headsub_results"),
    conda:
        "../../envs/figures.yaml"
    shell:
        "python -m langtickets headsub-table --inputs {input} --las-csv {output.las_csv} --las-md {output.las_md}"
        " --heads-csv {output.heads_csv} --heads-md {output.heads_md} --conflicts-csv {output.conflicts_csv}"
        " --conflicts-md {output.conflicts_md} > {log} 2>&1"


rule figure_headsub_change:
    input:
        headsub_results(),
    output:
        **figure_files("headsub-change", "figure_headsub_change", "Head subnetworks", "LAS change vs full model"),
    log:
        "logs/figures/headsub-change.log",
    params:
        name="headsub-change",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_headsub_change"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL

# Seeded model initialisations per architecture, then multilingual tickets: unit scores per language
# (SNIP on the scaled init, or the magnitude/random baselines) -> one global top-r selection -> FLOPs table.


wildcard_constraints:
    arch="|".join(ARCHS),
    method="snip|magnitude|random",


rule init_model:
    input:
        "results/vocab/tokenizer.json",
    output:
        directory("results/models/init/{arch}"),
    log:
        "logs/models/init/{arch}.log",
    params:
        hidden=MODEL["hidden"],
        layers=MODEL["layers"],
        scaled_layers=MODEL["scaled_layers"],
        heads=MODEL["heads"],
        intermediate=MODEL["intermediate"],
        max_position=MODEL["max_position"],
        dropout=MODEL["dropout"],
        wide_factor=MODEL["wide_factor"],
        seed=config["seed"],
    resources:
        **rule_resources("init_model"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets init-model --tokenizer {input} --arch {wildcards.arch} --hidden {params.hidden}"
        " --layers {params.layers} --scaled-layers {params.scaled_layers} --heads {params.heads}"
        " --intermediate {params.intermediate} --max-position {params.max_position} --dropout {params.dropout}"
        " --wide-factor {params.wide_factor} --seed {params.seed} --out {output} > {log} 2>&1"


rule snip_scores:
    input:
        model="results/models/init/{arch}",
        train="results/tokens/{lang}/train.bin",
        meta="results/tokens/{lang}/meta.json",
    output:
        "results/tickets/{arch}/{method}/scores/{lang}.safetensors",
    log:
        "logs/tickets/{arch}/{method}/scores/{lang}.log",
    wildcard_constraints:
        method="snip",
    params:
        tokens=TICKETS["tokens"],
        seq_len=TICKETS["seq_len"],
        batch_size=TICKETS["batch_size"],
        seed=config["seed"],
    threads: rule_threads("snip_scores", 1)
    group:
        chain_group("tokens")
    resources:
        **rule_resources("snip_scores"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets snip-scores --model {input.model} --tokens {input.meta} --lang {wildcards.lang}"
        " --method snip --tokens-budget {params.tokens} --seq-len {params.seq_len}"
        " --batch-size {params.batch_size} --seed {params.seed} --threads {threads} --out {output} > {log} 2>&1"


# The input-invariant baselines read no text, so they do not wait for (or rerun after) tokenisation, and one
# process scores every language.
rule invariant_scores:
    input:
        model="results/models/init/{arch}",
    output:
        expand("results/tickets/{{arch}}/{{method}}/scores/{lang}.safetensors", lang=LANGS),
    log:
        "logs/tickets/{arch}/{method}/scores.log",
    wildcard_constraints:
        method="magnitude|random",
    params:
        langs=LANGS,
        seed=config["seed"],
    resources:
        **rule_resources("invariant_scores"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets snip-scores --model {input.model} --lang {params.langs}"
        " --method {wildcards.method} --seed {params.seed} --out {output} > {log} 2>&1"


rule select_tickets:
    localrule: True
    input:
        ticket_scores,
    output:
        masks="results/tickets/{arch}/{method}/masks.safetensors",
        density="results/tickets/{arch}/{method}/density.csv",
    log:
        "logs/tickets/{arch}/{method}/select.log",
    params:
        langs=LANGS,
        ratio=lambda wildcards: ticket_ratio(wildcards.arch),
        normalize=TICKETS["normalize"],
    resources:
        **rule_resources("select_tickets"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets select-tickets --scores {input} --langs {params.langs} --ratio {params.ratio}"
        " --normalize {params.normalize} --out {output.masks} --density {output.density} > {log} 2>&1"


rule flops_table:
    localrule: True
    input:
        archs=expand("results/models/init/{arch}", arch=ARCHS),
        masks=expand(
            "results/tickets/{arch}/{method}/masks.safetensors", arch=TICKETS["archs"], method=TICKETS["methods"]
        ),
    output:
        "results/tickets/flops.csv",
    log:
        "logs/tickets/flops.log",
    params:
        seq_len=TICKETS["flops_seq_len"],
    resources:
        **rule_resources("flops_table"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets flops --archs {input.archs} --masks {input.masks} --seq-len {params.seq_len}"
        " --out {output} > {log} 2>&1"

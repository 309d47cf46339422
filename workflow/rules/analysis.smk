# Analyses under results/analysis/: ticket overlap (Jaccard per layer against random masks of the same
# densities and a re-seeded SNIP search of the same language), ticket structure by language family (UMAP and
# its numbers), interference per layer and its stability, parallel sentence retrieval per layer. Each reads
# earlier outputs only; the figures and tables (figures.smk) read only what these rules write.

# The same-language bound: the language's SNIP scores from another token sample (the config seed plus an
# offset), on the same initialisation, with the ticket search's settings.
rule analysis_snip_reseed:
    input:
        model="results/models/init/{arch}",
        train="results/tokens/{lang}/train.bin",
        meta="results/tokens/{lang}/meta.json",
    output:
        "results/analysis/overlap/{arch}/reseed/{lang}.safetensors",
    log:
        "logs/analysis/overlap/{arch}/reseed/{lang}.log",
    params:
        tokens=TICKETS["tokens"],
        seq_len=TICKETS["seq_len"],
        batch_size=TICKETS["batch_size"],
        seed=config["seed"] + ANALYSIS["overlap"]["reseed_offset"],
    threads: rule_threads("analysis_snip_reseed", 1)
    resources:
        **rule_resources("analysis_snip_reseed"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets snip-scores --model {input.model} --tokens {input.meta} --lang {wildcards.lang}"
        " --method snip --tokens-budget {params.tokens} --seq-len {params.seq_len}"
        " --batch-size {params.batch_size} --seed {params.seed} --threads {threads} --out {output} > {log} 2>&1"


rule analysis_overlap:
    input:
        unpack(overlap_inputs),
    output:
        json="results/analysis/overlap/{arch}/{method}.json",
        csv="results/analysis/overlap/{arch}/{method}.csv",
    log:
        "logs/analysis/overlap/{arch}/{method}.log",
    params:
        normalize=TICKETS["normalize"],
    resources:
        **rule_resources("analysis_overlap"),
    conda:
        "../../envs/figures.yaml"
    shell:
        "python -m langtickets analysis-overlap --masks {input.masks} --scores {input.scores}"
        " --reseed-scores {input.reseed} --normalize {params.normalize} --out-json {output.json}"
        " --out-csv {output.csv} > {log} 2>&1"


rule analysis_structure:
    input:
        masks=expand("results/tickets/{{arch}}/{method}/masks.safetensors", method=TICKETS["methods"]),
        families="results/languages/family_tree.tsv",
    output:
        "results/analysis/structure/{arch}.json",
    log:
        "logs/analysis/structure/{arch}.log",
    params:
        levels=ANALYSIS["structure"]["levels"],
        permutations=ANALYSIS["structure"]["permutations"],
        neighbors=ANALYSIS["structure"]["umap_neighbors"],
        min_dist=ANALYSIS["structure"]["umap_min_dist"],
        init=ANALYSIS["structure"]["umap_init"],
        seed=config["seed"],
    resources:
        **rule_resources("analysis_structure"),
    conda:
        "../../envs/figures.yaml"
    shell:
        "python -m langtickets analysis-structure --masks {input.masks} --families {input.families}"
        " --levels {params.levels} --permutations {params.permutations} --umap-neighbors {params.neighbors}"
        " --umap-min-dist {params.min_dist} --umap-init {params.init} --seed {params.seed} --out {output}"
        " > {log} 2>&1"


rule analysis_interference:
    input:
        uc=expand("results/pretrain/{variant}/interference/uc.json", variant=interference_variants()),
        stability=expand("results/pretrain/{variant}/interference/stability.json", variant=interference_variants()),
    output:
        **INTERFERENCE_ANALYSIS,
    log:
        "logs/analysis/interference.log",
    params:
        variants=interference_variants(),
        step=ANALYSIS["interference"]["uc_step"],
    resources:
        **rule_resources("analysis_interference"),
    conda:
        "../../envs/figures.yaml"
    shell:
        "python -m langtickets analysis-interference --variants {params.variants} --uc {input.uc}"
        " --stability {input.stability} --step {params.step}"
        " --out-uc-json {output.uc_json} --out-uc-csv {output.uc_csv} --out-stability-json {output.stability_json}"
        " --out-stability-csv {output.stability_csv} > {log} 2>&1"


rule analysis_retrieval:
    input:
        unpack(retrieval_inputs),
    output:
        "results/analysis/retrieval/{variant}.json",
    log:
        "logs/analysis/retrieval/{variant}.log",
    params:
        langs=retrieval_langs() if retrieval_enabled() else [],
        k=RETRIEVAL["k"],
        tops=RETRIEVAL["tops"],
        max_sentences=RETRIEVAL["max_sentences"],
        batch_size=RETRIEVAL["batch_size"],
        max_length=RETRIEVAL["max_length"],
        device=RETRIEVAL["device"],
    threads: rule_threads("analysis_retrieval", 1)
    resources:
        **rule_resources("analysis_retrieval"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets analysis-retrieval --model {input.model} --variant {wildcards.variant}"
        " --langs {params.langs} --parallel {input.parallel} --k {params.k} --top {params.tops}"
        " --max-sentences {params.max_sentences} --batch-size {params.batch_size} --max-length {params.max_length}"
        " --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


# Every analysis: `snakemake analyses`.
rule analyses:
    input:
        analysis_targets(),
    localrule: True

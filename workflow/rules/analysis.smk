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


# The IMP masks' same-language bound: the language's IMP again with another seed (the config seed plus the
# offset), one run, no random baseline -- (rounds + 1) short trainings.
rule analysis_imp_reseed:
    input:
        unpack(imp_inputs),
    output:
        json="results/analysis/imp-overlap/{model}/{task}/reseed/{imp_lang}/imp.json",
        csv="results/analysis/imp-overlap/{model}/{task}/reseed/{imp_lang}/imp.csv",
        masks=expand("results/analysis/imp-overlap/{{model}}/{{task}}/reseed/{{imp_lang}}/masks/round{r}.safetensors",
                     r=imp_overlap_rounds()),
    log:
        "logs/analysis/imp-overlap/{model}/{task}/reseed/{imp_lang}.log",
    wildcard_constraints:
        model=re.escape(IMP["model"]),
        task="|".join(IMP_TASK_NAMES),
        imp_lang="[a-z]{2,3}(?:_[a-z0-9]{2,8})?",
    params:
        data=lambda wildcards: imp_data(wildcards.task, [wildcards.imp_lang]),
        recipe=lambda wildcards: imp_recipe(wildcards.task),
        out_dir="results/analysis/imp-overlap/{model}/{task}/reseed/{imp_lang}",
        rate=IMP["rate"],
        rounds=IMP["rounds"],
        seed=config["seed"] + ANALYSIS["overlap"]["reseed_offset"],
        device=IMP["device"],
    threads: rule_threads("analysis_imp_reseed", 1)
    resources:
        **rule_resources("analysis_imp_reseed"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets subnetworks-imp --task {wildcards.task} --lang {wildcards.imp_lang}"
        " --model {input.model} --model-name {wildcards.model} {params.data} {params.recipe} --rate {params.rate}"
        " --rounds {params.rounds} --runs 0 --seed {params.seed} --device {params.device} --threads {threads}"
        " --out-dir {params.out_dir} > {log} 2>&1"


# Jaccard of the languages' IMP masks per layer at one pruning round (IMP paper, section 5, Figure 3).
rule analysis_imp_overlap:
    input:
        unpack(imp_overlap_inputs),
    output:
        json="results/analysis/imp-overlap/{model}/{task}/round{round}.json",
        csv="results/analysis/imp-overlap/{model}/{task}/round{round}.csv",
    log:
        "logs/analysis/imp-overlap/{model}/{task}/round{round}.log",
    wildcard_constraints:
        model=re.escape(IMP["model"]),
        task="|".join(IMP_TASK_NAMES),
        round="[0-9]{2}",
    params:
        pairs=imp_overlap_pairs,
    resources:
        **rule_resources("analysis_imp_overlap"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets analysis-mask-overlap --kind imp --model {wildcards.model} --task {wildcards.task}"
        " {params.pairs} --out-json {output.json} --out-csv {output.csv} > {log} 2>&1"


# The language SFTs' same-language bound: the language's LT-SFT language SFT again with another seed.
rule analysis_sft_reseed:
    input:
        unpack(sft_language_inputs),
    output:
        sft="results/analysis/sft-overlap/{model}/reseed/{lang}/lt-sft.safetensors",
        json="results/analysis/sft-overlap/{model}/reseed/{lang}/lt-sft.json",
    log:
        "logs/analysis/sft-overlap/{model}/reseed/{lang}.log",
    wildcard_constraints:
        model="|".join(sorted(map(re.escape, sft_overlap_models()), key=len, reverse=True)) or "(?!)",
    params:
        model=sft_model_param,
        budget=sft_budget_flag(SFT["language"]["k"]),
        options=sft_language_options(),
        runtime=sft_runtime_options(seed=config["seed"] + ANALYSIS["overlap"]["reseed_offset"]),
        out_dir="results/analysis/sft-overlap/{model}/reseed/{lang}",
    threads: rule_threads("analysis_sft_reseed", 1)
    resources:
        **training_resources("analysis_sft_reseed"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets language-sft --model {params.model} --model-name {wildcards.model}"
        " --lang {wildcards.lang} --tokens {input.meta} --methods lt-sft {params.budget} {params.options}"
        " {params.runtime} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


# Jaccard of the languages' LT-SFT language SFTs (their selected positions) per layer and the embeddings.
rule analysis_sft_overlap:
    input:
        unpack(sft_overlap_inputs),
    output:
        json="results/analysis/sft-overlap/{model}.json",
        csv="results/analysis/sft-overlap/{model}.csv",
    log:
        "logs/analysis/sft-overlap/{model}.log",
    wildcard_constraints:
        model="|".join(sorted(map(re.escape, sft_overlap_models()), key=len, reverse=True)) or "(?!)",
    params:
        pairs=sft_overlap_pairs,
    resources:
        **rule_resources("analysis_sft_overlap"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets analysis-mask-overlap --kind lt-sft --model {wildcards.model} {params.pairs}"
        " --out-json {output.json} --out-csv {output.csv} > {log} 2>&1"


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


# Jaccard heatmaps of the IMP masks (one pruning round) and of the LT-SFT language SFTs, drawn by the ticket
# overlap's figure from reports of the same layout.
rule figure_imp_overlap:
    input:
        f"results/analysis/imp-overlap/{IMP['model']}/{{task}}/round{{round}}.json",
    output:
        **figure_files("imp-overlap-{task}-r{round}", "figure_imp_overlap", "Subnetworks", "IMP mask overlap ({task})"),
    log:
        "logs/figures/imp-overlap-{task}-r{round}.log",
    wildcard_constraints:
        task="|".join(IMP_TASK_NAMES),
        round="[0-9]{2}",
    params:
        name="jaccard-heatmaps",
        dpi=FIGURES_CFG["dpi"],
        options=["kinds=all,attention,ffn"],
    resources:
        **rule_resources("figure_imp_overlap"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_sft_overlap:
    input:
        "results/analysis/sft-overlap/{model}.json",
    output:
        **figure_files("sft-overlap-{model}", "figure_sft_overlap", "LT-SFT", "language-SFT overlap ({model})"),
    log:
        "logs/figures/sft-overlap-{model}.log",
    params:
        name="jaccard-heatmaps",
        dpi=FIGURES_CFG["dpi"],
        options=["kinds=all,attention,ffn"],
    resources:
        **rule_resources("figure_sft_overlap"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


# Every analysis: `snakemake analyses`.
rule analyses:
    input:
        analysis_targets(),
    localrule: True

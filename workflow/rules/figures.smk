# Figures (results/figures/*.pdf|png, byte-identical on rerun) and tables (results/tables/*.csv|md), each in
# the HTML report (`snakemake --report report.html`) with its caption from workflow/report/. They read only
# files under results/. Every rule here is figure_* or table_* (and so are the other stages' figure and table
# rules), so `make figures` regenerates all of them from scratch and reruns no other rule:
#   snakemake figures --forcerun $(snakemake --list-rules | grep -E '^(figure|table)_')
# Adding a figure: a draw function registered in langtickets.figures.base.FIGURES, a rule copied from a
# neighbour (figure_files for the outputs, FIGURE_SHELL for the command), a caption, an entry in
# figures_targets().

rule figure_ticket_umap:
    input:
        "results/analysis/structure/{arch}.json",
    output:
        **figure_files("ticket-umap-{arch}", "figure_ticket_umap", "Tickets", "ticket UMAP ({arch})"),
    log:
        "logs/figures/ticket-umap-{arch}.log",
    params:
        name="ticket-umap",
        dpi=FIGURES_CFG["dpi"],
        options=["methods=" + ",".join(umap_methods()), "level=family"],
    resources:
        **rule_resources("figure_ticket_umap"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_jaccard_heatmaps:
    input:
        "results/analysis/overlap/{arch}/{method}.json",
    output:
        **figure_files(
            "jaccard-heatmaps-{arch}-{method}", "figure_jaccard_heatmaps", "Tickets", "Jaccard heatmaps ({arch}, {method})"
        ),
    log:
        "logs/figures/jaccard-heatmaps-{arch}-{method}.log",
    params:
        name="jaccard-heatmaps",
        dpi=FIGURES_CFG["dpi"],
        options=["kinds=" + ",".join(FIGURES_CFG["jaccard_kinds"])],
    resources:
        **rule_resources("figure_jaccard_heatmaps"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_ticket_overlap:
    input:
        expand("results/analysis/overlap/{{arch}}/{method}.json", method=TICKETS["methods"]),
    output:
        **figure_files("ticket-overlap-{arch}", "figure_ticket_overlap", "Tickets", "overlap per layer ({arch})"),
    log:
        "logs/figures/ticket-overlap-{arch}.log",
    params:
        name="jaccard-layers",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_ticket_overlap"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_uc_layers:
    input:
        INTERFERENCE_ANALYSIS["uc_json"],
    output:
        **figure_files("uc-layers", "figure_uc_layers", "Interference", "uc per layer"),
    log:
        "logs/figures/uc-layers.log",
    params:
        name="uc-layers",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_uc_layers"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_stability:
    input:
        INTERFERENCE_ANALYSIS["stability_json"],
    output:
        **figure_files("stability", "figure_stability", "Interference", "gc vs uc stability"),
    log:
        "logs/figures/stability.log",
    params:
        name="stability",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_stability"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule figure_retrieval:
    input:
        expand("results/analysis/retrieval/{variant}.json", variant=retrieval_variants()),
    output:
        **figure_files("retrieval", "figure_retrieval", "Retrieval", "retrieval per layer"),
    log:
        "logs/figures/retrieval.log",
    params:
        name="retrieval",
        dpi=FIGURES_CFG["dpi"],
        options=[],
    resources:
        **rule_resources("figure_retrieval"),
    conda:
        "../../envs/figures.yaml"
    shell:
        FIGURE_SHELL


rule table_perplexity:
    input:
        expand("results/pretrain/{variant}/perplexity.json", variant=PRETRAIN["variants"]),
    output:
        **table_files("perplexity"),
    log:
        "logs/tables/perplexity.log",
    params:
        name="perplexity",
    resources:
        **rule_resources("table_perplexity"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_flops:
    input:
        "results/tickets/flops.csv",
    output:
        **table_files("flops"),
    log:
        "logs/tables/flops.log",
    params:
        name="flops",
    resources:
        **rule_resources("table_flops"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_ticket_density:
    input:
        expand("results/tickets/{arch}/{method}/density.csv", arch=TICKETS["archs"], method=TICKETS["methods"]),
    output:
        **table_files("ticket-density"),
    log:
        "logs/tables/ticket-density.log",
    params:
        name="ticket-density",
    resources:
        **rule_resources("table_ticket_density"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_ticket_overlap:
    input:
        expand("results/analysis/overlap/{arch}/{method}.json", arch=TICKETS["archs"], method=TICKETS["methods"]),
    output:
        **table_files("ticket-overlap"),
    log:
        "logs/tables/ticket-overlap.log",
    params:
        name="ticket-overlap",
    resources:
        **rule_resources("table_ticket_overlap"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_family_coherence:
    input:
        expand("results/analysis/structure/{arch}.json", arch=TICKETS["archs"]),
    output:
        **table_files("family-coherence"),
    log:
        "logs/tables/family-coherence.log",
    params:
        name="family-coherence",
    resources:
        **rule_resources("table_family_coherence"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_interference:
    input:
        INTERFERENCE_ANALYSIS["uc_json"],
        INTERFERENCE_ANALYSIS["stability_json"],
    output:
        **table_files("interference"),
    log:
        "logs/tables/interference.log",
    params:
        name="interference",
    resources:
        **rule_resources("table_interference"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


rule table_retrieval:
    input:
        expand("results/analysis/retrieval/{variant}.json", variant=retrieval_variants()),
    output:
        **table_files("retrieval"),
    log:
        "logs/tables/retrieval.log",
    params:
        name="retrieval",
    resources:
        **rule_resources("table_retrieval"),
    conda:
        "../../envs/figures.yaml"
    shell:
        TABLE_SHELL


if sft_sweep_ran():

    rule figure_sft_density:
        input:
            [path for path in sft_density_tables() if path.endswith(".csv")],
        output:
            **figure_files("sft-density", "figure_sft_density", "LT-SFT", "density contour"),
        log:
            "logs/figures/sft-density.log",
        params:
            name="sft-density",
            dpi=FIGURES_CFG["dpi"],
            options=[],
        resources:
            **rule_resources("figure_sft_density"),
        conda:
            "../../envs/figures.yaml"
        shell:
            FIGURE_SHELL


# Every figure and table: `snakemake figures` (from scratch: `make figures`).
rule figures:
    input:
        figures_targets(),
    localrule: True

# Figures targets and input functions (rules: figures.smk).
FIGURES_CFG = config["figures"]
FIGURE_FORMATS = {"pdf": "PDF", "png": "PNG"}
FIGURE_SHELL = (
    "python -m langtickets figure {params.name} --inputs {input} --pdf {output.pdf} --png {output.png}"
    " --dpi {params.dpi} --set {params.options} > {log} 2>&1"
)
TABLE_SHELL = "python -m langtickets table {params.name} --inputs {input} --csv {output.csv} --md {output.md} > {log} 2>&1"


def figure_files(stem, caption, subcategory, label):
    """``{"pdf": ..., "png": ...}`` outputs results/figures/STEM.*, flagged for the report with a caption."""
    return {
        ext: report(
            f"results/figures/{stem}.{ext}",
            caption=f"../report/{caption}.rst",
            category="Figures",
            subcategory=subcategory,
            labels={"figure": label, "format": name},
        )
        for ext, name in FIGURE_FORMATS.items()
    }


def table_files(name):
    """``{"csv": ..., "md": ...}`` outputs results/tables/NAME.*, flagged for the report with a caption."""
    return {
        ext: report(
            f"results/tables/{name}.{ext}",
            caption=f"../report/table_{name.replace('-', '_')}.rst",
            category="Tables",
            labels={"table": name, "format": ext.upper()},
        )
        for ext in ("csv", "md")
    }


def reported_tables(paths, caption):
    """Table files flagged for the report with one caption (the task and SFT stages write many tables)."""
    flagged = []
    for path in paths:
        labels = {"table": Path(path).stem, "format": Path(path).suffix[1:].upper()}
        flagged.append(report(path, caption=f"../report/{caption}.rst", category="Tables", labels=labels))
    return flagged


def sft_density_figure():
    """The LT-SFT density contour (section 5.2), when a density sweep is configured."""
    return expand("results/figures/sft-density.{ext}", ext=FIGURE_FORMATS) if sft_sweep_ran() else []


def umap_methods():
    """Panels of the UMAP figure: the configured methods that have tickets."""
    return [method for method in FIGURES_CFG["umap_methods"] if method in TICKETS["methods"]]


def figures_targets():
    """Every figure and table the configured analyses allow (the `figures` target)."""
    figures = []
    if umap_methods():
        figures += expand("results/figures/ticket-umap-{arch}.{ext}", arch=TICKETS["archs"], ext=FIGURE_FORMATS)
    figures += expand(
        "results/figures/jaccard-heatmaps-{arch}-{method}.{ext}", arch=TICKETS["archs"], method=TICKETS["methods"],
        ext=FIGURE_FORMATS,
    )
    tables = ["perplexity", "flops"] if PRETRAIN["variants"] else ["flops"]
    if TICKETS["methods"]:
        figures += expand("results/figures/ticket-overlap-{arch}.{ext}", arch=TICKETS["archs"], ext=FIGURE_FORMATS)
        tables += ["ticket-density", "ticket-overlap", "family-coherence"]
    if interference_variants():
        figures += expand("results/figures/{name}.{ext}", name=["uc-layers", "stability"], ext=FIGURE_FORMATS)
        tables.append("interference")
    if retrieval_enabled():
        figures += expand("results/figures/retrieval.{ext}", ext=FIGURE_FORMATS)
        tables.append("retrieval")
    figures += subnetworks_figures() + sft_density_figure() + headsub_figures() + mask_overlap_figures()
    tables = expand("results/tables/{name}.{ext}", name=tables, ext=["csv", "md"])
    return figures + tables + tasks_tables() + sft_targets()

# Analysis targets and input functions (rules: analysis.smk).
ANALYSIS = config["analysis"]
RETRIEVAL = ANALYSIS["retrieval"]


def _known(codes, allowed, key, fix):
    unknown = [code for code in codes if code not in allowed]
    if unknown:
        raise ConfigError(f"{key} in {CONFIG_FILES} names {unknown}; {fix}")
    return list(codes)


def reseed_langs():
    """Languages whose SNIP scores are computed again for the same-language overlap bound."""
    langs = _known(ANALYSIS["overlap"]["reseed_langs"], LANGS, "analysis.overlap.reseed_langs",
                   "pick codes from 'languages'")
    return langs if "snip" in TICKETS["methods"] else []


def overlap_inputs(wildcards):
    """The masks; for SNIP with re-seeded languages also every original score file and the new ones."""
    reseed = reseed_langs() if wildcards.method == "snip" else []
    return {
        "masks": f"results/tickets/{wildcards.arch}/{wildcards.method}/masks.safetensors",
        "scores": ticket_scores(wildcards) if reseed else [],
        "reseed": expand("results/analysis/overlap/{arch}/reseed/{lang}.safetensors", arch=wildcards.arch, lang=reseed),
    }


def interference_variants():
    """Pretraining variants whose uc and stability are compared (analysis.interference.variants)."""
    return _known(ANALYSIS["interference"]["variants"] or PRETRAIN["variants"], PRETRAIN["variants"],
                  "analysis.interference.variants", "pick variants from pretrain.variants")


def retrieval_enabled():
    enabled = RETRIEVAL["enabled"]
    return CORPUS["source"] == "demo" if enabled == "auto" else bool(enabled)


def retrieval_langs():
    return _known(RETRIEVAL["langs"] or LANGS, LANGS, "analysis.retrieval.langs", "pick codes from 'languages'")


def retrieval_variants():
    return _known(RETRIEVAL["variants"] or PRETRAIN["variants"], PRETRAIN["variants"],
                  "analysis.retrieval.variants", "pick variants from pretrain.variants")


def parallel_path(lang):
    row = LANGUAGE_TABLE[lang]
    return RETRIEVAL["parallel_pattern"].format(data_dir=DATA_DIR, lang=lang, wiki=row.wiki, iso3=row.iso639_3)


def retrieval_inputs(wildcards):
    return {
        "model": f"results/pretrain/{wildcards.variant}/model",
        "parallel": [parallel_path(lang) for lang in retrieval_langs()],
    }


INTERFERENCE_ANALYSIS = {
    "uc_json": "results/analysis/interference/uc_layers.json",
    "uc_csv": "results/analysis/interference/uc_layers.csv",
    "stability_json": "results/analysis/interference/stability.json",
    "stability_csv": "results/analysis/interference/stability.csv",
}


def analysis_targets():
    """Every analysis output the configured tickets and pretraining variants allow."""
    targets = expand(
        "results/analysis/overlap/{arch}/{method}.{ext}", arch=TICKETS["archs"], method=TICKETS["methods"],
        ext=["json", "csv"],
    )
    if TICKETS["methods"]:
        targets += expand("results/analysis/structure/{arch}.json", arch=TICKETS["archs"])
    if interference_variants():
        targets += list(INTERFERENCE_ANALYSIS.values())
    if retrieval_enabled():
        targets += expand("results/analysis/retrieval/{variant}.json", variant=retrieval_variants())
    return targets

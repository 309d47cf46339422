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


def imp_overlap_tasks():
    """IMP tasks run on two or more languages: their masks are compared between languages."""
    return imp_transfer_tasks()


def imp_overlap_rounds():
    """Every pruning round of subnetworks.imp, as in the masks' names (round01...)."""
    return [f"{r:02d}" for r in range(1, IMP["rounds"] + 1)]


def imp_reseed_langs(task):
    """Languages of an IMP task run again with another seed (analysis.overlap.imp_reseed_langs)."""
    imp_langs = {lang for langs in imp_units().values() for lang in langs}
    langs = _known(ANALYSIS["overlap"]["imp_reseed_langs"], imp_langs, "analysis.overlap.imp_reseed_langs",
                   "pick languages of subnetworks.imp.tasks")
    return [lang for lang in langs if lang in imp_units().get(task, [])]


def imp_overlap_inputs(wildcards):
    """Every language's masks of the round, and those of the re-seeded IMP runs."""
    folders = [imp_folder(wildcards.model, wildcards.task, lang) for lang in imp_units()[wildcards.task]]
    reseed = [imp_reseed_folder(wildcards.model, wildcards.task, lang) for lang in imp_reseed_langs(wildcards.task)]
    return {"masks": [f"{folder}/masks/round{wildcards.round}.safetensors" for folder in folders],
            "reseed": [f"{folder}/masks/round{wildcards.round}.safetensors" for folder in reseed]}  # fmt: skip


def imp_reseed_folder(model, task, lang):
    return f"results/analysis/imp-overlap/{model}/{task}/reseed/{lang}"


def imp_overlap_pairs(wildcards):
    """--masks and --reseed LANG=FILE pairs of analysis-mask-overlap for one IMP task and round."""
    name = f"masks/round{wildcards.round}.safetensors"
    masks = [f"{lang}={imp_folder(wildcards.model, wildcards.task, lang)}/{name}" for lang in imp_units()[wildcards.task]]
    reseed = [f"{lang}={imp_reseed_folder(wildcards.model, wildcards.task, lang)}/{name}"
              for lang in imp_reseed_langs(wildcards.task)]  # fmt: skip
    return f"--masks {' '.join(masks)}" + (f" --reseed {' '.join(reseed)}" if reseed else "")


def sft_overlap_models():
    """Models whose LT-SFT language SFTs are compared: those of the SFT stage, when LT-SFT language SFTs are
    made for two or more languages with a corpus."""
    return sft_models() if len(sft_overlap_langs()) > 1 and sft_transfer_entries() else []


def sft_overlap_langs():
    """Languages that get an LT-SFT language SFT (sources and targets with a corpus, of LT-SFT task methods)."""
    wanted = {lang for entry in sft_transfer_entries() if any(sft_language_method(m) == "lt-sft" for m in entry["methods"])
              for lang in entry["sources"] + entry["targets"]}  # fmt: skip
    return [lang for lang in LANGS if lang in wanted]


def sft_reseed_langs():
    """Languages whose LT-SFT language SFT is trained again with another seed (analysis.overlap.sft_reseed_langs)."""
    langs = _known(ANALYSIS["overlap"]["sft_reseed_langs"], LANGS, "analysis.overlap.sft_reseed_langs",
                   "pick codes from 'languages'")
    return [lang for lang in langs if lang in sft_overlap_langs()]


def sft_overlap_inputs(wildcards):
    return {"sfts": [f"results/sft/{wildcards.model}/language/{lang}/lt-sft.safetensors" for lang in sft_overlap_langs()],
            "reseed": [f"results/analysis/sft-overlap/{wildcards.model}/reseed/{lang}/lt-sft.safetensors"
                       for lang in sft_reseed_langs()]}  # fmt: skip


def sft_overlap_pairs(wildcards):
    """--masks and --reseed LANG=FILE pairs of analysis-mask-overlap for one model's language SFTs."""
    files = sft_overlap_inputs(wildcards)
    masks = [f"{lang}={path}" for lang, path in zip(sft_overlap_langs(), files["sfts"])]
    reseed = [f"{lang}={path}" for lang, path in zip(sft_reseed_langs(), files["reseed"])]
    return f"--masks {' '.join(masks)}" + (f" --reseed {' '.join(reseed)}" if reseed else "")


def mask_overlap_figures():
    """The Jaccard heatmaps of the IMP masks (at the last transfer sparsity) and of the LT-SFT language SFTs."""
    rounds = imp_transfer_rounds()
    stems = [f"imp-overlap-{task}-r{max(rounds):02d}" for task in imp_overlap_tasks()] if rounds else []
    stems += [f"sft-overlap-{model}" for model in sft_overlap_models()]
    return expand("results/figures/{stem}.{ext}", stem=stems, ext=["pdf", "png"])


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
    targets += expand("results/analysis/imp-overlap/{model}/{task}/round{round}.{ext}", model=IMP["model"],
                      task=imp_overlap_tasks(), round=imp_overlap_rounds(), ext=["json", "csv"])  # fmt: skip
    targets += expand("results/analysis/sft-overlap/{model}.{ext}", model=sft_overlap_models(), ext=["json", "csv"])
    if interference_variants():
        targets += list(INTERFERENCE_ANALYSIS.values())
    if retrieval_enabled():
        targets += expand("results/analysis/retrieval/{variant}.json", variant=retrieval_variants())
    return targets

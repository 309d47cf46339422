# Model-initialisation and ticket-search targets and input functions (rules: tickets.smk).
MODEL = config["model"]
TICKETS = config["tickets"]
ARCHS = ["base", "scaled", "wide"]
ARCH_LAYERS = {"base": MODEL["layers"], "scaled": MODEL["scaled_layers"], "wide": MODEL["layers"]}


def ticket_ratio(arch):
    """r for an architecture: the configured override, else eta_0 / (its layers) (section 3.1)."""
    return TICKETS["ratio"].get(arch, MODEL["layers"] / ARCH_LAYERS[arch])


def ticket_scores(wildcards):
    return expand(
        "results/tickets/{arch}/{method}/scores/{lang}.safetensors",
        arch=wildcards.arch,
        method=wildcards.method,
        lang=LANGS,
    )


def tickets_targets():
    targets = expand("results/models/init/{arch}", arch=ARCHS) + ["results/tickets/flops.csv"]
    targets += expand(
        "results/tickets/{arch}/{method}/{name}",
        arch=TICKETS["archs"],
        method=TICKETS["methods"],
        name=["masks.safetensors", "density.csv"],
    )
    return targets


def export_targets():
    """Per-language exports of the pretrained ticketed variants (pretraining must run them)."""
    variants = [v for v in TICKETS["export_variants"] if v in PRETRAIN["variants"]]
    return expand("results/pretrain/{variant}/export/{lang}", variant=variants, lang=export_langs())


def export_langs():
    unknown = [lang for lang in TICKETS["export_langs"] if lang not in LANGS]
    if unknown:
        raise ConfigError(
            f"tickets.export_langs names {unknown}, which are not pretraining languages; "
            "pick codes from 'languages' of the config"
        )
    return TICKETS["export_langs"]

# Pretraining targets and input functions (rules: pretrain.smk).
PRETRAIN = config["pretrain"]
INTERFERENCE = config["interference"]
PRETRAIN_OUTPUTS = [
    "train_log.jsonl",
    "perplexity.json",
    "interference/uc.json",
    "interference/gc.json",
    "interference/stability.json",
]


def pretrain_inputs(wildcards):
    """The variant's init model, every language's token shard, and its ticket masks when it has a ticket."""
    arch, method = VARIANTS[wildcards.variant]
    inputs = {
        "init": f"results/models/init/{arch}",
        "meta": expand("results/tokens/{lang}/meta.json", lang=LANGS),
        "train": expand("results/tokens/{lang}/train.bin", lang=LANGS),
        "valid": expand("results/tokens/{lang}/valid.bin", lang=LANGS),
    }
    if method is not None:
        inputs["masks"] = f"results/tickets/{arch}/{method}/masks.safetensors"
    return inputs


def pretrain_masks_flag(wildcards, input):
    return f"--masks {input.masks}" if "masks" in input.keys() else ""


def uc_layers_arg():
    layers = INTERFERENCE["layers"]
    return layers if isinstance(layers, str) else ",".join(str(layer) for layer in layers) or "none"


def pretrain_targets():
    targets = expand("results/pretrain/{variant}/model", variant=PRETRAIN["variants"])
    targets += expand("results/pretrain/{variant}/{name}", variant=PRETRAIN["variants"], name=PRETRAIN_OUTPUTS)
    return targets

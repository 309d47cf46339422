# IMP and head-importance targets and input functions (rules: subnetworks.smk).
SUBNETWORKS = config["subnetworks"]
IMP = SUBNETWORKS["imp"]
HEADS = SUBNETWORKS["heads"]
IMP_TASK_NAMES = ["mlm", "ner", "nli", "pos", "dep"]


def imp_units():
    """{task: [langs]} of subnetworks.imp.tasks; MLM languages must be pretraining languages."""
    units = {}
    for entry in IMP["tasks"]:
        if entry["task"] in units:
            raise ConfigError(f"task '{entry['task']}' is listed twice in subnetworks.imp.tasks of {CONFIG_FILES}")
        units[entry["task"]] = _check_langs(entry["langs"], "subnetworks.imp.tasks")
        outside = [lang for lang in units[entry["task"]] if lang not in LANGS] if entry["task"] == "mlm" else []
        if outside:
            raise ConfigError(f"subnetworks.imp.tasks: mlm languages {outside} are not pretraining languages of "
                              f"{CONFIG_FILES}; MLM trains on results/tokens/LANG")  # fmt: skip
    return units


def imp_transfer_rounds():
    """Rounds of subnetworks.imp.transfer_sparsity (each a multiple of rate within rounds)."""
    rounds = []
    for sparsity in IMP["transfer_sparsity"]:
        index = round(sparsity / IMP["rate"])
        if abs(index * IMP["rate"] - sparsity) > 1e-9 or not 1 <= index <= IMP["rounds"]:
            raise ConfigError(f"subnetworks.imp.transfer_sparsity {sparsity} is not reached by rounds of "
                              f"{IMP['rate']} (rounds: {IMP['rounds']}) in {CONFIG_FILES}")  # fmt: skip
        rounds.append(index)
    return rounds


IMP_RUNS = list(range(IMP["seeds"]))
HEADS_RUNS = list(range(HEADS["seeds"]))
IMP_MASKS = [f"round{r:02d}" for r in range(1, IMP["rounds"] + 1)] + [f"random{r:02d}" for r in imp_transfer_rounds()]


def subnetwork_spec(task, lang):
    """The DatasetSpec of a task and language: subnetworks.datasets[task] when given, else tasks.datasets."""
    entry = SUBNETWORKS["datasets"].get(task) or TASKS_CFG["datasets"][task]
    row = LANGUAGE_TABLE[lang]
    fields = {"data_dir": str(DATA_DIR), "iso3": row.iso639_3, "name": row.name}
    return spec_from_config(task, entry, lang=lang, fields=fields, where=CONFIG_FILES)


def _local(sources):
    return [source for source in sources if not source.startswith("hf:")]


def _pairs(flag, values):
    pairs = " ".join(f"{key}={value}" for key, value in values.items())
    return f"--{flag} {pairs}" if values else ""


def subnetwork_data_flags(specs, splits):
    """LANG=VALUE (or UNIT=VALUE) data flags of the subnetworks commands for {key: DatasetSpec}."""
    flags = [_pairs("format", {key: spec.format for key, spec in specs.items()})]
    flags += [_pairs(split, {key: spec.source(split) for key, spec in specs.items()}) for split in splits]
    repair = [key for key, spec in specs.items() if spec.repair_bio]
    flags += [f"--repair-bio {' '.join(repair)}"] if repair else []
    flags += [_pairs("map-to-o", {key: ",".join(spec.map_to_o) for key, spec in specs.items() if spec.map_to_o})]
    flags += [_pairs("data-language", {key: spec.language for key, spec in specs.items() if spec.language})]
    return " ".join(flag for flag in flags if flag)


def imp_data(task, langs):
    """Data flags of subnetworks-imp / -transfer: token folders for MLM, else format, train and dev."""
    if task == "mlm":
        return _pairs("tokens", {lang: f"results/tokens/{lang}" for lang in langs})
    return subnetwork_data_flags({lang: subnetwork_spec(task, lang) for lang in langs}, ["train", "dev"])


def imp_data_files(task, langs):
    if task == "mlm":
        return expand("results/tokens/{lang}/{name}", lang=langs, name=["meta.json", "train.bin", "valid.bin"])
    return _local([subnetwork_spec(task, lang).source(split) for lang in langs for split in ("train", "dev")])


def imp_recipe(task):
    """Recipe flags: subnetworks.imp.mlm for MLM, subnetworks.imp.train (+ tasks.train's shared keys) else."""
    shared = TASKS_CFG["train"]
    common = (f" --weight-decay {shared['weight_decay']} --max-grad-norm {shared['max_grad_norm']}"
              f" --eval-batch-size {shared['eval_batch_size']}")  # fmt: skip
    if task == "mlm":
        mlm = IMP["mlm"]
        return (f"--batch-size {mlm['batch_size']} --lr {mlm['lr']} --updates {mlm['updates']}"
                f" --seq-len {mlm['seq_len']} --mlm-probability {mlm['probability']}"
                f" --warmup-ratio {mlm['warmup_ratio']} --eval-every {mlm['eval_every']} --eval-batches {mlm['eval_batches']}"
                f" --eval-sequences {mlm['eval_sequences']}{common}")  # fmt: skip
    train = IMP["train"]
    if task not in train["lr"]:
        raise ConfigError(f"subnetworks.imp.train.lr has no learning rate for '{task}' in {CONFIG_FILES}; add one")
    return (f"--batch-size {train['batch_size']} --lr {train['lr'][task]} --epochs {train['epochs']}"
            f" --max-updates {train['max_updates']} --warmup-ratio {train['warmup_ratio']}"
            f" --eval-every {train['eval_every']} --max-length {TASKS_CFG['max_length']}"
            f" --head-dropout {shared['head_dropout']}{common}")  # fmt: skip


def imp_inputs(wildcards):
    return {"model": f"results/pretrain/{wildcards.model}/model",
            "data": imp_data_files(wildcards.task, [wildcards.imp_lang])}  # fmt: skip


def imp_folder(model, task, lang):
    return f"results/analysis/imp/{model}/{task}/{lang}"


def transfer_inputs(wildcards):
    langs = imp_units()[wildcards.task]
    folders = [imp_folder(wildcards.model, wildcards.task, lang) for lang in langs]
    return {
        "model": f"results/pretrain/{wildcards.model}/model",
        "imp": [f"{folder}/imp.json" for folder in folders],
        "masks": [f"{folder}/masks/{name}.safetensors" for folder in folders for name in IMP_MASKS],
        "data": imp_data_files(wildcards.task, langs),
    }


def transfer_params(wildcards):
    langs = imp_units()[wildcards.task]
    imps = " ".join(f"{lang}={imp_folder(wildcards.model, wildcards.task, lang)}" for lang in langs)
    return f"--langs {' '.join(langs)} --imp {imps} {imp_data(wildcards.task, langs)}"


def heads_units():
    """Units 'task/lang' of subnetworks.heads.units, in config order."""
    units = []
    for entry in HEADS["units"]:
        units += [f"{entry['task']}/{lang}" for lang in _check_langs(entry["langs"], "subnetworks.heads.units")]
    if len(set(units)) != len(units):
        raise ConfigError(f"subnetworks.heads.units of {CONFIG_FILES} names a (task, language) twice")
    return units


def heads_specs():
    return {unit: subnetwork_spec(*unit.split("/")) for unit in heads_units()}


def heads_inputs(wildcards):
    files = [spec.source(split) for spec in heads_specs().values() for split in ("train", "test")]
    return {"model": f"results/pretrain/{wildcards.model}/model", "data": _local(files)}


def heads_params(wildcards):
    train, shared = HEADS["train"], TASKS_CFG["train"]
    return (
        f"--units {' '.join(heads_units())} {subnetwork_data_flags(heads_specs(), ['train', 'test'])}"
        f" --alphas {' '.join(map(str, HEADS['alphas']))} --fractions {' '.join(map(str, HEADS['fractions']))}"
        f" --random-orders {HEADS['random_orders']} --importance-examples {HEADS['importance_examples']}"
        f"{'' if HEADS['normalize'] else ' --no-normalize'} --batch-size {train['batch_size']} --lr {train['lr']}"
        f" --epochs {train['epochs']} --max-updates {train['max_updates']} --warmup-ratio {train['warmup_ratio']}"
        f" --weight-decay {shared['weight_decay']} --max-grad-norm {shared['max_grad_norm']}"
        f" --eval-batch-size {shared['eval_batch_size']} --max-length {TASKS_CFG['max_length']}"
        f" --head-dropout {shared['head_dropout']} --arc-dim {shared['arc_dim']}"
        f" --relation-dim {shared['relation_dim']}"
    )  # fmt: skip


def imp_transfer_tasks():
    return [task for task, langs in imp_units().items() if len(langs) > 1]


def subnetworks_figures():
    """Figures and tables of the configured IMP and head analyses (for the `figures` target)."""
    names = ["imp-sparsity"] if imp_units() else []
    names += ["imp-transfer"] if imp_transfer_tasks() else []
    names += ["head-importance", "head-pruning"] if heads_units() else []
    tables = ["imp-winning"] if imp_units() else []
    tables += ["imp-relative-transfer"] if imp_transfer_tasks() else []
    tables += ["head-dissociation"] if heads_units() else []
    return (expand("results/figures/{name}.{ext}", name=names, ext=["pdf", "png"])
            + expand("results/tables/{name}.{ext}", name=tables, ext=["csv", "md"]))  # fmt: skip


def subnetworks_targets():
    """Every IMP, transfer and head-analysis output, and their figures."""
    targets = [f"{imp_folder(IMP['model'], task, lang)}/{name}" for task, langs in imp_units().items()
               for lang in langs for name in ("imp.json", "imp.csv")]  # fmt: skip
    targets += expand("results/analysis/imp/{model}/{task}/{name}", model=IMP["model"], task=imp_transfer_tasks(),
                      name=["transfer.json", "transfer.csv", "transfer-relative.csv"])  # fmt: skip
    if heads_units():
        targets += expand("results/analysis/heads/{model}/{name}", model=HEADS["model"],
                          name=["heads.json", "importance.csv", "dissociation.csv", "pruning.csv"])  # fmt: skip
    return targets + subnetworks_figures()

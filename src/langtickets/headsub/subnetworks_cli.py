"""``langtickets headsub-subnetworks``: stage 1 on the source language and every fine-tuning language's
subnetwork (Choenni et al., sections 4.2 and 4.3.1; the baselines of section 8).

One job does all of it, so the model and the torch import are paid once:

1. **Stage 1** (section 4.2): the pretrained encoder with a fresh parser head is fine-tuned on the source
   language without masks; saved as a task model folder (``OUT/source``) that both training frameworks
   start from.
2. **Subnetworks** (section 4.3.1): for every fine-tuning language and every pruning seed, the pretrained
   model is fine-tuned on the language and its heads pruned (:func:`~langtickets.headsub.pruning.prune_heads`);
   the union over seeds is the language's mask (``OUT/heads.safetensors``).
3. **Baselines** (section 8): random head masks with each language's number of disabled heads
   (``OUT/random.safetensors``) and, with ``--magnitude``, unstructured magnitude masks over the attention
   weights found on the same fine-tuned models (``OUT/magnitude.safetensors``, union over seeds).

``OUT/subnetworks.json`` records the stage-1 training, every pruning trace and the heads each mask disables.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langtickets.seeding import derive_seed


def _parser() -> argparse.ArgumentParser:
    from langtickets.headsub.data import add_data_arguments, add_recipe_arguments

    parser = argparse.ArgumentParser(prog="langtickets headsub-subnetworks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="pretrained model folder (results/pretrain/VARIANT/model)")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--source", required=True, help="stage-1 language (the paper: English)")
    parser.add_argument("--languages", nargs="+", required=True, help="fine-tuning languages that get subnetworks")
    add_data_arguments(parser)
    parser.add_argument("--seed", type=int, required=True, help="config seed; every run's seed derives from it")
    parser.add_argument("--runs", type=int, nargs="+", default=[0, 1, 2, 3], help="pruning seeds (paper: 4)")
    parser.add_argument("--stage1-epochs", type=float, default=60.0)
    parser.add_argument("--stage1-max-updates", type=int, default=0, help="cap (0 = none)")
    parser.add_argument("--prune-epochs", type=float, default=60.0, help="fine-tuning before pruning")
    parser.add_argument("--prune-max-updates", type=int, default=0, help="cap (0 = none)")
    parser.add_argument("--share", type=float, default=0.1, help="share of all heads removed per step")
    parser.add_argument("--threshold", type=float, default=0.95, help="stop below this share of the unpruned LAS")
    parser.add_argument("--magnitude-share", type=float, default=0.1, help="share of attention weights per step")
    parser.add_argument("--importance-examples", type=int, default=0, help="training examples for Eq. 3 (0 = all)")
    parser.add_argument("--magnitude", action="store_true", help="also find unstructured magnitude masks")
    add_recipe_arguments(parser)
    parser.add_argument("--out-dir", type=Path, required=True)
    return parser


def fine_tune(pretrained: Any, features: Sequence[dict], lang: str, labels: Any, recipe: Any, updates: int,
              seed: int, options: dict, device: Any) -> tuple[Any, dict]:  # fmt: skip
    """A fresh copy of the pretrained encoder with a new parser head, fine-tuned on one language unmasked."""
    from langtickets.headsub.training import train_nonepisodic
    from langtickets.headsub.use import MaskUse
    from langtickets.tasks.encoders import new_task_model

    model = new_task_model(pretrained.fresh_encoder(), "dep", labels, seed, options).to(device)
    record = train_nonepisodic(model, {lang: features}, MaskUse(), recipe, updates, seed=seed,
                               pad_id=pretrained.tokenizer.pad_token_id, device=device,
                               desc=f"fine-tune {lang}")  # fmt: skip
    return model, record


def prune_language(pretrained: Any, data: dict, lang: str, labels: Any, args: argparse.Namespace, run: int,
                   device: Any) -> tuple[Any, Any, dict]:  # fmt: skip
    """One seed of section 4.3.1 for one language: fine-tune, prune heads (and weights); masks and record."""
    from langtickets.headsub.data import head_options, recipes
    from langtickets.headsub.pruning import PruningSettings, importance_batches, prune_heads, prune_magnitude
    from langtickets.headsub.training import updates_for
    from langtickets.tasks.evaluate import evaluate

    recipe, _ = recipes(args)
    seed = derive_seed(args.seed, "headsub", "prune", lang, run)
    train, dev, pad_id = data[lang]["train"], data[lang]["dev"], pretrained.tokenizer.pad_token_id
    updates = updates_for(len(train.features), recipe.batch_size, args.prune_epochs, args.prune_max_updates)
    model, trained = fine_tune(pretrained, train.features, lang, labels, recipe, updates, seed, head_options(args),
                               device)  # fmt: skip
    settings = PruningSettings(args.share, args.threshold, args.magnitude_share, args.importance_examples)

    def dev_las() -> float:
        scores = evaluate(model, dev, labels, pad_token_id=pad_id, batch_size=args.eval_batch_size, device=device)
        return scores["score"]

    batches = importance_batches(train.features, settings.importance_examples, derive_seed(seed, "importance"),
                                 pad_id, device)  # fmt: skip
    heads = prune_heads(model, batches, dev_las, settings, device)
    magnitude = prune_magnitude(model, dev_las, settings, device) if args.magnitude else None
    record = {"run": run, "updates": updates, "loss": trained["loss"][lang], "dev_las": heads.base,
              "heads": {"disabled": int((~heads.mask).sum()), "trace": heads.trace}}  # fmt: skip
    if magnitude is not None:
        pruned = sum(int((~m).sum()) for m in magnitude.mask.values())
        record["magnitude"] = {"disabled": pruned, "trace": magnitude.trace}
    return heads.mask, None if magnitude is None else magnitude.mask, record


def stage_one(pretrained: Any, data: dict, args: argparse.Namespace, labels: Any, device: Any) -> tuple[Any, dict]:
    """Section 4.2's stage 1: the source language, no masks; scored on its dev split when there is one."""
    from langtickets.headsub.data import head_options, recipes
    from langtickets.headsub.fewshot import score
    from langtickets.headsub.training import updates_for
    from langtickets.headsub.use import MaskUse

    recipe, _ = recipes(args)
    train = data[args.source]["train"]
    updates = updates_for(len(train.features), recipe.batch_size, args.stage1_epochs, args.stage1_max_updates)
    seed = derive_seed(args.seed, "headsub", "stage1")
    model, record = fine_tune(pretrained, train.features, args.source, labels, recipe, updates, seed,
                              head_options(args), device)  # fmt: skip
    if "dev" in data[args.source]:
        record["dev"] = score(model, MaskUse(), None, data[args.source]["dev"], labels,
                              pretrained.tokenizer.pad_token_id, args.eval_batch_size, device)  # fmt: skip
    return model, {"updates": updates, "loss": record["loss"][args.source], "dev": record.get("dev"), "seed": seed}


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from langtickets.cli import summary
    from langtickets.headsub.data import dataset_specs, featurize_records, head_options, read_records, start_torch
    from langtickets.headsub.masks import HEADS_KEY, LanguageMasks, random_like, union
    from langtickets.io import write_json
    from langtickets.tasks.encoders import load_pretrained, save_task_model
    from langtickets.tasks.evaluate import task_labels
    from langtickets.tasks.protocols import check_length

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    langs = list(dict.fromkeys(args.languages))
    needs = {args.source: ["train"], **{lang: ["train", "dev"] for lang in langs}}
    specs = dataset_specs(args, needs)
    records = read_records(specs)
    device = start_torch(args)
    pretrained = load_pretrained(args.model)
    check_length(pretrained.encoder, args.max_length)
    labels = task_labels("dep")
    data = featurize_records(records, specs, pretrained.tokenizer, labels, args.max_length)
    source_model, stage1 = stage_one(pretrained, data, args, labels, device)
    heads, magnitude, per_lang = {}, {}, {}
    for lang in langs:
        found = [prune_language(pretrained, data, lang, labels, args, run, device) for run in args.runs]
        heads[lang] = {HEADS_KEY: union(mask for mask, _, _ in found)}
        if args.magnitude:
            magnitude[lang] = {key: union(m[key] for _, m, _ in found) for key in found[0][1]}
        per_lang[lang] = {"runs": [record for _, _, record in found]}
    info = {"model": args.model_name, "source": args.source, "runs": list(args.runs), "seed": args.seed}
    head_masks = LanguageMasks("heads", heads, {**info, "method": "importance pruning, union over runs"})
    random_masks = random_like(head_masks, torch.Generator().manual_seed(derive_seed(args.seed, "headsub", "random")))
    out = args.out_dir
    record = {"task": "dep", "labels": list(labels.names), "head_options": head_options(args), "model": args.model_name,
              "pretrained": str(args.model), "source_lang": args.source, "mask_lang": None, "run": 0,
              "seed": args.seed, "train": stage1, "settings": {"stage": "headsub stage 1"}}  # fmt: skip
    save_task_model(out / "source", source_model.cpu(), pretrained.tokenizer, None, record)
    head_masks.save(out / "heads.safetensors")
    random_masks.save(out / "random.safetensors")
    for lang in langs:
        per_lang[lang]["heads"] = _mask_record(head_masks, lang)
        per_lang[lang]["random"] = _mask_record(random_masks, lang)
    if args.magnitude:
        magnitude_masks = LanguageMasks("weights", magnitude, {**info, "method": "magnitude pruning, union over runs"})
        magnitude_masks.save(out / "magnitude.safetensors")
        for lang in langs:
            per_lang[lang]["magnitude"] = {"disabled": magnitude_masks.disabled(lang),
                                           "total": magnitude_masks.total(lang)}  # fmt: skip
    write_json(out / "subnetworks.json", {**info, "languages": langs, "stage1": stage1, "subnetworks": per_lang,
                                          "settings": _settings(args)})  # fmt: skip
    disabled = ",".join(f"{lang}:{head_masks.disabled(lang)}" for lang in langs)
    summary("headsub-subnetworks", started, model=args.model_name, source=args.source, heads_disabled=disabled)
    return 0


def _mask_record(masks: Any, lang: str) -> dict[str, Any]:
    from langtickets.headsub.masks import HEADS_KEY

    return {"disabled": masks.disabled(lang), "total": masks.total(lang),
            "mask": [[int(x) for x in row] for row in masks.of(lang)[HEADS_KEY].tolist()]}  # fmt: skip


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    names = ("stage1_epochs", "stage1_max_updates", "prune_epochs", "prune_max_updates", "share", "threshold",
             "magnitude_share", "importance_examples", "magnitude", "batch_size", "encoder_lr", "head_lr",
             "weight_decay", "warmup_ratio", "max_grad_norm", "max_length", "arc_dim", "relation_dim")  # fmt: skip
    return {name: getattr(args, name) for name in names}

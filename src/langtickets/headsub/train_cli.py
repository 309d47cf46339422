"""``langtickets headsub-train``: stage 2 of one training framework for every variant, then few-shot
transfer to every target (Choenni et al., sections 4.2-4.6, Tables 1, 4 and 5).

For each run and variant (``full``, ``static``, ``dynamic`` and the baselines of section 8, see
:mod:`langtickets.headsub.use`) the stage-1 model is trained on the fine-tuning languages -- non-episodic
(``--framework nonep``, section 4.2) or first-order MAML (``--framework meta``, Algorithm 1) -- each
language restricted to its subnetwork. Then:

* every fine-tuning language's test split is scored under its own subnetwork (Table 4), and the heads each
  final mask disables are counted (a dynamic mask always disables its 20%);
* the language-pair gradient cosines of the last ``--window`` iterations give Table 5's conflicts;
* every target is few-shot fine-tuned and scored for each few-shot seed (section 4.5), wearing the mask of
  its most similar fine-tuning language (:mod:`langtickets.headsub.similarity`). The examples and the
  adaptation's dropout depend on the target and few-shot seed only, so every model sees the same ones.

Writes ``--json`` (everything, means over runs and seeds) and ``--csv`` (one row per score).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from langtickets.seeding import derive_seed

SCORE_COLUMNS = ("framework", "variant", "run", "fewshot_seed", "target", "mask_lang", "shots_from", "las", "uas")


def _parser() -> argparse.ArgumentParser:
    from langtickets.headsub.data import add_data_arguments, add_recipe_arguments, pair
    from langtickets.headsub.fewshot import FRAMEWORKS
    from langtickets.headsub.use import VARIANTS

    parser = argparse.ArgumentParser(prog="langtickets headsub-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", required=True, choices=FRAMEWORKS)
    parser.add_argument("--variants", nargs="+", required=True, choices=VARIANTS)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--source-model", type=Path, required=True, help="stage-1 task model (headsub-subnetworks)")
    for name in ("heads", "random", "magnitude"):
        parser.add_argument(f"--{name}", type=Path, help=f"{name} subnetworks (headsub-subnetworks)")
    parser.add_argument("--languages", nargs="+", required=True, help="fine-tuning languages (train and test)")
    parser.add_argument("--targets", nargs="+", required=True, help="target languages (test, and dev if any)")
    add_data_arguments(parser)
    parser.add_argument("--similarity", choices=("uriel", "demo"), required=True)
    parser.add_argument("--iso3", type=pair, nargs="*", default=[], metavar="LANG=CODE", help="uriel: ISO 639-3")
    parser.add_argument("--languages-table", type=Path, help="demo: the language table")
    parser.add_argument("--demo-seed", type=int, help="demo: the seed the demo grammars were made with")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--runs", type=int, nargs="+", default=[0], help="training runs (Table 5 averages 4)")
    parser.add_argument("--iterations", type=int, default=1000, help="nonep: stage-2 iterations")
    parser.add_argument("--window", type=int, default=50, help="last iterations/episodes measured for conflicts")
    parser.add_argument("--drop-share", type=float, default=0.2, help="dynamic: share thresholded away per step")
    parser.add_argument("--mask-init", type=float, default=0.01, help="dynamic: initial weight of enabled units")
    parser.add_argument("--fewshot-examples", type=int, default=20)
    parser.add_argument("--fewshot-updates", type=int, default=20)
    parser.add_argument("--fewshot-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    add_recipe_arguments(parser)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--csv", type=Path, required=True)
    return parser


@dataclass
class Context:
    """What every variant's run shares: data, stage-1 model, masks, target choices and settings."""

    args: argparse.Namespace
    saved: Any
    data: dict[str, dict[str, Any]]
    subnetworks: dict[str, Any]
    choices: dict[str, Any]
    recipe: Any
    meta: Any
    fewshot: Any
    device: Any

    @property
    def pad_id(self) -> int:
        return self.saved.tokenizer.pad_token_id

    def score(self, model: Any, use: Any, lang: str | None, split: Any) -> dict[str, float]:
        from langtickets.headsub.fewshot import score

        return score(model, use, lang, split, self.saved.labels, self.pad_id, self.args.eval_batch_size, self.device)


def train_variant(ctx: Context, model: Any, use: Any, seed: int, variant: str) -> dict[str, Any]:
    """Stage 2 of the framework on every fine-tuning language (in place)."""
    from langtickets.headsub.training import train_maml, train_nonepisodic

    features = {lang: ctx.data[lang]["train"].features for lang in ctx.args.languages}
    common = {"seed": seed, "pad_id": ctx.pad_id, "device": ctx.device, "window": ctx.args.window,
              "desc": f"{ctx.args.framework} {variant}"}  # fmt: skip
    if ctx.args.framework == "meta":
        return train_maml(model, features, use, ctx.recipe, ctx.meta, **common)
    return train_nonepisodic(model, features, use, ctx.recipe, ctx.args.iterations, **common)


def few_shot_rows(ctx: Context, model: Any, use: Any, variant: str, run: int) -> list[dict[str, Any]]:
    """Section 4.5 for every target and few-shot seed, each from the same trained state."""
    from langtickets.headsub.fewshot import adapt, split_shots
    from langtickets.headsub.training import restore, snapshot, trainable

    params, masked = trainable(model), variant != "full"
    saved, rows, seed = snapshot(params), [], ctx.args.seed
    for target in ctx.args.targets:
        splits, mask_lang = ctx.data[target], ctx.choices["targets"][target]["choice"] if masked else None
        from_test = "dev" not in splits
        pool = splits["test"] if from_test else splits["dev"]
        for shot_seed in ctx.fewshot.seeds:
            restore(params, saved)
            shots, test = split_shots(pool, splits["test"], ctx.fewshot.examples,
                                      derive_seed(seed, "headsub", "shots", target, shot_seed), from_test)  # fmt: skip
            adapt(model, use, mask_lang, shots, ctx.args.framework, ctx.recipe, ctx.meta, ctx.fewshot.updates,
                  derive_seed(seed, "headsub", "adapt", target, shot_seed), ctx.pad_id, ctx.device)  # fmt: skip
            rows.append({"framework": ctx.args.framework, "variant": variant, "run": run, "fewshot_seed": shot_seed,
                         "target": target, "mask_lang": mask_lang or "", "shots_from": "test" if from_test else "dev",
                         **ctx.score(model, use, mask_lang, test)})  # fmt: skip
    restore(params, saved)
    return rows


def run_variant(ctx: Context, variant: str, run: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train one variant from the stage-1 model, score the fine-tuning languages and few-shot the targets."""
    from langtickets.headsub.masks import disabled_counts
    from langtickets.headsub.use import DynamicSettings, build_use

    seed = derive_seed(ctx.args.seed, "headsub", ctx.args.framework, variant, run)
    model = copy.deepcopy(ctx.saved.model).to(ctx.device)
    dynamic = DynamicSettings(ctx.args.drop_share, ctx.args.mask_init)
    use = build_use(variant, ctx.subnetworks, dynamic, derive_seed(seed, "masks"), ctx.device)
    with use.installed(model):
        training = train_variant(ctx, model, use, seed, variant)
        masks = use.current()
        own = {lang: ctx.score(model, use, lang if masks is not None else None, ctx.data[lang]["test"])
               for lang in ctx.args.languages}  # fmt: skip
        rows = few_shot_rows(ctx, model, use, variant, run)
    counts = disabled_counts(masks, ctx.args.languages) if masks is not None else {}
    for lang, scores in own.items():
        scores.update(counts.get(lang, {"disabled": 0, "total": None}))
    return {"run": run, "seed": seed, "training": training, "train_languages": own,
            "kind": None if masks is None else masks.kind}, rows  # fmt: skip


def _mean(values: Sequence[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 6) if values else None


def summarise_variant(runs: list[dict[str, Any]], rows: list[dict[str, Any]], ctx: Context) -> dict[str, Any]:
    """Means over runs and few-shot seeds: targets (Table 1), own languages (Table 4), conflicts (Table 5)."""
    targets = {}
    for target in ctx.args.targets:
        mine = [r for r in rows if r["target"] == target]
        las = [r["las"] for r in mine]
        targets[target] = {"las": _mean(las), "las_std": round(statistics.pstdev(las), 6), "uas": _mean(
            [r["uas"] for r in mine]), "mask_lang": mine[0]["mask_lang"] or None, "scores": len(mine)}  # fmt: skip
    own = {lang: {key: _mean([run["train_languages"][lang][key] for run in runs]) for key in ("las", "uas", "disabled")}
           for lang in ctx.args.languages}  # fmt: skip
    for lang in own:
        own[lang]["total"] = runs[0]["train_languages"][lang]["total"]
    conflicts = [run["training"]["conflicts"] for run in runs]
    return {
        "kind": runs[0]["kind"], "targets": targets, "train_languages": own,
        "average": {metric: _mean([t[metric] for t in targets.values()]) for metric in ("las", "uas")},
        "conflicts": {"conflict_share": _mean([c["conflict_share"] for c in conflicts]),
                      "mean_cosine": _mean([c["mean_cosine"] for c in conflicts]),
                      "pairs": sum(c["pairs"] for c in conflicts), "window": conflicts[0]["window"]},
        "runs": runs,
    }  # fmt: skip


def build_context(args: argparse.Namespace) -> Context:
    """Read the data (first, so bad input fails fast), the similarity choices, the stage-1 model and masks."""
    from langtickets.headsub.data import by_lang, dataset_specs, featurize_records, read_records, recipes, start_torch
    from langtickets.headsub.fewshot import FewShotSettings
    from langtickets.headsub.masks import LanguageMasks
    from langtickets.headsub.similarity import transfer_choices
    from langtickets.tasks.encoders import load_task_model

    needs = {**{lang: ["train", "test"] for lang in args.languages}, **{t: ["test"] for t in args.targets}}
    specs = dataset_specs(args, needs)
    records = read_records(specs)
    choices = transfer_choices(args.similarity, args.targets, args.languages, iso3=by_lang(args.iso3, "--iso3"),
                               table_path=args.languages_table, seed=args.demo_seed)  # fmt: skip
    device = start_torch(args)
    saved = load_task_model(args.source_model)
    data = featurize_records(records, specs, saved.tokenizer, saved.labels, args.max_length)
    subnetworks = {name: LanguageMasks.load(getattr(args, name)) for name in ("heads", "random", "magnitude")
                   if getattr(args, name) is not None}  # fmt: skip
    recipe, meta = recipes(args)
    fewshot = FewShotSettings(args.fewshot_examples, args.fewshot_updates, tuple(args.fewshot_seeds))
    return Context(args, saved, data, subnetworks, choices, recipe, meta, fewshot, device)


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.analysis.common import Table, write_table
    from langtickets.cli import summary
    from langtickets.io import write_json

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    args.languages, args.targets = list(dict.fromkeys(args.languages)), list(dict.fromkeys(args.targets))
    args.variants = list(dict.fromkeys(args.variants))
    ctx = build_context(args)
    results, rows = {}, []
    for variant in args.variants:
        done = [run_variant(ctx, variant, run) for run in args.runs]
        rows += [row for _, variant_rows in done for row in variant_rows]
        results[variant] = summarise_variant([record for record, _ in done], [r for _, vr in done for r in vr], ctx)
    write_json(args.json, _report(ctx, results))
    write_table(Table(SCORE_COLUMNS, tuple(rows), decimals=6), args.csv)
    averages = ",".join(f"{v}:{results[v]['average']['las']}" for v in args.variants)
    summary("headsub-train", started, framework=args.framework, variants=len(args.variants), las=averages)
    return 0


def _report(ctx: Context, results: Mapping[str, Any]) -> dict[str, Any]:
    args = ctx.args
    return {
        "framework": args.framework, "model": args.model_name, "source": ctx.saved.record.get("source_lang"),
        "languages": args.languages, "targets": args.targets, "variants": args.variants, "runs": args.runs,
        "seed": args.seed, "similarity": ctx.choices, "results": results,
        "fewshot": {"examples": ctx.fewshot.examples, "updates": ctx.fewshot.updates, "seeds": list(ctx.fewshot.seeds)},
        "settings": {"recipe": asdict(ctx.recipe), "meta": asdict(ctx.meta), "iterations": args.iterations,
                     "window": args.window, "drop_share": args.drop_share, "mask_init": args.mask_init,
                     "max_length": args.max_length},
    }  # fmt: skip

"""``langtickets select-tickets``: per-language score files -> one masks.safetensors + a density table.

The selection itself is :func:`langtickets.tickets.select_tickets` (Lee & Hwang, §3.2 and footnote 4).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from langtickets.errors import ConfigError, InputError
from langtickets.masks import TicketShape
from langtickets.model import ArchConfig
from langtickets.tickets import NORMALIZATIONS, Scores, load_scores, select_tickets, write_density


def ticket_ratio(ratio: float | None, base_layers: int | None, scaled_layers: int | None) -> float:
    """r from ``--ratio``, else eta_0 / eta_s (§3.1: r = |m|_0 / dim(m) ~ eta_0 / eta_s)."""
    if ratio is not None:
        return ratio
    if base_layers is None or scaled_layers is None:
        raise ConfigError("give --ratio, or both --base-layers and --scaled-layers to derive r = eta_0 / eta_s")
    return base_layers / scaled_layers


def read_score_files(paths: Sequence[Path], langs: Sequence[str] | None) -> tuple[dict[str, Scores], dict]:
    """Scores per language in ``langs`` order (or file order), plus the metadata they share."""
    by_lang: dict[str, Scores] = {}
    first: dict | None = None
    for path in paths:
        scores, meta = load_scores(path)
        if first is None:
            first = meta
        elif (meta["arch"], meta["method"]) != (first["arch"], first["method"]):
            raise InputError(path, f"scores made with method {meta['method']} for {meta['arch']}, unlike "
                             f"{paths[0]} ({first['method']}, {first['arch']})",
                             "score every language with the same model and method")
        if meta["lang"] in by_lang:
            raise InputError(path, f"a second score file for language '{meta['lang']}'", "pass one file per language")
        by_lang[meta["lang"]] = scores
    if first is None:
        raise ConfigError("select-tickets needs at least one --scores file")
    if langs:
        if sorted(langs) != sorted(by_lang):
            raise ConfigError(f"--langs {list(langs)} do not match the score files' languages {sorted(by_lang)}; "
                              "pass one score file per language")
        by_lang = {lang: by_lang[lang] for lang in langs}
    return by_lang, first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets select-tickets", description=select_tickets.__doc__)
    parser.add_argument("--scores", type=Path, nargs="+", required=True, help="one score file per language")
    parser.add_argument("--langs", nargs="+", help="language order of the mask rows (default: file order)")
    parser.add_argument("--ratio", type=float, help="share r of units kept over all languages")
    parser.add_argument("--base-layers", type=int, help="eta_0 (with --scaled-layers: r = eta_0 / eta_s)")
    parser.add_argument("--scaled-layers", type=int, help="eta_s")
    parser.add_argument("--normalize", choices=NORMALIZATIONS, default="kind", help="per-layer normalisation")
    parser.add_argument("--out", type=Path, required=True, help="masks.safetensors to write")
    parser.add_argument("--density", type=Path, required=True, help="density CSV to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    ratio = ticket_ratio(args.ratio, args.base_layers, args.scaled_layers)
    by_lang, meta = read_score_files(args.scores, args.langs)
    arch = ArchConfig.from_dict(meta["arch"], source=args.scores[0])
    masks = select_tickets(by_lang, ratio, TicketShape.of_arch(arch), normalize=args.normalize,
                           method=meta["method"], arch={"name": meta.get("arch_name", "model"), **arch.to_dict()})
    masks.save(args.out)
    write_density(masks, args.density)
    density = masks.density()
    spread = [density[lang]["all"] for lang in masks.languages]
    summary("select-tickets", started, method=meta["method"], langs=len(masks.languages), ratio=f"{ratio:.4f}",
            density_min=f"{min(spread):.4f}", density_max=f"{max(spread):.4f}")
    return 0

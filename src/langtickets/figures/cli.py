"""``langtickets figure NAME --inputs FILES --pdf OUT.pdf --png OUT.png [--set KEY=VALUE ...]``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from langtickets.errors import ConfigError
from langtickets.figures.base import DPI, FIGURES, Options, figure_spec, save_figure, style


def parse_options(pairs: Sequence[str]) -> Options:
    """``["key=value", ...]`` -> :class:`Options`; a pair without ``=`` is a :class:`ConfigError`."""
    options = Options()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"figure option '{pair}' is not KEY=VALUE")
        options[key] = value
    return options


def draw(name: str, inputs: Sequence[Path], pdf: Path | None, png: Path | None, options: Options, dpi: int = DPI) -> None:
    """Draw the registered figure ``name`` from ``inputs`` and save it (see :mod:`langtickets.figures.base`)."""
    spec = figure_spec(name)
    with style():
        fig = spec.draw(list(inputs), options)
        save_figure(fig, pdf, png, dpi)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets figure", description="Draw one figure as PDF and PNG.")
    parser.add_argument("name", choices=sorted(FIGURES))
    parser.add_argument("--inputs", type=Path, nargs="+", required=True, help="files under results/ it reads")
    parser.add_argument("--pdf", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--dpi", type=int, default=DPI)
    parser.add_argument("--set", dest="options", nargs="*", default=[], metavar="KEY=VALUE", help="figure options")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    if args.pdf is None and args.png is None:
        raise ConfigError("give --pdf and/or --png")
    started = time.perf_counter()
    draw(args.name, args.inputs, args.pdf, args.png, parse_options(args.options), args.dpi)
    summary("figure", started, name=args.name, pdf=args.pdf or "-", png=args.png or "-")
    return 0

"""``langtickets family-tree``: the family-tree table (code, name, family, genus, proto) and its Newick
file for the configured languages, which the figures colour tickets by (multilingual-tickets paper,
section 4.3). Works for any language table, real or demo."""

from __future__ import annotations

from collections.abc import Sequence

from langtickets.demo.cli import main as make_demo_main


def main(argv: Sequence[str] | None = None) -> int:
    return make_demo_main(["family-tree", *(argv or [])])

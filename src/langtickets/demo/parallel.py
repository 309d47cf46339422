"""Parallel sentences and the demo family tree.

Line ``i`` of every language's parallel file renders the same meaning (seeded by the seed alone), which
is what sentence-retrieval analyses need. The family tree lists each selected language with its family,
genus and proto-language id, and writes the tree (family -> genus -> language) in Newick format for the
figures that colour tickets by family (paper, Sec. 4.3: tickets of one family lie close together).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

from langtickets.demo.grammar import Grammar
from langtickets.demo.semantics import Sampler
from langtickets.demo.sentences import Renderer
from langtickets.io import write_text
from langtickets.languages import Language
from langtickets.seeding import derive_seed

TREE_COLUMNS = ("code", "name", "family", "genus", "proto")


def parallel_sentences(grammar: Grammar, seed: int, count: int) -> list[str]:
    """``count`` sentences; sentence ``i`` means the same in every language for the same seed."""
    sampler = Sampler(random.Random(derive_seed(seed, "demo-parallel")))
    renderer = Renderer(grammar)
    return [renderer.render(sampler.statement()).text() for _ in range(count)]


def write_parallel(grammar: Grammar, seed: int, count: int, out: str | Path) -> None:
    """Write :func:`parallel_sentences` one per line."""
    write_text(out, "".join(f"{line}\n" for line in parallel_sentences(grammar, seed, count)))


def proto_id(family: str) -> str:
    """The id of a family's proto-language, e.g. ``proto-aralic``."""
    return "proto-" + re.sub(r"[^0-9a-z]+", "-", family.lower()).strip("-")


def tree_table(rows: Sequence[Language]) -> str:
    """The family-tree TSV: header and one line per language."""
    lines = ["\t".join(TREE_COLUMNS)]
    lines += [f"{row.code}\t{row.name}\t{row.family}\t{row.genus}\t{proto_id(row.family)}" for row in rows]
    return "\n".join(lines) + "\n"


def _label(name: str) -> str:
    # Newick labels with spaces or punctuation must be single-quoted, quotes doubled.
    return name if re.fullmatch(r"[A-Za-z0-9_.-]+", name) else "'" + name.replace("'", "''") + "'"


def newick(rows: Sequence[Language]) -> str:
    """The tree in Newick format: internal nodes named after families and genera, leaves are codes."""
    tree: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        tree.setdefault(row.family, {}).setdefault(row.genus, []).append(row.code)
    families = []
    for family, genera in tree.items():
        subtrees = [f"({','.join(_label(code) for code in codes)}){_label(genus)}" for genus, codes in genera.items()]
        families.append(f"({','.join(subtrees)}){_label(family)}")
    return f"({','.join(families)});\n"


def write_family_tree(rows: Sequence[Language], out: str | Path, newick_out: str | Path) -> None:
    """Write the family-tree TSV and the Newick file."""
    table, tree = tree_table(rows), newick(rows)
    write_text(out, table)
    write_text(newick_out, tree)

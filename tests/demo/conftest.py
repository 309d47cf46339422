"""Shared fixtures for the demo generator tests: the demo language table and grammars built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from langtickets.demo.grammar import Grammar, build_grammar
from langtickets.languages import LanguageTable, load_table

SEED = 1234


@pytest.fixture(scope="session")
def demo_table_path(repo_root: Path) -> Path:
    return repo_root / "config" / "demo-languages.tsv"


@pytest.fixture(scope="session")
def demo_table(demo_table_path: Path) -> LanguageTable:
    return load_table(demo_table_path)


@pytest.fixture(scope="session")
def grammars(demo_table: LanguageTable) -> dict[str, Grammar]:
    """Every demo language's grammar for the test seed."""
    return {code: build_grammar(demo_table, code, SEED) for code in demo_table.codes}

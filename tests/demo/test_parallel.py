"""Parallel sentences line up across languages; the family tree matches the language table."""

from __future__ import annotations

import re
from pathlib import Path

from langtickets.cli import main as cli_main

from .conftest import SEED


def _parallel(table: Path, code: str, out: Path, count: int = 25) -> list[str]:
    argv = ["make-demo", "parallel", "--table", str(table), "--lang", code, "--seed", str(SEED)]
    assert cli_main([*argv, "--sentences", str(count), "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8").splitlines()


def test_parallel_files_align_line_by_line(demo_table_path, tmp_path):
    files = {code: _parallel(demo_table_path, code, tmp_path / f"{code}.txt") for code in ("qaa", "qad", "qae", "qal")}
    assert {len(lines) for lines in files.values()} == {25}
    assert all(line.strip() and line.endswith(".") for lines in files.values() for line in lines)
    # Line i means the same everywhere: its numbers (years) agree; the wording differs.
    numbers = {code: [re.findall(r"\d+", line) for line in lines] for code, lines in files.items()}
    assert numbers["qaa"] == numbers["qad"] == numbers["qae"] == numbers["qal"]
    assert files["qaa"] != files["qad"]


def test_family_tree_table_and_newick(demo_table_path, tmp_path):
    out, nwk = tmp_path / "tree.tsv", tmp_path / "tree.nwk"
    argv = ["make-demo", "family-tree", "--table", str(demo_table_path), "--langs", "qaa", "qac", "qae", "qai"]
    assert cli_main([*argv, "--out", str(out), "--newick", str(nwk)]) == 0
    lines = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == ["code", "name", "family", "genus", "proto"]
    assert lines[1] == ["qaa", "Velmari", "Aralic", "West Aralic", "proto-aralic"]
    assert [line[0] for line in lines[1:]] == ["qaa", "qac", "qae", "qai"]
    assert nwk.read_text() == (
        "(((qaa)'West Aralic',(qac)'East Aralic')Aralic,((qae)'Upper Boreic')Boreic,((qai)'Inner Calinic')Calinic);\n"
    )


def test_family_tree_rejects_unknown_codes(demo_table_path, tmp_path, capsys):
    argv = ["make-demo", "family-tree", "--table", str(demo_table_path), "--langs", "qaa", "xyz"]
    assert cli_main([*argv, "--out", str(tmp_path / "t.tsv"), "--newick", str(tmp_path / "t.nwk")]) == 2
    assert "'xyz'" in capsys.readouterr().err and not (tmp_path / "t.tsv").exists()

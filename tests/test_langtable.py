"""Building the language table from the seed list and Glottolog (langtickets.langtable)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from langtickets import cli
from langtickets.errors import ConfigError, InputError
from langtickets.langtable import Seed, build_language_table, load_glottolog, parse_newick, parse_seeds
from langtickets.languages import load_table

LANGUOIDS = [
    # ID, Name, Level, Family_ID, Language_ID, ISO639P3code
    ("indo1319", "Indo-European", "family", "", "", ""),
    ("clas1257", "Classical Indo-European", "family", "indo1319", "", ""),
    ("germ1287", "Germanic", "family", "indo1319", "", ""),
    ("stan1295", "German", "language", "indo1319", "", "deu"),
    ("norw1258", "Norwegian", "language", "indo1319", "", "nor"),
    ("norw1259", "Norwegian Bokmål", "dialect", "indo1319", "norw1258", "nob"),
    ("basq1248", "Basque", "language", "", "", "eus"),
    ("arti1236", "Artificial Language", "family", "", "", ""),
    ("vola1234", "Volapük", "language", "arti1236", "", "vol"),
    ("ural1272", "Uralic", "family", "", "", ""),
    ("komi1267", "Komi", "family", "ural1272", "", "kom"),
    ("komi1268", "Komi-Zyrian", "language", "ural1272", "", "kpv"),
]
TREES = """#NEXUS
BEGIN TREES;
    tree indo1319 = [&R] (((stan1295:1,norw1258:1)germ1287:1)clas1257:1)indo1319:1;
    tree arti1236 = [&R] (vola1234:1)arti1236:1;
    tree ural1272 = [&R] ((komi1268:1)komi1267:1)ural1272:1;
END;
"""


def seed(code: str, iso: str, glottolog: str = "-", name: str = "Name") -> Seed:
    return Seed(code=code, wiki=code, iso639_3=iso, script="Latn", mbert="no", glottolog=glottolog, name=name)


@pytest.fixture
def mini_glottolog(tmp_path) -> Path:
    folder = tmp_path / "glottolog"
    folder.mkdir()
    with open(folder / "languages.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "Name", "Level", "Family_ID", "Language_ID", "ISO639P3code"])
        writer.writerows(LANGUOIDS)
    (folder / "classification.nex").write_text(TREES, encoding="utf-8")
    return folder


def test_parse_newick_maps_children_to_parents():
    parents = parse_newick("((a:1,b:1)g:1,c:1)root:1")
    assert parents == {"a": "g", "b": "g", "g": "root", "c": "root"}


@pytest.mark.parametrize("text", ["((a,b),c)root", "((a,b)g,c", "(a,b)g)root"])
def test_parse_newick_rejects_unlabelled_or_unbalanced_trees(text):
    with pytest.raises(ValueError):
        parse_newick(text)


def test_family_genus_rules(mini_glottolog, tmp_path):
    seeds = [seed("de", "deu"), seed("no", "nob"), seed("eu", "eus", name="Basque"), seed("vo", "vol"),
             seed("kv", "kpv")]
    rows = build_language_table(mini_glottolog, tmp_path / "out.tsv", seeds)
    got = {row.code: (row.family, row.genus, row.glottocode) for row in rows}
    assert got == {
        "de": ("Indo-European", "Germanic", "stan1295"),  # 'Classical Indo-European' is passed over
        "no": ("Indo-European", "Germanic", "norw1259"),  # a dialect is classified by its language
        "eu": ("Isolate", "Basque", "basq1248"),
        "vo": ("Constructed", "Constructed", "vola1234"),  # directly under its (renamed) family
        "kv": ("Uralic", "Komi", "komi1268"),
    }
    assert [row.code for row in rows] == sorted(got)
    assert [row.code for row in load_table(tmp_path / "out.tsv")] == sorted(got)


def test_glottocode_override_may_name_a_group(mini_glottolog, tmp_path):
    rows = build_language_table(mini_glottolog, tmp_path / "out.tsv", [seed("kv", "kom", glottolog="komi1267")])
    assert (rows[0].family, rows[0].genus, rows[0].glottocode) == ("Uralic", "Uralic", "komi1267")


def test_iso_code_of_a_family_needs_an_override(mini_glottolog, tmp_path):
    with pytest.raises(InputError) as caught:
        build_language_table(mini_glottolog, tmp_path / "out.tsv", [seed("kv", "kom")])
    message = str(caught.value)
    assert "languages.csv" in message and "family 'Komi'" in message and "'glottolog' field" in message
    assert not (tmp_path / "out.tsv").exists()


def test_unknown_iso_code_says_how_to_fix_it(mini_glottolog, tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("previous table\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        build_language_table(mini_glottolog, out, [seed("de", "deu"), seed("xx", "xxx")])
    assert "'xxx'" in str(caught.value) and "SEED_TABLE" in str(caught.value)
    assert out.read_text(encoding="utf-8") == "previous table\n"  # nothing partial replaces the old table


def test_duplicate_seed_code_is_a_config_error(mini_glottolog, tmp_path):
    with pytest.raises(ConfigError, match="appears twice"):
        build_language_table(mini_glottolog, tmp_path / "out.tsv", [seed("de", "deu"), seed("de", "deu")])


def test_missing_glottolog_file_names_it(mini_glottolog):
    (mini_glottolog / "classification.nex").unlink()
    with pytest.raises(InputError, match=r"classification\.nex: not found; pass --glottolog"):
        load_glottolog(mini_glottolog)


def test_bad_newick_names_the_line(mini_glottolog):
    (mini_glottolog / "classification.nex").write_text("tree x = [&R] ((a,b),c)x;\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"classification\.nex:1: tree x is not valid Newick"):
        load_glottolog(mini_glottolog)


def test_seed_table_is_well_formed():
    seeds = parse_seeds()
    codes = [item.code for item in seeds]
    assert len(codes) == len(set(codes)) and codes == sorted(codes)
    assert all(item.mbert in {"yes", "no"} and len(item.iso639_3) == 3 for item in seeds)


def test_command_line_builds_the_real_table_exactly(shared_data, repo_root, tmp_path, capsys):
    glottolog = shared_data / "glottolog"
    if not (glottolog / "languages.csv").is_file():
        pytest.skip(f"{glottolog} has no Glottolog CLDF export")
    out = tmp_path / "languages.tsv"
    assert cli.main(["build-language-table", "--glottolog", str(glottolog), "--out", str(out)]) == 0
    assert out.read_bytes() == (repo_root / "config" / "languages.tsv").read_bytes()
    assert "[build-language-table] done" in capsys.readouterr().err

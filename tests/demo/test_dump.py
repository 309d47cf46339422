"""Generated dumps: MediaWiki export XML, reproducible, every page kind, and extractable by WikiExtractor."""

from __future__ import annotations

import bz2
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from wikiextractor.extract import Extractor

from langtickets.cli import main as cli_main
from langtickets.demo.dump import mediawiki_sha1, write_dump
from langtickets.demo.grammar import build_grammar
from langtickets.errors import ConfigError

from .conftest import SEED

NS = "{http://www.mediawiki.org/xml/export-0.10/}"
DOCS = 40
MARKUP = ("[[", "]]", "{{", "}}", "'''", "''", "<ref", "</", "|", "==", "http", "Category:", "&lt;", "&quot;")


def make_dump(table_path: Path, code: str, out: Path, seed: int = SEED, documents: int = DOCS) -> bytes:
    argv = ["make-demo", "dump", "--table", str(table_path), "--lang", code, "--seed", str(seed)]
    assert cli_main([*argv, "--documents", str(documents), "--out", str(out)]) == 0
    return out.read_bytes()


@pytest.fixture(scope="module")
def dump_file(demo_table_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dump") / "qaawiki-demo-pages-articles.xml.bz2"
    make_dump(demo_table_path, "qaa", path)
    return path


@pytest.fixture(scope="module")
def pages(dump_file: Path) -> list[dict]:
    """Every page as a dict of title, ns, redirect target, text and the revision's recorded fields."""
    root = ET.fromstring(bz2.decompress(dump_file.read_bytes()))
    out = []
    for page in root.iter(f"{NS}page"):
        revision = page.find(f"{NS}revision")
        text = revision.find(f"{NS}text")
        redirect = page.find(f"{NS}redirect")
        out.append({
            "title": page.findtext(f"{NS}title"), "ns": int(page.findtext(f"{NS}ns")),
            "redirect": None if redirect is None else redirect.get("title"), "text": text.text or "",
            "bytes": int(text.get("bytes")), "sha1": revision.findtext(f"{NS}sha1"),
            "timestamp": revision.findtext(f"{NS}timestamp"), "model": revision.findtext(f"{NS}model"),
        })  # fmt: skip
    return out


def test_rerun_is_byte_identical_and_seed_changes_it(demo_table_path, dump_file, tmp_path):
    assert make_dump(demo_table_path, "qaa", tmp_path / "again.xml.bz2") == dump_file.read_bytes()
    assert make_dump(demo_table_path, "qaa", tmp_path / "other.xml.bz2", seed=SEED + 1) != dump_file.read_bytes()


def test_language_alone_equals_language_in_batch(demo_table_path, demo_table, tmp_path):
    # A fresh interpreter generates qab alone; this process generates qaa, qae, qab in a row.
    alone = tmp_path / "alone.xml.bz2"
    command = [sys.executable, "-m", "langtickets", "make-demo", "dump", "--table", str(demo_table_path),
               "--lang", "qab", "--seed", str(SEED), "--documents", "12", "--out", str(alone)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    for code in ("qaa", "qae", "qab"):
        row = demo_table[code]
        write_dump(build_grammar(demo_table, code, SEED), row.wiki, row.name, SEED, 12, tmp_path / f"{code}.xml.bz2")
    assert (tmp_path / "qab.xml.bz2").read_bytes() == alone.read_bytes()


def test_siteinfo_names_the_wiki_and_namespaces(dump_file):
    root = ET.fromstring(bz2.decompress(dump_file.read_bytes()))
    assert root.tag == f"{NS}mediawiki" and root.get("version") == "0.10"
    site = root.find(f"{NS}siteinfo")
    assert site.findtext(f"{NS}dbname") == "qaawiki"
    assert site.findtext(f"{NS}base").startswith("https://qaa.wikipedia.org/wiki/")
    spaces = {ns.get("key"): (ns.text or "") for ns in site.iter(f"{NS}namespace")}
    assert spaces["0"] == "" and spaces["10"] == "Template" and spaces["14"] == "Category"


def test_dump_has_every_page_kind(pages):
    articles = [p for p in pages if p["ns"] == 0 and p["redirect"] is None]
    redirects = [p for p in pages if p["redirect"] is not None]
    assert len([p for p in articles if "{{Disambiguation}}" not in p["text"]]) == DOCS
    assert redirects and all(p["text"] == f"#REDIRECT [[{p['redirect']}]]" for p in redirects)
    assert {p["redirect"] for p in redirects} <= {p["title"] for p in articles}
    assert sum("{{Disambiguation}}" in p["text"] for p in articles) == 1
    assert any(p["ns"] == 10 and p["title"].startswith("Template:Infobox") for p in pages)
    assert any(p["ns"] == 14 for p in pages)
    assert any("{{Stub}}" in p["text"] and len(p["text"]) < 150 for p in articles)
    assert len({p["title"] for p in pages}) == len(pages), "titles must be unique"


def test_articles_carry_real_wikitext_markup(pages):
    text = "\n".join(p["text"] for p in pages if p["ns"] == 0)
    for markup in ("{{Infobox", "'''", "[[", "|", "<ref", "</ref>", "== ", "=== ", "\n* ", "{|", "<!--",
                   "[[Category:", "[https://", "{{Citation needed"):  # fmt: skip
        assert markup in text, markup
    assert any(line.startswith("# ") for line in text.splitlines()), "no numbered list"


def test_revision_fields_match_the_text(pages):
    for page in pages:
        assert page["bytes"] == len(page["text"].encode("utf-8"))
        assert page["sha1"] == mediawiki_sha1(page["text"]) and len(page["sha1"]) == 31
        assert page["model"] == "wikitext" and page["timestamp"].endswith("Z")


def test_wikiextractor_keeps_sentences_and_drops_markup(demo_table):
    from langtickets.demo.dump import plan_document
    from langtickets.demo.wikitext import ArticleWriter

    writer = ArticleWriter(build_grammar(demo_table, "qaa", SEED))
    rng, topic, cast = plan_document(SEED, 0)
    article = writer.article(rng, "Title", topic, cast)
    extractor = Extractor("1", "1", "https://qaa.wikipedia.org/wiki?curid=", "Title", [article.text])
    extracted = "\n".join(extractor.clean_text(article.text))
    assert article.sentences and all(sentence in extracted for sentence in article.sentences)
    for markup in MARKUP:
        assert markup not in extracted, markup


def test_wikiextractor_command_line_reads_the_dump(dump_file, tmp_path):
    out = tmp_path / "extracted"
    command = [sys.executable, "-m", "wikiextractor.WikiExtractor", str(dump_file), "-o", str(out), "--json",
               "--processes", "1", "-q"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    docs = [json.loads(line) for path in sorted(out.rglob("wiki_*")) for line in path.read_text().splitlines()]
    texts = [doc["text"] for doc in docs if doc["text"]]
    assert len(texts) >= DOCS - 2
    for markup in MARKUP:
        assert not any(markup in text for text in texts), markup


def test_unknown_language_is_a_config_error_naming_the_table(demo_table, demo_table_path, tmp_path, capsys):
    with pytest.raises(ConfigError, match="demo-languages.tsv"):
        build_grammar(demo_table, "zzz", SEED)
    argv = ["make-demo", "dump", "--table", str(demo_table_path), "--lang", "zzz", "--seed", "1"]
    assert cli_main([*argv, "--documents", "3", "--out", str(tmp_path / "x.xml.bz2")]) == 2
    assert "add a row for it there" in capsys.readouterr().err
    assert not (tmp_path / "x.xml.bz2").exists()


def test_dump_out_must_be_bz2(demo_table_path, tmp_path, capsys):
    argv = ["make-demo", "dump", "--table", str(demo_table_path), "--lang", "qaa", "--seed", "1"]
    assert cli_main([*argv, "--documents", "3", "--out", str(tmp_path / "x.xml")]) == 2
    assert ".xml.bz2" in capsys.readouterr().err

"""extract: real dumps in several scripts, the demo dump, filtering counts, determinism and bad input."""

from __future__ import annotations

import bz2
import gzip
import json
import unicodedata
from pathlib import Path

import pytest

from langtickets.cli import main as cli_main
from langtickets.corpus import dumpreader
from langtickets.corpus.extract import is_disambiguation, run
from langtickets.errors import InputError
from langtickets.io import read_json

MARKUP = ("[[", "]]", "{{", "}}", "'''", "<ref", "&lt;", "&amp;", "&quot;")
GENSIM_EN = "gensim/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def _docs(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _extract(tmp_path: Path, dump: Path, **options) -> tuple[list[dict], dict]:
    docs, stats = tmp_path / "docs.jsonl.gz", tmp_path / "stats.json"
    run(options.pop("lang", "xx"), dump, docs, stats, **{"processes": 1, "min_chars": 200, **options})
    return _docs(docs), read_json(stats)


def _script_share(text: str, scripts: str) -> float:
    letters = [char for char in text if char.isalpha()]
    names = [unicodedata.name(char, "") for char in letters]
    return sum(any(script in name for script in scripts.split("|")) for name in names) / max(1, len(letters))


@pytest.mark.parametrize(
    ("wiki", "script"),
    [("fo", "LATIN"), ("ru", "CYRILLIC"), ("zh", "CJK"), ("ja", "CJK|HIRAGANA|KATAKANA"), ("ar", "ARABIC"),
     ("hi", "DEVANAGARI"), ("he", "HEBREW"), ("th", "THAI"), ("hy", "ARMENIAN"), ("ka", "GEORGIAN")],
)
def test_real_minidumps_give_clean_text_in_their_script(shared_data, tmp_path, wiki, script):
    dump = shared_data / "wikipedia" / "minidumps" / f"{wiki}wiki-minidump.xml.bz2"
    docs, stats = _extract(tmp_path, dump, lang=wiki)
    assert stats["articles"] == len(docs) >= 1 and stats["lang"] == wiki
    assert stats["siteinfo_dbname"] == "enwiki"  # the header lies about the language; --lang decides
    for doc in docs:
        assert doc["id"].isdigit() and doc["title"] and len(doc["text"]) >= 200
        assert not [mark for mark in MARKUP if mark in doc["text"]], doc["title"]
    assert _script_share(" ".join(doc["text"] for doc in docs), script) > 0.5


@pytest.mark.parametrize(
    ("path", "lang", "articles", "other_namespaces"),
    [("gensim/bgwiki-latest-pages-articles-shortened.utf8.xml.bz2", "bg", 1, 2),
     ("misc/fowiki-macbre-dump.xml.bz2", "fo", 1, 1), ("misc/enwiki-pages-articles-sample.xml.bz2", "en", 2, 0)],
)
def test_other_real_dumps(shared_data, tmp_path, path, lang, articles, other_namespaces):
    docs, stats = _extract(tmp_path, shared_data / "wikipedia" / path, lang=lang, min_chars=100, processes=2)
    assert len(docs) == stats["articles"] == articles
    assert stats["dropped"]["non_article_namespace"] == other_namespaces
    assert not [doc["title"] for doc in docs if any(mark in doc["text"] for mark in MARKUP)]


def test_counts_redirects_disambiguation_and_other_namespaces(shared_data, tmp_path):
    docs, stats = _extract(tmp_path, shared_data / "wikipedia" / GENSIM_EN, lang="en")
    titles = {doc["title"] for doc in docs}
    assert stats["pages"] == 206 and stats["redirects"] == stats["dropped"]["redirect"] == 99
    assert stats["dropped"]["non_article_namespace"] == 1 and stats["dropped"]["disambiguation"] >= 5
    assert stats["articles"] + sum(stats["dropped"].values()) == stats["pages"]
    assert "Anarchism" in titles and "Austin (disambiguation)" not in titles
    assert not any(title.startswith("Wikipedia:") for title in titles)
    assert stats["characters"] == sum(len(doc["text"]) for doc in docs)
    # Ids are the page ids, in dump order (WikiExtractor's revid is never used).
    assert docs[0] == {"id": "12", "title": "Anarchism", "text": docs[0]["text"]}


def test_output_is_identical_for_one_or_two_processes_and_either_decompressor(shared_data, tmp_path, monkeypatch):
    dump = shared_data / "wikipedia" / "minidumps" / "enwiki-minidump.xml.bz2"
    outputs = []
    for processes in (1, 2):
        out = tmp_path / f"p{processes}"
        run("en", dump, out / "docs.jsonl.gz", out / "stats.json", processes=processes)
        outputs.append((out / "docs.jsonl.gz").read_bytes())
    monkeypatch.setattr(dumpreader.shutil, "which", lambda name: None)
    record = run("en", dump, tmp_path / "py" / "docs.jsonl.gz", tmp_path / "py" / "stats.json", processes=2)
    assert record["decompressor"] == "python-bz2"
    outputs.append((tmp_path / "py" / "docs.jsonl.gz").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_demo_dump_from_the_generator(tmp_path, repo_root):
    dump = tmp_path / "qaawiki-demo-pages-articles.xml.bz2"
    table = repo_root / "config" / "demo-languages.tsv"
    assert cli_main(["make-demo", "dump", "--table", str(table), "--lang", "qaa", "--seed", "1",
                     "--documents", "40", "--out", str(dump)]) == 0
    docs, stats = _extract(tmp_path, dump, lang="qaa", processes=2)
    assert stats["redirects"] > 0 and stats["dropped"]["disambiguation"] == 1
    assert stats["dropped"]["non_article_namespace"] > 0 and len(docs) >= 30
    assert not [doc["title"] for doc in docs if any(mark in doc["text"] for mark in MARKUP)]


def test_max_articles_stops_early(shared_data, tmp_path):
    docs, stats = _extract(tmp_path, shared_data / "wikipedia" / GENSIM_EN, max_articles=3, processes=2)
    assert len(docs) == stats["articles"] == 3 and stats["stopped_at_max_articles"]
    assert stats["pages"] < 206


def test_plain_xml_export_is_read_too(shared_data, tmp_path):
    docs, _ = _extract(tmp_path, shared_data / "wikipedia" / "misc" / "pywikibot-article-pear-0.10.xml", min_chars=50)
    assert [doc["title"] for doc in docs] == ["Pear"]


def test_disambiguation_markers():
    assert is_disambiguation("Aberdeen (disambiguation)", "")
    assert is_disambiguation("Berlin", "text\n{{Begriffsklärung}}")
    assert is_disambiguation("Ada", "'''Ada''' may be:\n{{disambig|geo}}")
    assert not is_disambiguation("Ada Lovelace", "She was a mathematician.{{Disambiguation needed|date=May 2020}}")


def _page(title: str, page_id: int, text: str, redirect: bool = False) -> str:
    mark = f'<redirect title="{title}x" />' if redirect else ""
    return (f"<page><title>{title}</title><ns>0</ns><id>{page_id}</id>{mark}<revision><id>1</id>"
            "<timestamp>2020-01-01T00:00:00Z</timestamp>"
            f"<text xml:space=\"preserve\">{text}</text></revision></page>\n")


def _write_dump(path: Path, pages: str, close: bool = True) -> Path:
    xml = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/"><siteinfo><dbname>xxwiki</dbname></siteinfo>\n'
    path.write_bytes(bz2.compress((xml + pages + ("</mediawiki>\n" if close else "")).encode()))
    return path


def _bad_input(tmp_path: Path, dump: Path, *expected: str) -> None:
    docs, stats = tmp_path / "out" / "docs.jsonl.gz", tmp_path / "out" / "stats.json"
    with pytest.raises(InputError) as caught:
        run("xx", dump, docs, stats, processes=2)
    assert str(dump) in str(caught.value) and all(text in str(caught.value) for text in expected)
    assert not docs.exists() and not stats.exists()
    assert not list(tmp_path.glob("out/*"))  # no temporary file left behind either


def test_corrupt_bz2_is_rejected_with_nothing_written(shared_data, tmp_path):
    data = bytearray((shared_data / "wikipedia" / "minidumps" / "enwiki-minidump.xml.bz2").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(byte ^ 0xFF for byte in data[middle : middle + 16])
    (tmp_path / "flipped.xml.bz2").write_bytes(bytes(data))
    _bad_input(tmp_path, tmp_path / "flipped.xml.bz2", "corrupt", "download the dump again")


def test_corrupt_bz2_is_rejected_by_the_python_fallback_too(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(dumpreader.shutil, "which", lambda name: None)
    data = (shared_data / "wikipedia" / "minidumps" / "enwiki-minidump.xml.bz2").read_bytes()
    (tmp_path / "half.xml.bz2").write_bytes(data[: len(data) // 2])
    _bad_input(tmp_path, tmp_path / "half.xml.bz2", "corrupt or truncated")


def test_bz2_cut_in_half_is_rejected(shared_data, tmp_path):
    data = (shared_data / "wikipedia" / "minidumps" / "enwiki-minidump.xml.bz2").read_bytes()
    (tmp_path / "half.xml.bz2").write_bytes(data[: len(data) // 2])
    _bad_input(tmp_path, tmp_path / "half.xml.bz2", "truncated")


def test_xml_cut_in_half_is_rejected(shared_data, tmp_path):
    xml = bz2.decompress((shared_data / "wikipedia" / "minidumps" / "enwiki-minidump.xml.bz2").read_bytes())
    (tmp_path / "cut.xml.bz2").write_bytes(bz2.compress(xml[: len(xml) // 2]))
    _bad_input(tmp_path, tmp_path / "cut.xml.bz2", "truncated dump")


def test_html_error_page_saved_as_dump_is_rejected(tmp_path):
    page = tmp_path / "xxwiki-latest-pages-articles.xml.bz2"
    page.write_text("<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head></html>\n")
    _bad_input(tmp_path, page, "HTML page")


def test_utf16_dump_gets_a_conversion_hint(shared_data, tmp_path):
    dump = shared_data / "wikipedia" / "gensim" / "bgwiki-latest-pages-articles-shortened.xml.bz2"
    _bad_input(tmp_path, dump, "UTF-16", "iconv")


def test_dump_without_articles_is_an_error(tmp_path):
    pages = _page("A", 1, "#REDIRECT [[B]]", redirect=True) + _page("C", 2, "#redirect [[D]]") + _page("E", 3, "")
    _bad_input(tmp_path, _write_dump(tmp_path / "redirects.xml.bz2", pages), "no articles", "2 redirect", "1 empty")


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    dump = _write_dump(tmp_path / "open.xml.bz2", _page("A", 1, "x" * 300), close=False)
    code = cli_main(["extract", "--lang", "xx", "--dump", str(dump), "--docs", str(tmp_path / "d.jsonl.gz"),
                     "--stats", str(tmp_path / "s.json"), "--processes", "1"])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and message.startswith("error: ") and "truncated" in message


def test_cli_writes_docs_and_stats(tmp_path, capsys):
    dump = _write_dump(tmp_path / "ok.xml.bz2", _page("A &amp; B", 7, "'''A''' is a [[b|letter]]. " * 20))
    code = cli_main(["extract", "--lang", "xx", "--dump", str(dump), "--docs", str(tmp_path / "d.jsonl.gz"),
                     "--stats", str(tmp_path / "s.json"), "--processes", "2", "--min-chars", "10"])
    assert code == 0 and "[extract] done" in capsys.readouterr().err
    (doc,) = _docs(tmp_path / "d.jsonl.gz")
    assert doc["id"] == "7" and doc["title"] == "A & B" and doc["text"].startswith("A is a letter. A is a letter.")

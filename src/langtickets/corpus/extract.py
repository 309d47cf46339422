"""Extract the articles of a Wikipedia dump into ``docs.jsonl.gz`` with WikiExtractor's cleaner.

Multilingual Lottery Tickets, Section 4.1: "We extract Wikipedia articles using WikiExtractor." Pages are
read from the dump by :mod:`langtickets.corpus.dumpreader` (decompression in its own process), cut into
batches, and cleaned in worker processes with WikiExtractor's own ``clean``/``compact`` and its command-line
defaults. As in WikiExtractor's command line without a template file, templates are expanded with no
template definitions (parser functions evaluate, unknown templates vanish); the time-dependent magic words
(CURRENTYEAR, ...) are set from the page revision's timestamp instead of the clock, so reruns are
byte-identical. Results are collected in dump order: the output is the same whatever the process count.

Kept: namespace-0 pages that are not redirects or disambiguation pages and whose cleaned text has at least
``min_chars`` characters. Every other page is counted under its reason in ``stats.json``. Ids are the
page ``<id>`` (WikiExtractor's ``revid`` field is not used: it can hold a contributor id).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from langtickets.cli import summary
from langtickets.corpus.dumpreader import REDOWNLOAD, DumpStream, iter_pages
from langtickets.corpus.pool import ordered_map, worker_pool
from langtickets.errors import InputError
from langtickets.io import atomic_gzip_text, write_json

#: drop reasons, in the order stats.json lists them
REASONS = ("redirect", "disambiguation", "non_article_namespace", "too_short", "empty", "extractor_error")
BATCH_BYTES = 1 << 18
#: Disambiguation templates of large wikis. The page itself only calls the template; the __DISAMBIG__
#: switch inside the template's definition stays invisible, as no definitions are loaded.
DISAMBIGUATION_NAMES = (
    "disambiguation", "disambig", "disamb", "dab", "hndis", "geodis", "begriffsklärung",
    "homonymie", "desambiguación", "desambiguacion", "desambiguação", "disambigua", "doorverwijspagina",
    "неоднозначность", "многозначность", "значения", "ujednoznacznienie", "täsmennyssivu",
    "förgrening", "flertydig", "pagina de dezambiguizare", "rozcestník", "egyért", "anlam ayrımı",
    "消歧義", "消歧义", "曖昧さ回避", "동음이의", "توضيح", "ابهام‌زدایی", "פירושונים", "बहुविकल्पी",
    "แก้ความกำกวม", "неоднозначність", "αποσαφήνιση",
)
_DISAMBIGUATION_ALTERNATIVES = "|".join(map(re.escape, DISAMBIGUATION_NAMES))
DISAMBIGUATION_RE = re.compile(
    r"__DISAMBIG__|\{\{\s*(?:template\s*:\s*)?(?:" + _DISAMBIGUATION_ALTERNATIVES + r")\s*(?:\||\}\})", re.IGNORECASE
)
DISAMBIGUATION_TITLE_RE = re.compile(r"\((?:" + _DISAMBIGUATION_ALTERNATIVES + r")\)\s*$", re.IGNORECASE)
REDIRECT_TEXT_RE = re.compile(r"\s*#redirect", re.IGNORECASE)

#: one page's outcome: (drop reason or "" if kept, page id, title, text)
PageResult = tuple[str, str, str, str]


@dataclass(frozen=True)
class ExtractOptions:
    """What the workers need to classify and clean a page."""

    min_chars: int = 200
    namespaces: dict[str, int] = field(default_factory=dict)


@dataclass
class ExtractStats:
    """Counters of one extraction, written to ``stats.json``."""

    pages: int = 0
    articles: int = 0
    characters: int = 0
    page_bytes: int = 0
    dropped: Counter = field(default_factory=Counter)
    extractor_errors: list[str] = field(default_factory=list)

    def add(self, result: PageResult, size: int) -> None:
        reason, _, title, text = result
        self.pages += 1
        self.page_bytes += size
        if reason:
            self.dropped[reason] += 1
            if reason == "extractor_error" and len(self.extractor_errors) < 20:
                self.extractor_errors.append(title)
        else:
            self.articles += 1
            self.characters += len(text)


def is_disambiguation(title: str, wikitext: str) -> bool:
    """A disambiguation page, judged from its title and the templates it calls (see DISAMBIGUATION_NAMES)."""
    return bool(DISAMBIGUATION_TITLE_RE.search(title) or DISAMBIGUATION_RE.search(wikitext))


@functools.lru_cache(maxsize=1)
def _link_tag_patterns():
    from wikiextractor.extract import ignoreTag

    return ignoreTag("a")


def _set_magic_words(extractor, title: str, timestamp: str) -> None:
    # What Extractor.clean_text sets from the clock, taken from the revision instead (reproducible).
    date, _, clock = timestamp.rstrip("Z").partition("T")
    year, month, day = (date.split("-") + ["", "", ""])[:3]
    words = extractor.magicWords
    words["namespace"] = title[: max(0, title.find(":"))]
    words["pagename"] = words["fullpagename"] = title
    words["currentyear"], words["currentmonth"], words["currentday"] = year, month, day
    words["currenthour"], words["currenttime"] = clock[:2], clock


def article_text(page_id: str, title: str, wikitext: str, timestamp: str = "") -> str:
    """Plain text of one article: WikiExtractor's cleaner with its command-line defaults, one paragraph a line.

    Section titles are kept as their own lines (WikiExtractor's default), links become their anchor text,
    templates are expanded without definitions, tables dropped, and HTML entities decoded (not re-escaped).
    ``timestamp`` (the revision's, ISO 8601) fixes the date magic words.
    """
    from wikiextractor.extract import Extractor, clean, compact

    extractor = Extractor(page_id, "", "", title, [])
    extractor.ignored_tag_patterns.append(_link_tag_patterns())
    _set_magic_words(extractor, title, timestamp)
    text = clean(extractor, wikitext, expand_templates=True, html_safe=False)
    lines = compact(text, mark_headers=False, extractor=extractor)
    return "\n".join(line.strip() for line in lines if line.strip())


def _namespace(page: ElementTree.Element, title: str, options: ExtractOptions) -> int:
    text = page.findtext("ns")
    if text is not None and text.strip().lstrip("-").isdigit():
        return int(text)
    prefix, colon, _ = title.partition(":")  # exports older than 0.5 carry no <ns>
    return options.namespaces.get(prefix, 0) if colon else 0


def classify_page(raw: bytes, options: ExtractOptions) -> PageResult:
    """Parse one ``<page>`` element and either keep its article text or name why it is dropped."""
    page = ElementTree.fromstring(raw)
    title = (page.findtext("title") or "").strip()
    page_id = (page.findtext("id") or "").strip()
    revisions = page.findall("revision")
    revision = revisions[-1] if revisions else ElementTree.Element("revision")
    wikitext = revision.findtext("text") or ""
    if _namespace(page, title, options) != 0:
        return ("non_article_namespace", page_id, title, "")
    if page.find("redirect") is not None or REDIRECT_TEXT_RE.match(wikitext):
        return ("redirect", page_id, title, "")
    if is_disambiguation(title, wikitext):
        return ("disambiguation", page_id, title, "")
    try:
        text = article_text(page_id, title, wikitext, (revision.findtext("timestamp") or "").strip())
    except Exception:  # one pathological page must not stop a whole wiki (WikiExtractor skips it too)
        return ("extractor_error", page_id, title, "")
    if not text:
        return ("empty", page_id, title, "")
    if len(text) < options.min_chars:
        return ("too_short", page_id, title, "")
    return ("", page_id, title, text)


def extract_batch(options: ExtractOptions, batch: list[bytes]) -> list[PageResult] | str:
    """Classify a batch of pages in a worker; a malformed page returns an error message instead."""
    results = []
    for index, raw in enumerate(batch):
        try:
            results.append(classify_page(raw, options))
        except ElementTree.ParseError as error:
            return f"malformed XML in page {index + 1} of a batch ({error}) starting {raw[:80]!r}"
    return results


def batches(pages: Iterable[bytes], batch_bytes: int = BATCH_BYTES) -> Iterator[list[bytes]]:
    """Group raw pages into batches of about ``batch_bytes`` (a unit of work for one worker)."""
    batch, size = [], 0
    for page in pages:
        batch.append(page)
        size += len(page)
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _warm_up() -> None:
    # Import WikiExtractor and fill the regex cache once, in the parent, for the forked workers.
    article_text("0", "warm-up", "'''x''' [[y|z]] {{t|a=1}} <ref>r</ref>\n== h ==\nw")


def extract_dump(dump: Path, out, options: ExtractOptions, *, processes: int = 2,
                 max_articles: int = 0) -> tuple[ExtractStats, dict]:
    """Write one JSON line (id, title, text) per kept article of ``dump`` to the text stream ``out``.

    Returns the counters and facts about the run (decompressor, siteinfo database name). Stops after
    ``max_articles`` kept articles (0 = no limit); pages after the last kept one are not counted then.
    """
    stats = ExtractStats()
    # The pool starts before the decompressor, so workers do not inherit its pipe.
    with worker_pool(processes, _warm_up) as pool, DumpStream(dump, threads=processes) as stream:
        info, pages = iter_pages(stream)
        facts = {"decompressor": stream.decompressor, "siteinfo_dbname": info.dbname}
        work = functools.partial(extract_batch, dataclasses.replace(options, namespaces=info.namespaces))
        with tqdm(unit="page", desc=f"extract {dump.name}", file=sys.stderr, mininterval=5) as progress:
            for batch, results in ordered_map(pool, work, batches(pages), processes):
                if isinstance(results, str):
                    raise InputError(dump, results, REDOWNLOAD)
                if _write_results(out, batch, results, stats, max_articles):
                    facts["stopped_at_max_articles"] = True
                    break
                progress.update(len(batch))
    facts.setdefault("stopped_at_max_articles", False)
    return stats, facts


def _write_results(out, batch: list[bytes], results: list[PageResult], stats: ExtractStats,
                   max_articles: int) -> bool:
    """Record a batch; return True once ``max_articles`` articles have been written."""
    for raw, result in zip(batch, results):
        stats.add(result, len(raw))
        reason, page_id, title, text = result
        if not reason:
            out.write(json.dumps({"id": page_id, "title": title, "text": text}, ensure_ascii=False) + "\n")
            if max_articles and stats.articles >= max_articles:
                return True
    return False


def stats_record(lang: str, dump: Path, stats: ExtractStats, facts: dict, options: ExtractOptions,
                 max_articles: int, processes: int) -> dict:
    """The content of ``stats.json`` (no timings: equal inputs give byte-identical stats; speed goes to the log)."""
    return {
        "lang": lang,
        "dump": str(dump),
        "dump_bytes": dump.stat().st_size,
        "page_bytes": stats.page_bytes,
        "pages": stats.pages,
        "articles": stats.articles,
        "redirects": stats.dropped["redirect"],
        "dropped": {reason: stats.dropped[reason] for reason in REASONS},
        "extractor_error_titles": stats.extractor_errors,
        "characters": stats.characters,
        "min_chars": options.min_chars,
        "max_articles": max_articles,
        "processes": processes,
        **facts,
    }


def _no_articles(dump: Path, stats: ExtractStats) -> InputError:
    counts = ", ".join(f"{count} {reason}" for reason, count in sorted(stats.dropped.items()))
    return InputError(dump, f"no articles: {stats.pages} pages, all dropped ({counts or 'none'})",
                      "give a pages-articles dump of a real wiki, or lower corpus.min_article_chars")


def run(lang: str, dump: Path, docs: Path, stats_path: Path, *, processes: int = 2, min_chars: int = 200,
        max_articles: int = 0) -> dict:
    """Extract ``dump`` into ``docs`` and ``stats_path`` atomically; return the stats record."""
    options = ExtractOptions(min_chars=min_chars)
    with atomic_gzip_text(docs) as out:
        stats, facts = extract_dump(dump, out, options, processes=processes, max_articles=max_articles)
        if stats.articles == 0:
            raise _no_articles(dump, stats)
    record = stats_record(lang, dump, stats, facts, options, max_articles, processes)
    write_json(stats_path, record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", required=True, help="language code (the dump's own siteinfo is not trusted)")
    parser.add_argument("--dump", type=Path, required=True, help="*-pages-articles.xml.bz2 (or .xml)")
    parser.add_argument("--docs", type=Path, required=True, help="output docs.jsonl.gz")
    parser.add_argument("--stats", type=Path, required=True, help="output stats.json")
    parser.add_argument("--processes", type=int, default=2, help="extraction worker processes")
    parser.add_argument("--min-chars", type=int, default=200, help="drop articles with less cleaned text")
    parser.add_argument("--max-articles", type=int, default=0, help="stop after this many articles (0 = all)")
    args = parser.parse_args(argv)
    if args.processes < 1 or args.min_chars < 0 or args.max_articles < 0:
        parser.error("--processes must be >= 1, --min-chars and --max-articles >= 0")
    started = time.perf_counter()
    record = run(args.lang, args.dump, args.docs, args.stats, processes=args.processes,
                 min_chars=args.min_chars, max_articles=args.max_articles)
    summary("extract", started, lang=args.lang, pages=record["pages"], articles=record["articles"],
            redirects=record["redirects"],
            mb_per_s=round(record["page_bytes"] / 1e6 / max(time.perf_counter() - started, 1e-9), 3))
    return 0

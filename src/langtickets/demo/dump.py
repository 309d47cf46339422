"""Generated Wikipedia dumps in the MediaWiki XML export format (schema 0.10), written as bz2.

The file looks like a real ``{wiki}wiki-...-pages-articles.xml.bz2``: a ``<siteinfo>`` header with the
namespaces, then ``<page>`` elements (title, ns, id, optional ``<redirect>``, one ``<revision>`` with id,
parentid, timestamp, contributor, model, format, ``<text bytes=... xml:space="preserve">`` and the
base-36 SHA-1 MediaWiki computes). Besides the articles there are Template: and Category: pages, redirect
pages, a stub and a disambiguation page, so extraction has real filtering to do (paper, Sec. 4.1:
articles are extracted with WikiExtractor). Document ``i`` is about the same topic in every language and
does not depend on how many documents are asked for; timestamps and ids come from the seed, so a rerun
gives a byte-identical file. Pages are written one by one to the compressor, so any size streams.
"""

from __future__ import annotations

import bz2
import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from tqdm import tqdm

from langtickets.demo.grammar import Grammar
from langtickets.demo.semantics import Nominal, Sampler
from langtickets.demo.wikitext import DISAMBIGUATION_NOUN, ArticleWriter
from langtickets.io import atomic_path
from langtickets.seeding import derive_seed

EXPORT_NS = "http://www.mediawiki.org/xml/export-0.10/"
NAMESPACES = ((-2, "Media"), (-1, "Special"), (0, ""), (1, "Talk"), (2, "User"), (3, "User talk"),
              (4, "Wikipedia"), (5, "Wikipedia talk"), (6, "File"), (7, "File talk"), (8, "MediaWiki"),
              (9, "MediaWiki talk"), (10, "Template"), (11, "Template talk"), (12, "Help"), (13, "Help talk"),
              (14, "Category"), (15, "Category talk"), (828, "Module"), (829, "Module talk"))  # fmt: skip
#: Template: pages the articles call (bodies are tables or tags an extractor drops, as on real wikis)
TEMPLATES = {
    "Infobox person": '{| class="infobox vcard"\n|+ {{{name|}}}\n|-\n! Born\n| {{{birth_date|}}}\n|-\n'
    "! Occupation\n| {{{occupation|}}}\n|}<noinclude>\n[[Category:Infobox templates]]\n</noinclude>",
    "Infobox settlement": '{| class="infobox geography"\n|+ {{{name|}}}\n|-\n! Population\n| {{{population|}}}\n'
    "|}<noinclude>\n[[Category:Infobox templates]]\n</noinclude>",
    "Infobox organization": '{| class="infobox vcard"\n|+ {{{name|}}}\n|-\n! Founded\n| {{{founded|}}}\n|}',
    "Reflist": '<div class="reflist">\n<references />\n</div><noinclude>Shows the references.</noinclude>',
    "Citation needed": "<sup>[[Wikipedia:Citation needed|<span title=\"{{{date|}}}\">?</span>]]</sup>",
    "Stub": '{| class="metadata plainlinks stub"\n| [[File:Stub.svg|30px]]\n|}',
    "Disambiguation": '{| class="metadata plainlinks dmbox"\n| [[File:Disambig.svg|30px]]\n|}',
    "Main": '<div role="note" class="hatnote">[[{{{1}}}]]</div>',
    "Cite web": "<cite>[{{{url}}} {{{title}}}] ({{{year|}}})</cite>",
    "Birth date": "{{{1}}}-{{{2}}}-{{{3}}}",
}
KINDS = ("person", "place", "org", "noun")
EPOCH = 1420070400  # 2015-01-01T00:00:00Z: revisions are dated after it, from the seed
REDIRECT_RATE = 0.08
_QUOTE = {'"': "&quot;"}  # MediaWiki escapes double quotes in page text too
STUB_RATE = 0.02


@dataclass
class DumpStats:
    """Counts of what a dump holds, by page kind."""

    pages: Counter = field(default_factory=Counter)
    sentences: int = 0
    text_bytes: int = 0


@dataclass(frozen=True)
class Page:
    title: str
    ns: int
    text: str
    redirect: str | None = None


def mediawiki_sha1(text: str) -> str:
    """The revision checksum of MediaWiki dumps: SHA-1 of the UTF-8 text in base 36, 31 digits."""
    number = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest(), "big")
    digits = []
    while number:
        number, remainder = divmod(number, 36)
        digits.append("0123456789abcdefghijklmnopqrstuvwxyz"[remainder])
    return "".join(reversed(digits)).rjust(31, "0")


def siteinfo(wiki: str, language_name: str) -> str:
    """The ``<mediawiki>`` opening tag and ``<siteinfo>`` block."""
    spaces = "\n".join(
        f'      <namespace key="{key}" case="first-letter">{escape(name)}</namespace>'
        if name
        else f'      <namespace key="{key}" case="first-letter" />'
        for key, name in NAMESPACES
    )
    return (
        f'<mediawiki xmlns="{EXPORT_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{EXPORT_NS} http://www.mediawiki.org/xml/export-0.10.xsd" version="0.10" '
        f'xml:lang="{wiki}">\n  <siteinfo>\n    <sitename>Wikipedia</sitename>\n'
        f"    <dbname>{wiki}wiki</dbname>\n    <base>https://{wiki}.wikipedia.org/wiki/"
        f"{escape(language_name.replace(' ', '_'))}</base>\n    <generator>MediaWiki 1.41.0-wmf.1</generator>\n"
        f"    <case>first-letter</case>\n    <namespaces>\n{spaces}\n    </namespaces>\n  </siteinfo>\n"
    )


def page_xml(page: Page, page_id: int, rng: random.Random, user: str) -> str:
    """One ``<page>`` element; revision ids and timestamps come from ``rng``."""
    revision = page_id * 17 + rng.randrange(17)
    stamp = datetime.fromtimestamp(EPOCH + rng.randrange(8 * 365 * 86400), tz=timezone.utc)
    redirect = f"    <redirect title={quoteattr(page.redirect)} />\n" if page.redirect else ""
    minor = "      <minor />\n" if rng.random() < 0.2 else ""
    return (
        f"  <page>\n    <title>{escape(page.title)}</title>\n    <ns>{page.ns}</ns>\n    <id>{page_id}</id>\n"
        f"{redirect}    <revision>\n      <id>{revision}</id>\n      <parentid>{revision - rng.randint(1, 9)}"
        f"</parentid>\n      <timestamp>{stamp:%Y-%m-%dT%H:%M:%SZ}</timestamp>\n      <contributor>\n"
        f"        <username>{escape(user)}</username>\n        <id>{rng.randint(1, 99999)}</id>\n"
        f"      </contributor>\n{minor}      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
        f'      <text bytes="{len(page.text.encode("utf-8"))}" xml:space="preserve">'
        f"{escape(page.text, _QUOTE)}</text>\n"
        f"      <sha1>{mediawiki_sha1(page.text)}</sha1>\n    </revision>\n  </page>\n"
    )


def plan_document(seed: int, index: int) -> tuple[random.Random, Nominal, tuple[Nominal, ...]]:
    """Document ``index``'s random stream, topic and cast (the same in every language)."""
    rng = random.Random(derive_seed(seed, "demo-doc", index))
    kind = rng.choices(KINDS, weights=(4, 2, 2, 2))[0]
    if kind == "person":
        topic = Nominal("person", (rng.randrange(96), rng.randrange(120)))
    elif kind == "place":
        topic = Nominal("place", (rng.randrange(160),))
    elif kind == "org":
        topic = Nominal("org", (rng.randrange(64), rng.randrange(12)))
    else:
        topic = Nominal("noun", (rng.randrange(320),), definite=True)
    sampler = Sampler(rng)
    cast = tuple(rng.choice((sampler.person, sampler.place, sampler.org))() for _ in range(rng.randint(2, 6)))
    return rng, topic, tuple(dict.fromkeys(member for member in cast if member != topic))


class DumpBuilder:
    """Generates the pages of one language's dump, keeping titles unique."""

    def __init__(self, grammar: Grammar, seed: int):
        self.writer = ArticleWriter(grammar)
        self.g = grammar
        self.seed = seed
        self.titles: set[str] = set()
        self.by_base: dict[str, list[str]] = {}

    def unique_title(self, topic: Nominal) -> str:
        """The topic's name, or 'name (qualifier)' when an earlier article took it (as on Wikipedia)."""
        base = self.writer.name(topic)
        title, qualifier, number = base, self.writer.heading_word(10 + KINDS.index(topic.kind)), 1
        while title in self.titles:
            number += 1
            title = f"{base} ({qualifier})" if number == 2 else f"{base} ({qualifier} {number - 1})"
        self.titles.add(title)
        self.by_base.setdefault(base, []).append(title)
        return title

    def redirect_title(self, topic: Nominal) -> str:
        """An alternative name that redirects to the article: surname, organisation stem or plural."""
        g = self.g
        if topic.kind == "person":
            return g.lemma("surname", topic.ids[1])
        if topic.kind == "org":
            return g.lemma("orgname", topic.ids[0])
        if topic.kind == "place":
            return f"{g.lemma('place', topic.ids[0])} {self.writer.heading_word(11)}"
        plural = g.word("noun", topic.ids[0], ("PLUR",))
        return plural[:1].upper() + plural[1:]

    def documents(self, count: int, stats: DumpStats) -> Iterator[tuple[Page, random.Random]]:
        """Articles and redirects for documents 0 .. count-1 (document 0 always gets a redirect, 1 is a stub)."""
        for index in range(count):
            rng, topic, cast = plan_document(self.seed, index)
            title = self.unique_title(topic)
            stub = index == 1 or rng.random() < STUB_RATE
            article = self.writer.stub(rng, title, topic) if stub else self.writer.article(rng, title, topic, cast)
            stats.pages["stub" if stub else "article"] += 1
            stats.sentences += len(article.sentences)
            yield Page(title, 0, article.text), rng
            if index == 0 or rng.random() < REDIRECT_RATE:
                alias = self.redirect_title(topic)
                if alias not in self.titles:
                    self.titles.add(alias)
                    stats.pages["redirect"] += 1
                    yield Page(alias, 0, f"#REDIRECT [[{title}]]", redirect=title), rng

    def disambiguation(self) -> Page:
        """A disambiguation page for the most shared base title."""
        base, titles = max(self.by_base.items(), key=lambda item: (len(item[1]), item[0]))
        word = self.writer.heading_word(DISAMBIGUATION_NOUN)
        title = f"{base} ({word})"
        lines = "\n".join(f"* [[{target}]]" for target in titles)
        return Page(title, 0, f"'''{base}'''\n\n{lines}\n\n{{{{Disambiguation}}}}")

    def support_pages(self) -> list[Page]:
        """Template: and Category: namespace pages."""
        pages = [Page(f"Template:{name}", 10, body) for name, body in TEMPLATES.items()]
        for offset in range(len(KINDS)):
            name = self.writer.heading_word(10 + offset)
            pages.append(Page(f"Category:{name}", 14, f"[[Category:{self.writer.heading_word(9)}]]"))
        return pages


def write_dump(grammar: Grammar, wiki: str, name: str, seed: int, documents: int, out: str | Path) -> DumpStats:
    """Write a bz2-compressed MediaWiki XML dump with ``documents`` articles (plus other pages) to ``out``."""
    builder = DumpBuilder(grammar, seed)
    stats = DumpStats()
    meta = random.Random(derive_seed(seed, "demo-dump-meta", grammar.code))
    users = [f"{grammar.lemma('given', rank)}{rank}" for rank in range(8)]
    with atomic_path(out) as tmp, bz2.open(tmp, "wb", compresslevel=9) as handle:
        handle.write(siteinfo(wiki, name).encode("utf-8"))
        page_id = 0
        for page in builder.support_pages():
            page_id += 1
            handle.write(page_xml(page, page_id, meta, meta.choice(users)).encode("utf-8"))
            stats.pages["template" if page.ns == 10 else "category"] += 1
        buffer: list[str] = []
        for page, rng in tqdm(builder.documents(documents, stats), desc=f"dump {grammar.code}", unit="page",
                              mininterval=1.0):  # fmt: skip
            page_id += 1
            buffer.append(page_xml(page, page_id, rng, rng.choice(users)))
            if len(buffer) >= 64:
                handle.write("".join(buffer).encode("utf-8"))
                buffer.clear()
        buffer.append(page_xml(builder.disambiguation(), page_id + 1, meta, meta.choice(users)))
        stats.pages["disambiguation"] += 1
        handle.write(("".join(buffer) + "</mediawiki>\n").encode("utf-8"))
        stats.text_bytes = handle.tell()
    return stats

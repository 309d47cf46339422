"""Wikitext articles about generated topics, with the markup real Wikipedia pages carry.

An article is paragraphs of generated sentences about its topic (the topic is the agent of the lead
sentence and of many later ones), wrapped in the markup an extractor has to undo: an infobox template,
bold title, internal links ``[[Target]]`` / ``[[Target|label]]``, italics, headings, ``<ref>`` citations
with external links, inline templates, bulleted and numbered lists, a table, HTML comments and category
links. All markup decisions come from the article's random stream, never from the clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from langtickets.demo.grammar import Grammar
from langtickets.demo.semantics import Date, Event, Nominal, Sampler, Statement
from langtickets.demo.sentences import NO_SPACE_BEFORE, Rendered, Renderer, detokenize

#: noun ranks whose words serve as fixed section titles (like "References", "See also")
REFERENCES_NOUN, SEE_ALSO_NOUN, LINKS_NOUN, DISAMBIGUATION_NOUN = 1, 2, 3, 5
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")  # fmt: skip


@dataclass
class Article:
    """An article's wikitext, its plain sentences (what extraction should recover) and related titles."""

    title: str
    text: str
    sentences: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


class ArticleWriter:
    """Writes articles in one language."""

    def __init__(self, grammar: Grammar):
        self.g = grammar
        self.renderer = Renderer(grammar)

    def name(self, nominal: Nominal) -> str:
        """The citation form of an entity (its article title)."""
        g, ids = self.g, nominal.ids
        if nominal.kind == "person":
            return f"{g.lemma('given', ids[0])} {g.lemma('surname', ids[1])}"
        if nominal.kind == "place":
            return g.lemma("place", ids[0])
        if nominal.kind == "org":
            return f"{g.lemma('orgname', ids[0])} {g.lemma('orgtype', ids[1])}"
        lemma = g.lemma(nominal.kind, ids[0])
        return lemma[:1].upper() + lemma[1:]

    def heading_word(self, rank: int) -> str:
        word = self.g.lemma("noun", rank)
        return word[:1].upper() + word[1:]

    # --- sentences ------------------------------------------------------------------------------

    def wikify(self, rendered: Rendered, rng: random.Random, linked: set[str], bold: Nominal | None) -> str:
        """The sentence with links on entity mentions, bold on the topic's first mention, some italics."""
        tokens, where = rendered.tokens()
        pieces = self._entity_markup(rendered, rng, linked, bold)
        bold_lemma = self.name(bold).lower() if bold is not None and bold.kind == "noun" else None
        for index, word in enumerate(rendered.words):
            token = where[index]
            if token in pieces or tokens[token] != word.form:  # already marked, or inside a contraction
                continue
            if word.upos == "NOUN" and word.lemma == bold_lemma:
                pieces[token] = (token + 1, f"'''{word.form}'''")
                bold_lemma = None
            elif word.upos == "ADJ" and rng.random() < 0.08:
                pieces[token] = (token + 1, f"''{word.form}''")
            elif word.upos == "NOUN" and rng.random() < 0.04:
                target = word.lemma[:1].upper() + word.lemma[1:]
                pieces[token] = (token + 1, f"[[{target}|{word.form}]]")
        return _join(tokens, pieces)

    def _entity_markup(
        self, rendered: Rendered, rng: random.Random, linked: set[str], bold: Nominal | None
    ) -> dict[int, tuple[int, str]]:
        """Markup over entity spans: first token -> (last token + 1, wikitext)."""
        tokens, where = rendered.tokens()
        pieces: dict[int, tuple[int, str]] = {}
        for start, end, _, referent in rendered.spans:
            first, last = where[start], where[end - 1] + 1
            surface = " ".join(tokens[first:last])
            if bold is not None and referent == bold:
                pieces[first] = (last, f"'''{surface}'''")
                bold = None
            elif isinstance(referent, Nominal):
                # Link an entity's first mention (mostly), piped where the form is inflected.
                target = self.name(referent)
                if target not in linked and rng.random() < 0.7:
                    linked.add(target)
                    pieces[first] = (last, f"[[{target}]]" if target == surface else f"[[{target}|{surface}]]")
            elif isinstance(referent, Date) and referent.month is None and rng.random() < 0.1:
                pieces[first] = (last, f"[[{surface}]]")
        return pieces

    def paragraph(self, sampler: Sampler, count: int, linked: set[str], article: Article) -> str:
        """``count`` sentences with occasional references and inline templates after them."""
        rng, out = sampler.rng, []
        for _ in range(count):
            rendered = self.renderer.render(sampler.statement())
            article.sentences.append(rendered.text())
            text = self.wikify(rendered, rng, linked, None)
            roll = rng.random()
            if roll < 0.12:
                text += self.reference(rng, rendered)
            elif roll < 0.15:
                text += "{{Citation needed|date=" + f"{rng.choice(MONTH_NAMES)} {rng.randint(2008, 2023)}" + "}}"
            out.append(text)
        return " ".join(out)

    def reference(self, rng: random.Random, rendered: Rendered) -> str:
        """A ``<ref>`` citation: a cite template or a bare external link."""
        number = rng.randrange(10**6)
        title = " ".join(word.form for word in rendered.words[:4] if word.upos != "PUNCT")
        url = f"https://www.example.org/{self.g.code}/{number}"
        if rng.random() < 0.6:
            cite = f"{{{{cite web |url={url} |title={title} |year={rng.randint(1990, 2023)}}}}}"
            return f'<ref name="r{number}">{cite}</ref>'
        return f"<ref>[{url} {title}]</ref>"

    # --- whole articles ------------------------------------------------------------------------

    def article(self, rng: random.Random, title: str, topic: Nominal, cast: tuple[Nominal, ...]) -> Article:
        """A full article about ``topic``; ``cast`` are related entities that recur in it."""
        article = Article(title, "")
        sampler = Sampler(rng, topic, cast)
        linked = {title}
        blocks = [self.infobox(rng, topic, cast)] if topic.kind != "noun" else []
        if rng.random() < 0.2:
            blocks.append("<!-- " + rng.choice(COMMENTS) + " -->")
        lead = self.renderer.render(lead_statement(sampler, topic))
        article.sentences.append(lead.text())
        intro = self.wikify(lead, rng, linked, topic)
        blocks.append(" ".join([intro, self.paragraph(sampler, rng.randint(1, 3), linked, article)]))
        for _ in range(rng.randint(1, 4)):
            blocks.extend(self.section(rng, sampler, linked, article, cast))
        if rng.random() < 0.3:
            blocks.append(self.table(rng, sampler))
        blocks.extend(self.back_matter(rng, cast, title))
        blocks.append(self.categories(rng, topic))
        article.text = "\n\n".join(blocks)
        article.links = sorted(linked - {title})
        return article

    def stub(self, rng: random.Random, title: str, topic: Nominal) -> Article:
        """A one-line article (too short for the extractor's length filter)."""
        sampler = Sampler(rng, topic)
        event = Event(topic, sampler.rank("iverb"), None, tense="Past")
        rendered = self.renderer.render(Statement((event,)))
        text = self.wikify(rendered, rng, {title}, topic) + "\n\n{{Stub}}\n\n" + self.categories(rng, topic)
        return Article(title, text, [rendered.text()])

    def section(
        self, rng: random.Random, sampler: Sampler, linked: set[str], article: Article, cast: tuple[Nominal, ...]
    ) -> list[str]:
        """A level-2 section: paragraphs, maybe a 'main article' note, a subsection or a list."""
        out = [f"== {self.heading_word(rng.randrange(6, 40))} =="]
        if cast and rng.random() < 0.15:
            out.append("{{Main|" + self.name(rng.choice(cast)) + "}}")
        for _ in range(rng.randint(1, 3)):
            out.append(self.paragraph(sampler, rng.randint(2, 5), linked, article))
        if rng.random() < 0.3:
            out.append(f"=== {self.heading_word(rng.randrange(6, 40))} ===")
            out.append(self.paragraph(sampler, rng.randint(2, 4), linked, article))
        if rng.random() < 0.25:
            bullet = "*" if rng.random() < 0.7 else "#"
            items = [self.wikify(self.renderer.render(sampler.statement()), rng, linked, None) for _ in range(3)]
            out.append("\n".join(f"{bullet} {item}" for item in items))
        return out

    def table(self, rng: random.Random, sampler: Sampler) -> str:
        """A small wikitable of years, nouns and counts (extractors drop tables)."""
        rows = [
            f"| {rng.randint(1850, 2023)} || {self.g.lemma('noun', sampler.rank('noun'))} || {rng.randint(1, 9999)}"
            for _ in range(rng.randint(2, 4))
        ]
        head = f"! {self.heading_word(6)} !! {self.heading_word(7)} !! {self.heading_word(8)}"
        return '{| class="wikitable"\n' + head + "\n|-\n" + "\n|-\n".join(rows) + "\n|}"

    def infobox(self, rng: random.Random, topic: Nominal, cast: tuple[Nominal, ...]) -> str:
        """An infobox template call with key=value lines (some values are links)."""
        places = [self.name(member) for member in cast if member.kind == "place"] or [self.g.lemma("place", 0)]
        fields = [("name", self.name(topic))]
        if topic.kind == "person":
            kind = "person"
            birth = f"{{{{birth date|{rng.randint(1820, 2000)}|{rng.randint(1, 12)}|{rng.randint(1, 28)}}}}}"
            fields += [("birth_date", birth), ("birth_place", f"[[{rng.choice(places)}]]")]
            fields.append(("occupation", self.g.lemma("person_noun", rng.randrange(12))))
        elif topic.kind == "place":
            kind = "settlement"
            fields += [("country", f"[[{rng.choice(places)}]]"), ("population", str(rng.randint(200, 900000)))]
            fields.append(("area_km2", f"{rng.uniform(1, 5000):.1f}"))
        else:
            kind = "organization"
            fields += [("type", self.g.lemma("orgtype", topic.ids[1])), ("founded", str(rng.randint(1800, 2020)))]
            fields.append(("headquarters", f"[[{rng.choice(places)}]]"))
        return "{{Infobox " + kind + "\n" + "\n".join(f"| {key} = {value}" for key, value in fields) + "\n}}"

    def back_matter(self, rng: random.Random, cast: tuple[Nominal, ...], title: str) -> list[str]:
        """'See also', references and external-links sections."""
        out = []
        if cast and rng.random() < 0.3:
            out.append(f"== {self.heading_word(SEE_ALSO_NOUN)} ==")
            out.append("\n".join(f"* [[{self.name(member)}]]" for member in cast[:3]))
        out.append(f"== {self.heading_word(REFERENCES_NOUN)} ==")
        out.append("{{Reflist}}" if rng.random() < 0.5 else "<references />")
        if rng.random() < 0.3:
            out.append(f"== {self.heading_word(LINKS_NOUN)} ==")
            out.append(f"* [https://www.example.org/{self.g.code}/{title.replace(' ', '_')} {title}]")
        return out

    def categories(self, rng: random.Random, topic: Nominal) -> str:
        """One to three category links."""
        names = [self.heading_word(10 + {"person": 0, "place": 1, "org": 2}.get(topic.kind, 3))]
        names += [self.g.lemma("place", rng.randrange(20)) for _ in range(rng.randint(0, 2))]
        return "\n".join(f"[[Category:{name}]]" for name in dict.fromkeys(names))


COMMENTS = ("Please keep the infobox up to date", "TODO: add sources", "Do not change without discussion")


def _join(tokens: list[str], pieces: dict[int, tuple[int, str]]) -> str:
    if not pieces:
        return detokenize(tokens)
    out: list[str] = []
    index = 0
    while index < len(tokens):
        end, text = pieces.get(index, (index + 1, tokens[index]))
        if out and tokens[index] not in NO_SPACE_BEFORE:
            out.append(" ")
        out.append(text)
        index = end
    return "".join(out)


def lead_statement(sampler: Sampler, topic: Nominal) -> Statement:
    """The first sentence of an article: the topic did something, at a date."""
    event = sampler.event(agent=topic)
    return Statement((replace(event, time=event.time or sampler.date(), negated=False, tense="Past"),))

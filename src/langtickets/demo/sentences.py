"""Rendering a meaning into one language: words with UPOS, features, a projective UD tree, entity spans.

Every phrase is built contiguous with its head inside it, so the tree is projective by construction; the
main verb is the root, a second clause attaches to it as ``conj``. Where the typology fuses a preposition
with the definite article, the two syntactic words share one surface token (a UD multiword token).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from langtickets.demo.grammar import Grammar
from langtickets.demo.semantics import Date, Event, Nominal, Statement

NO_SPACE_BEFORE = frozenset({".", ","})


@dataclass(slots=True)
class Word:
    """A syntactic word; ``head`` is another word of the sentence (None for the root)."""

    form: str
    lemma: str
    upos: str
    feats: str = "_"
    deprel: str = "root"
    head: Word | None = None


@dataclass(slots=True)
class Span:
    """A named entity over words ``first`` .. ``last`` (inclusive)."""

    first: Word
    last: Word
    label: str
    referent: Nominal | Date


@dataclass
class Rendered:
    """A rendered sentence: words in order, heads (1-based, 0 = root), entity spans, fused tokens."""

    words: list[Word]
    heads: list[int]
    spans: list[tuple[int, int, str, Nominal | Date]]  # word index start, end (exclusive), label, referent
    fused: dict[int, tuple[int, str]] = field(default_factory=dict)  # first word -> (last word, form)
    _tokens: tuple[list[str], list[int]] | None = field(default=None, repr=False)

    def tokens(self) -> tuple[list[str], list[int]]:
        """Surface tokens and, for each word, the index of the token it is written in."""
        if self._tokens is None:
            self._tokens = self._surface()
        return self._tokens

    def _surface(self) -> tuple[list[str], list[int]]:
        if not self.fused:
            return [word.form for word in self.words], list(range(len(self.words)))
        tokens: list[str] = []
        where: list[int] = []
        index = 0
        while index < len(self.words):
            if index in self.fused:
                last, form = self.fused[index]
                tokens.append(form)
                where.extend([len(tokens) - 1] * (last - index + 1))
                index = last + 1
            else:
                tokens.append(self.words[index].form)
                where.append(len(tokens) - 1)
                index += 1
        return tokens, where

    def text(self) -> str:
        """The sentence as plain text (no space before punctuation)."""
        return detokenize(self.tokens()[0])


def detokenize(tokens: list[str]) -> str:
    """Join tokens with spaces, attaching '.' and ',' to the previous token."""
    # Tokens are letters or digits only, so " ." and " ," can arise only before punctuation tokens.
    return " ".join(tokens).replace(" .", ".").replace(" ,", ",")


class Renderer:
    """Renders statements in one language; it collects the words and spans of one sentence at a time."""

    def __init__(self, grammar: Grammar):
        self.g = grammar
        self.t = grammar.typology
        self._spans: list[Span] = []
        self._fused: list[tuple[Word, Word, str]] = []

    # --- noun phrases ---------------------------------------------------------------------------

    def _name(self, first: Word, rest: Word | None, label: str, referent: Nominal | Date) -> list[Word]:
        words = [first] if rest is None else [first, rest]
        if rest is not None:
            rest.deprel, rest.head = "flat", first
        self._spans.append(Span(first, words[-1], label, referent))
        return words

    def noun_phrase(self, nominal: Nominal, case: tuple[str, ...] = ()) -> tuple[list[Word], Word]:
        """Words of a participant and its head; ``case`` affixes go on the phrase's last name/noun."""
        g, kind, ids = self.g, nominal.kind, nominal.ids
        feats = "Case=Acc|Number=Sing" if case else "Number=Sing"
        if kind == "person":
            given = Word(g.word("given", ids[0]), g.lemma("given", ids[0]), "PROPN", "Number=Sing")
            last = Word(g.word("surname", ids[1], case), g.lemma("surname", ids[1]), "PROPN", feats)
            return self._name(given, last, "PER", nominal), given
        if kind == "place":
            place = Word(g.word("place", ids[0], case), g.lemma("place", ids[0]), "PROPN", feats)
            return self._name(place, None, "LOC", nominal), place
        if kind == "org":
            name = Word(g.word("orgname", ids[0]), g.lemma("orgname", ids[0]), "PROPN", "Number=Sing")
            org_type = Word(g.word("orgtype", ids[1], case), g.lemma("orgtype", ids[1]), "PROPN", feats)
            return self._name(name, org_type, "ORG", nominal), name
        return self._common(nominal, case)

    def _common(self, nominal: Nominal, case: tuple[str, ...]) -> tuple[list[Word], Word]:
        g, t = self.g, self.t
        affixes = (("PLUR",) if nominal.plural else ()) + case
        number = "Plur" if nominal.plural else "Sing"
        feats = f"Case=Acc|Number={number}" if case else f"Number={number}"
        noun = Word(g.word(nominal.kind, nominal.ids[0], affixes), g.lemma(nominal.kind, nominal.ids[0]), "NOUN", feats)
        before: list[Word] = []
        after: list[Word] = []
        det = self._determiner(nominal)
        if det is not None:
            det.head, det.deprel = noun, "det"
            (before if t.det == "before" else after).append(det)
        if nominal.numeral is not None:
            num = f"NUM{nominal.numeral}"
            before.append(Word(g.function(num), g.function(num), "NUM", "NumType=Card", "nummod", noun))
        if nominal.adjective is not None:
            adj_form = g.word("adj", nominal.adjective)
            adj = Word(adj_form, adj_form, "ADJ", "Degree=Pos", "amod", noun)
            if t.adj == "before":
                before.append(adj)
            else:
                after.insert(0, adj)  # noun-adjective-determiner, the mirror image of det-adj-noun
        return before + [noun] + after, noun

    def _determiner(self, nominal: Nominal) -> Word | None:
        if nominal.definite and self.t.definite_article:
            form = self.g.function("DEF")
            return Word(form, form, "DET", "Definite=Def|PronType=Art")
        if not nominal.definite and not nominal.plural:
            form = self.g.function("INDEF")
            return Word(form, form, "DET", "Definite=Ind|PronType=Art")
        return None

    # --- clauses --------------------------------------------------------------------------------

    def _adpositional(self, adposition: str, words: list[Word], head: Word) -> list[Word]:
        form = self.g.function(adposition)
        adp = Word(form, form, "ADP", "_", "case", head)
        if self.t.adposition == "post":
            return words + [adp]
        first = words[0]
        if self.t.contraction and adposition == "IN" and first.upos == "DET" and first.feats.startswith("Definite=Def"):
            self._fused.append((adp, first, self.g.contraction(adposition, "DEF")))
        return [adp] + words

    def _date(self, date: Date) -> tuple[list[Word], Word]:
        year = Word(str(date.year), str(date.year), "NUM", "NumType=Card")
        if date.month is None:
            self._spans.append(Span(year, year, "DATE", date))
            return [year], year
        month = Word(self.g.word("month", date.month), self.g.lemma("month", date.month), "PROPN", "Number=Sing")
        year.deprel, year.head = "nummod", month
        self._spans.append(Span(month, year, "DATE", date))
        return [month, year], month

    def _attach(self, phrase: tuple[list[Word], Word], deprel: str, verb: Word) -> list[Word]:
        words, head = phrase
        head.deprel, head.head = deprel, verb
        return words

    def clause(self, event: Event) -> tuple[list[Word], Word]:
        """The words of one event in the language's word order, and its verb."""
        g, t = self.g, self.t
        category = event.verb_category
        verb = Word(
            g.word(category, event.verb, (event.tense.upper(),)),
            g.lemma(category, event.verb),
            "VERB",
            f"Tense={event.tense}|VerbForm=Fin",
        )
        slots = {"S": self._attach(self.noun_phrase(event.agent), "nsubj", verb)}
        if event.patient is not None:
            slots["O"] = self._attach(self.noun_phrase(event.patient, ("ACC",) if t.case else ()), "obj", verb)
        if event.location is not None:
            words, head = self.noun_phrase(event.location)
            slots["L"] = self._adpositional("IN", self._attach((words, head), "obl", verb), head)
        if event.time is not None:
            words, head = self._date(event.time)
            slots["T"] = self._adpositional("DURING", self._attach((words, head), "obl", verb), head)
        if event.adverb is not None:
            form = g.word("adv", event.adverb)
            slots["A"] = [Word(form, form, "ADV", "_", "advmod", verb)]
        slots["V"] = [verb]
        if event.negated:
            neg = Word(g.function("NEG"), g.function("NEG"), "PART", "Polarity=Neg", "advmod", verb)
            slots["V"] = [neg, verb] if t.neg == "before" else [verb, neg]
        return [word for slot in _ORDERS[t.order] for word in slots.get(slot, ())], verb

    def render(self, statement: Statement) -> Rendered:
        """Render a statement: the main verb is the root, a second clause is its ``conj``."""
        self._spans, self._fused = [], []
        words, root = self.clause(statement.events[0])
        for event in statement.events[1:]:
            second, verb = self.clause(event)
            verb.deprel, verb.head = "conj", root
            form = self.g.function(statement.conjunction or "AND")
            words.append(Word(form, form, "CCONJ", "_", "cc", verb))
            if statement.conjunction == "BUT":  # a comma before 'but', as many orthographies write it
                words.insert(len(words) - 1, Word(",", ",", "PUNCT", "_", "punct", verb))
            words.extend(second)
        words.append(Word(".", ".", "PUNCT", "_", "punct", root))
        return self._finish(words)

    def _finish(self, words: list[Word]) -> Rendered:
        index = {id(word): position for position, word in enumerate(words)}
        heads = [index[id(word.head)] + 1 if word.head is not None else 0 for word in words]
        spans = [(index[id(s.first)], index[id(s.last)] + 1, s.label, s.referent) for s in self._spans]
        spans.sort(key=lambda span: span[0])
        fused = {index[id(a)]: (index[id(b)], form) for a, b, form in self._fused}
        words[0].form = _capitalise(words[0].form)
        if 0 in fused:
            fused[0] = (fused[0][0], _capitalise(fused[0][1]))
        return Rendered(words, heads, spans, fused)


#: slot order per basic word order (S subject, V verb group, O object, L place, T time, A adverb)
_ORDERS = {
    "SVO": ("S", "V", "O", "L", "T", "A"),
    "SOV": ("S", "T", "L", "O", "A", "V"),
    "VSO": ("V", "S", "O", "L", "T", "A"),
}


def _capitalise(form: str) -> str:
    return form[:1].upper() + form[1:]

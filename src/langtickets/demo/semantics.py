"""Language-independent meaning: who did what to whom, where and when.

A :class:`Statement` (one sentence) holds one or two :class:`Event` s; events hold :class:`Nominal`
participants that refer to concepts by category and frequency rank (see :mod:`langtickets.demo.lexicon`).
:class:`Sampler` draws them with Zipf-distributed concept choices; given a topic and a cast of related
entities it draws topical sentences for an article. Rendering one statement in every language gives
parallel sentences (:mod:`langtickets.demo.sentences`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from dataclasses import dataclass

from langtickets.demo.lexicon import CATEGORIES

ZIPF_EXPONENT = 1.0
TENSES = ("Past", "Pres", "Fut")
#: entity label of each nominal kind (None: not a named entity)
ENTITY_LABEL = {"person": "PER", "place": "LOC", "org": "ORG", "noun": None, "person_noun": None}


@dataclass(frozen=True, slots=True)
class Nominal:
    """A participant: a named entity or a common-noun phrase.

    ``ids`` are concept ranks: person (given, surname), place (place,), org (orgname, orgtype),
    noun / person_noun (noun,).
    """

    kind: str
    ids: tuple[int, ...]
    plural: bool = False
    definite: bool = False
    adjective: int | None = None
    numeral: int | None = None  # 2..9, only on plural common nouns

    @property
    def entity(self) -> str | None:
        return ENTITY_LABEL[self.kind]


@dataclass(frozen=True, slots=True)
class Date:
    """A time expression: a year, optionally with a month (rank into the 'month' category)."""

    year: int
    month: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One predication; ``patient`` is None for intransitive verbs (category 'iverb')."""

    agent: Nominal
    verb: int
    patient: Nominal | None
    location: Nominal | None = None
    time: Date | None = None
    adverb: int | None = None
    negated: bool = False
    tense: str = "Past"

    @property
    def verb_category(self) -> str:
        return "verb" if self.patient is not None else "iverb"


@dataclass(frozen=True, slots=True)
class Statement:
    """One sentence: an event, or two events joined by a conjunction ('AND' or 'BUT')."""

    events: tuple[Event, ...]
    conjunction: str | None = None


@functools.lru_cache(maxsize=None)
def _cumulative(size: int) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(size)))


class Sampler:
    """Draws meanings from ``rng``; with a ``topic`` and ``cast`` the sentences stay on one subject."""

    def __init__(self, rng: random.Random, topic: Nominal | None = None, cast: tuple[Nominal, ...] = ()):
        self.rng = rng
        self.topic = topic
        self.cast = cast

    def rank(self, category: str) -> int:
        """A Zipf-distributed rank in ``category`` (rank r has weight 1/(r+1))."""
        cumulative = _cumulative(CATEGORIES[category])
        return bisect.bisect(cumulative, self.rng.random() * cumulative[-1])

    def person(self) -> Nominal:
        return Nominal("person", (self.rank("given"), self.rank("surname")))

    def place(self) -> Nominal:
        return Nominal("place", (self.rank("place"),))

    def org(self) -> Nominal:
        return Nominal("org", (self.rank("orgname"), self.rank("orgtype")))

    def noun_phrase(self, category: str = "noun", definite: bool | None = None) -> Nominal:
        rng = self.rng
        plural = rng.random() < 0.25
        return Nominal(
            category,
            (self.rank(category),),
            plural=plural,
            definite=rng.random() < 0.5 if definite is None else definite,
            adjective=self.rank("adj") if rng.random() < 0.25 else None,
            numeral=rng.randint(2, 9) if plural and rng.random() < 0.3 else None,
        )

    def _from_cast(self, kinds: tuple[str, ...]) -> Nominal | None:
        members = [member for member in self.cast if member.kind in kinds]
        return self.rng.choice(members) if members else None

    def agent(self) -> Nominal:
        roll = self.rng.random()
        if self.topic is not None and self.topic.kind != "place" and roll < 0.4:
            return self.topic
        if self.cast and roll < 0.6:
            found = self._from_cast(("person", "org", "person_noun"))
            if found is not None:
                return found
        return self.rng.choices(
            (self.person, self.org, lambda: self.noun_phrase("person_noun")), weights=(4, 2, 4)
        )[0]()

    def patient(self) -> Nominal:
        roll = self.rng.random()
        if self.topic is not None and roll < 0.15:
            return self.topic
        return self.rng.choices((self.noun_phrase, self.person, self.place, self.org), weights=(12, 3, 3, 2))[0]()

    def location(self) -> Nominal:
        rng = self.rng
        if self.topic is not None and self.topic.kind == "place" and rng.random() < 0.5:
            return self.topic
        if self.cast and rng.random() < 0.4:
            found = self._from_cast(("place",))
            if found is not None:
                return found
        return self.place() if rng.random() < 0.7 else self.noun_phrase(definite=True)

    def date(self) -> Date:
        rng = self.rng
        return Date(rng.randint(1820, 2023), self.rank("month") if rng.random() < 0.5 else None)

    def event(self, agent: Nominal | None = None) -> Event:
        """One event; optional parts (location, time, adverb, negation) appear with fixed rates."""
        rng = self.rng
        agent = agent or self.agent()
        transitive = rng.random() < 0.8
        patient = self.patient() if transitive else None
        if patient == agent:  # nobody acts on themselves here: keeps roles distinguishable
            patient = self.noun_phrase()
        location = self.location() if rng.random() < 0.35 else None
        if location is not None and location in (agent, patient):
            location = self.noun_phrase(definite=True)
        return Event(
            agent=agent,
            verb=self.rank("verb" if transitive else "iverb"),
            patient=patient,
            location=location,
            time=self.date() if rng.random() < 0.3 else None,
            adverb=self.rank("adv") if rng.random() < 0.2 else None,
            negated=rng.random() < 0.1,
            tense=TENSES[bisect.bisect((0.6, 0.9), rng.random())],  # 60% past, 30% present, 10% future
        )

    def statement(self, agent: Nominal | None = None) -> Statement:
        """A sentence: one event, or (one time in five) two joined by 'and' / 'but'."""
        first = self.event(agent)
        if self.rng.random() < 0.2:
            return Statement((first, self.event()), self.rng.choice(("AND", "AND", "BUT")))
        return Statement((first,))

"""Natural-language-inference pairs built by editing a meaning, so the label follows from the edit.

- entailment: the hypothesis drops one detail of the premise (a place, a time, an adverb or an
  adjective); what is left is still true.
- neutral: the hypothesis adds a detail the premise does not mention.
- contradiction: the hypothesis negates the premise (or removes its negation), swaps agent and patient,
  or replaces the verb.

Edits are made on the language-independent :class:`~langtickets.demo.semantics.Statement`, so the same
pair exists in every language (like XNLI / AmericasNLI translations) and labels are learnable from the
text: the hypothesis is a subset, a superset or a contradicting variant of the premise.
"""

from __future__ import annotations

import dataclasses
import random

from langtickets.demo.semantics import Event, Nominal, Sampler, Statement

LABELS = ("entailment", "neutral", "contradiction")
_DETAILS = ("location", "time", "adverb", "agent_adjective", "patient_adjective")


def _details(event: Event) -> list[str]:
    """The optional details ``event`` has."""
    present = []
    for name in _DETAILS:
        if name.endswith("_adjective"):
            nominal = getattr(event, name.split("_")[0])
            if isinstance(nominal, Nominal) and nominal.adjective is not None:
                present.append(name)
        elif getattr(event, name) is not None:
            present.append(name)
    return present


def _can_add(event: Event) -> list[str]:
    """Details that could be added to ``event`` (adjectives only on common nouns)."""
    possible = [name for name in ("location", "time", "adverb") if getattr(event, name) is None]
    for role in ("agent", "patient"):
        nominal = getattr(event, role)
        if isinstance(nominal, Nominal) and nominal.entity is None and nominal.adjective is None:
            possible.append(f"{role}_adjective")
    return possible


def _without(event: Event, detail: str) -> Event:
    if detail.endswith("_adjective"):
        role = detail.split("_")[0]
        return dataclasses.replace(event, **{role: dataclasses.replace(getattr(event, role), adjective=None)})
    return dataclasses.replace(event, **{detail: None})


def _with(event: Event, detail: str, sampler: Sampler) -> Event:
    if detail.endswith("_adjective"):
        role = detail.split("_")[0]
        nominal = dataclasses.replace(getattr(event, role), adjective=sampler.rank("adj"))
        return dataclasses.replace(event, **{role: nominal})
    value = {"location": sampler.location, "time": sampler.date, "adverb": lambda: sampler.rank("adv")}[detail]()
    return dataclasses.replace(event, **{detail: value})


def _contradict(event: Event, sampler: Sampler) -> Event:
    roll = sampler.rng.random()
    if roll < 0.2 and event.patient is not None and event.patient.kind in ("person", "org", "person_noun"):
        return dataclasses.replace(event, agent=event.patient, patient=event.agent)
    if roll < 0.4:
        verb = sampler.rank(event.verb_category)
        while verb == event.verb:
            verb = (verb + 1) % 10
        return dataclasses.replace(event, verb=verb)
    return dataclasses.replace(event, negated=not event.negated)


def nli_pair(sampler: Sampler, label: str) -> tuple[Statement, Statement]:
    """A premise and a hypothesis standing in relation ``label`` (one of :data:`LABELS`)."""
    premise = sampler.event()
    if label == "entailment":
        if not _details(premise):
            premise = _with(premise, sampler.rng.choice(_can_add(premise)), sampler)
        hypothesis = _without(premise, sampler.rng.choice(_details(premise)))
    elif label == "neutral":
        if not _can_add(premise):
            premise = _without(premise, sampler.rng.choice(_details(premise)))
        hypothesis = _with(premise, sampler.rng.choice(_can_add(premise)), sampler)
    else:
        hypothesis = _contradict(premise, sampler)
    return Statement((premise,)), Statement((hypothesis,))


def balanced_labels(rng: random.Random, count: int) -> list[str]:
    """``count`` labels, the three classes as equal as possible, in random order."""
    labels = [LABELS[index % 3] for index in range(count)]
    rng.shuffle(labels)
    return labels

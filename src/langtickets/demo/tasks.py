"""Task data for a demo language in the formats of the real datasets, so the same loaders read both.

- ``ud-{split}.conllu``: Universal Dependencies CoNLL-U (10 columns, ``# sent_id``, ``# text``, multiword
  tokens as ``4-5`` lines where the language contracts preposition + article);
- ``ner-{split}.txt``: MasakhaNER / CoNLL style, ``token TAG`` per line with BIO tags PER, ORG, LOC, DATE
  and a blank line after each sentence;
- ``nli-{split}.tsv``: AmericasNLI style, header ``language premise hypothesis label``.

Sentence meanings are seeded by (seed, task, split) only, so every language gets translations of the same
sentences (as in XNLI or PAN-X), which is what zero-shot transfer between languages needs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from langtickets.demo.grammar import Grammar
from langtickets.demo.nli import balanced_labels, nli_pair
from langtickets.demo.semantics import Sampler, Statement
from langtickets.demo.sentences import Rendered, Renderer
from langtickets.io import write_text
from langtickets.seeding import derive_seed

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitSizes:
    """Number of sentences (UD, NER) and pairs (NLI) per split."""

    train: int
    dev: int
    test: int

    def items(self) -> Iterator[tuple[str, int]]:
        return iter((("train", self.train), ("dev", self.dev), ("test", self.test)))


def statements(seed: int, stream: str, split: str, count: int) -> Iterator[Statement]:
    """``count`` language-independent sentence meanings for one task split."""
    sampler = Sampler(random.Random(derive_seed(seed, "demo-task", stream, split)))
    for _ in range(count):
        yield sampler.statement()


def conllu_block(rendered: Rendered, sent_id: str) -> str:
    """One sentence in CoNLL-U; SpaceAfter=No goes on the token before punctuation (or its MWT line)."""
    tokens, _ = rendered.tokens()
    lines = [f"# sent_id = {sent_id}", f"# text = {rendered.text()}"]
    token_index = 0
    for index, (word, head) in enumerate(zip(rendered.words, rendered.heads)):
        fused = rendered.fused.get(index)
        inside_fused = any(start < index <= last for start, (last, _) in rendered.fused.items())
        if fused is not None:
            misc = _space_after(tokens, token_index)
            lines.append(f"{index + 1}-{fused[0] + 1}\t{fused[1]}\t_\t_\t_\t_\t_\t_\t_\t{misc}")
            token_index += 1
        misc = "_"
        if fused is None and not inside_fused:
            misc = _space_after(tokens, token_index)
            token_index += 1
        columns = (index + 1, word.form, word.lemma, word.upos, "_", word.feats, head, word.deprel, "_", misc)
        lines.append("\t".join(map(str, columns)))
    return "\n".join(lines) + "\n\n"


def _space_after(tokens: list[str], index: int) -> str:
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    return "SpaceAfter=No" if following in (".", ",") else "_"


def ner_block(rendered: Rendered) -> str:
    """One sentence as ``token TAG`` lines (BIO over surface tokens) and a blank line."""
    tokens, where = rendered.tokens()
    tags = ["O"] * len(tokens)
    for start, end, label, _ in rendered.spans:
        first, last = where[start], where[end - 1]
        tags[first] = f"B-{label}"
        for position in range(first + 1, last + 1):
            tags[position] = f"I-{label}"
    return "".join(f"{token} {tag}\n" for token, tag in zip(tokens, tags)) + "\n"


def nli_rows(grammar: Grammar, seed: int, split: str, count: int) -> Iterator[str]:
    """TSV rows ``language premise hypothesis label`` with balanced labels."""
    rng = random.Random(derive_seed(seed, "demo-task", "nli", split))
    sampler = Sampler(rng)
    renderer = Renderer(grammar)
    for label in balanced_labels(rng, count):
        premise, hypothesis = nli_pair(sampler, label)
        yield f"{grammar.code}\t{renderer.render(premise).text()}\t{renderer.render(hypothesis).text()}\t{label}\n"


def _render_all(grammar: Grammar, items: Iterable[Statement]) -> Iterator[Rendered]:
    renderer = Renderer(grammar)
    for statement in items:
        yield renderer.render(statement)


def write_tasks(grammar: Grammar, seed: int, sizes: SplitSizes, out_dir: str | Path) -> dict[str, int]:
    """Write the nine task files of one language to ``out_dir``; returns line counts per file."""
    files: dict[str, str] = {}
    for split, size in sizes.items():
        ud = "".join(
            conllu_block(rendered, f"{grammar.code}-{split}-{number:05d}")
            for number, rendered in enumerate(_render_all(grammar, statements(seed, "ud", split, size)), start=1)
        )
        ner = "".join(ner_block(rendered) for rendered in _render_all(grammar, statements(seed, "ner", split, size)))
        nli = "language\tpremise\thypothesis\tlabel\n" + "".join(nli_rows(grammar, seed, split, size))
        files.update({f"ud-{split}.conllu": ud, f"ner-{split}.txt": ner, f"nli-{split}.tsv": nli})
    # Everything is generated before the first file is written, so an error leaves no partial set.
    for name, text in files.items():
        write_text(Path(out_dir) / name, text)
    return {name: text.count("\n") for name, text in files.items()}

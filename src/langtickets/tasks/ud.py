"""Universal Dependencies CoNLL-U: read treebanks into :class:`ParsedSentence` records, write predictions.

Each line is parsed with the ``conllu`` package's line parser, so every error names the exact line.
Records hold the syntactic words (the ``1``, ``2``, ... lines): multiword-token lines (``1-2 du``) are kept
as :class:`MultiwordToken` surface information for the CoNLL 2018 evaluation, and empty nodes (``5.1``, from
enhanced dependencies) are skipped and counted. Every sentence must be a tree: heads in range, exactly one
root, no cycle. UPOS must be one of the 17 UD tags and the universal part of every relation one of the 37
UD relations, so a typo fails here rather than as a silent extra class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from conllu.exceptions import ParseException
from conllu.parser import DEFAULT_FIELD_PARSERS, DEFAULT_FIELDS, parse_line

from langtickets.errors import InputError
from langtickets.io import atomic_path, open_text
from langtickets.tasks.records import UD_RELATIONS, UPOS_TAGS, MultiwordToken, ParsedSentence, universal_relation

_UPOS = frozenset(UPOS_TAGS)
_RELATIONS = frozenset(UD_RELATIONS)
# conllu's parsers for ID (ints, ranges, decimals) and HEAD; the fields no task reads stay raw text, which
# reads a treebank about 2.5 times faster than parsing FEATS/DEPS/MISC into structures we would discard.
_FIELD_PARSERS = {
    **DEFAULT_FIELD_PARSERS,
    **{field: (lambda line, i: line[i]) for field in ("xpos", "feats", "deps", "misc")},
}
_FIX = "fix the line or re-export the treebank as valid CoNLL-U (https://universaldependencies.org/format.html)"


def read_conllu(path: str | Path, *, counts: Counter | None = None) -> list[ParsedSentence]:
    """Read a CoNLL-U file (optionally ``.gz``) into validated sentences.

    ``counts`` (if given) receives ``sentences``, ``words``, ``multiword_tokens`` and ``empty_nodes``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "CoNLL-U file not found", "check the dataset path in the config")
    counts = Counter() if counts is None else counts
    with open_text(path) as handle:
        sentences = [_parse_block(path, block, counts) for block in _blocks(handle)]
    sentences = [sentence for sentence in sentences if sentence is not None]
    if not sentences:
        raise InputError(path, "the file holds no sentences", "point the dataset at a non-empty CoNLL-U file")
    counts["sentences"] += len(sentences)
    return sentences


def _blocks(lines: Iterable[str]) -> Iterator[list[tuple[int, str]]]:
    """Numbered lines grouped into sentences (blank lines separate them)."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


class _Builder:
    """Collects one sentence's words and multiword tokens, remembering each word's line for errors."""

    def __init__(self, path: Path):
        self.path = path
        self.words: list[str] = []
        self.upos: list[str] = []
        self.heads: list[int] = []
        self.deprels: list[str] = []
        self.lines: list[int] = []
        self.multiword: list[tuple[MultiwordToken, int]] = []

    def error(self, problem: str, line: int, fix: str = _FIX) -> InputError:
        return InputError(self.path, problem, fix, line=line)

    def add_multiword(self, first: int, last: int, form: str, line: int) -> None:
        expected = len(self.words) + 1
        if first != expected or last < first or (self.multiword and first <= self.multiword[-1][0].last):
            raise self.error(f"multiword token {first}-{last} does not start at the next word {expected}", line)
        self.multiword.append((MultiwordToken(first, last, form), line))

    def add_word(self, token: dict, line: int) -> None:
        expected = len(self.words) + 1
        if token["id"] != expected:
            raise self.error(f"word id {token['id']} is out of order: expected {expected}", line)
        if not token["form"]:
            raise self.error("empty FORM", line)
        if token["head"] is None:
            raise self.error("HEAD is '_': every word needs the integer id of its head (0 for the root)", line)
        if token["upos"] not in _UPOS:
            raise self.error(f"UPOS {token['upos']!r} is not one of the 17 UD tags", line)
        if universal_relation(token["deprel"]) not in _RELATIONS:
            raise self.error(f"DEPREL {token['deprel']!r} is not a UD relation (or relation:subtype)", line)
        self.words.append(token["form"])
        self.upos.append(token["upos"])
        self.heads.append(token["head"])
        self.deprels.append(token["deprel"])
        self.lines.append(line)

    def build(self) -> ParsedSentence:
        for token, line in self.multiword:
            if token.last > len(self.words):
                raise self.error(f"multiword token {token.first}-{token.last} runs past the last word", line)
        check_tree(self.heads, self.path, self.lines)
        return ParsedSentence(
            tuple(self.words), tuple(self.upos), tuple(self.heads), tuple(self.deprels),
            tuple(token for token, _ in self.multiword),
        )  # fmt: skip


def _parse_block(path: Path, block: list[tuple[int, str]], counts: Counter) -> ParsedSentence | None:
    builder = _Builder(path)
    for number, line in block:
        if line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 10:
            raise builder.error(
                f"expected 10 tab-separated columns, found {len(columns)}", number,
                "separate the ten CoNLL-U fields with single tabs and write _ for an empty field",
            )  # fmt: skip
        try:
            token = parse_line(line, fields=DEFAULT_FIELDS, field_parsers=_FIELD_PARSERS)
        except ParseException as error:
            raise builder.error(str(error).rstrip("."), number) from None
        ident = token["id"]
        if isinstance(ident, tuple) and ident[1] == ".":
            counts["empty_nodes"] += 1
        elif isinstance(ident, tuple):
            builder.add_multiword(ident[0], ident[2], token["form"], number)
        else:
            builder.add_word(token, number)
    if not builder.words:
        return None
    counts["words"] += len(builder.words)
    counts["multiword_tokens"] += len(builder.multiword)
    return builder.build()


def check_tree(heads: Sequence[int], path: str | Path, lines: Sequence[int]) -> None:
    """Raise :class:`InputError` unless ``heads`` (1-based, 0 = root) form a tree with a single root.

    ``lines[i]`` is the line (or row) of word ``i+1``, used to name the offending word.
    """
    size = len(heads)
    for index, head in enumerate(heads):
        if not 0 <= head <= size:
            problem = f"head {head} is out of range: the sentence has {size} words"
            raise InputError(path, problem, _FIX, line=lines[index])
    roots = [index for index, head in enumerate(heads) if head == 0]
    if not roots:
        raise InputError(path, "no word has head 0: a UD sentence needs exactly one root", _FIX, line=lines[0])
    if len(roots) > 1:
        raise InputError(
            path, f"words {roots[0] + 1} and {roots[1] + 1} both have head 0: a UD tree has exactly one root",
            _FIX, line=lines[roots[1]],
        )  # fmt: skip
    cycle = _find_cycle(heads)
    if cycle:
        shown = " -> ".join(str(word) for word in [*cycle, cycle[0]])
        raise InputError(path, f"heads form a cycle {shown}", _FIX, line=lines[cycle[0] - 1])


def _find_cycle(heads: Sequence[int]) -> list[int]:
    """The words (1-based) of a cycle in the head graph, smallest first; [] when every word reaches the root."""
    state = [0] * (len(heads) + 1)  # 0 unseen, 1 on the current path, 2 known to reach the root
    state[0] = 2
    for start in range(1, len(heads) + 1):
        path: list[int] = []
        node = start
        while state[node] == 0:
            state[node] = 1
            path.append(node)
            node = heads[node - 1]
        if state[node] == 1:
            cycle = path[path.index(node):]
            low = cycle.index(min(cycle))
            return cycle[low:] + cycle[:low]
        for visited in path:
            state[visited] = 2
    return []


def format_conllu(sentences: Iterable[ParsedSentence]) -> str:
    """CoNLL-U text for ``sentences`` (FORM, UPOS, HEAD, DEPREL filled; other fields ``_``), MWT lines kept."""
    blocks = []
    for sentence in sentences:
        starts = {token.first: token for token in sentence.multiword}
        lines = []
        for index, word in enumerate(sentence.words, start=1):
            if index in starts:
                token = starts[index]
                lines.append(f"{token.first}-{token.last}\t{token.form}" + "\t_" * 8)
            fields = [str(index), word, "_", sentence.upos[index - 1], "_", "_",
                      str(sentence.heads[index - 1]), sentence.deprels[index - 1], "_", "_"]  # fmt: skip
            lines.append("\t".join(fields))
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


def write_conllu(path: str | Path, sentences: Iterable[ParsedSentence]) -> None:
    """Write ``sentences`` as CoNLL-U, atomically (a failed write leaves nothing)."""
    with atomic_path(path) as tmp:
        tmp.write_text(format_conllu(sentences), encoding="utf-8")

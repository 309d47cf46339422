"""Task files: valid CoNLL-U trees, valid BIO tags, balanced and learnable NLI, one sentence set per language."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import conllu
import pytest

from langtickets.cli import main as cli_main
from langtickets.demo.nli import LABELS

from .conftest import SEED

SIZES = {"train": 60, "dev": 20, "test": 31}
LANGS = ("qaa", "qae", "qai")


@pytest.fixture(scope="module")
def task_dirs(demo_table_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dirs = {}
    for code in LANGS:
        out = tmp_path_factory.mktemp(f"tasks-{code}")
        argv = ["make-demo", "tasks", "--table", str(demo_table_path), "--lang", code, "--seed", str(SEED)]
        sizes = [arg for split, size in SIZES.items() for arg in (f"--{split}", str(size))]
        assert cli_main([*argv, *sizes, "--out-dir", str(out)]) == 0
        dirs[code] = out
    return dirs


def _projective(heads: list[int]) -> bool:
    arcs = [(min(i, h), max(i, h)) for i, h in enumerate(heads, start=1) if h != 0]
    return not any(a < c < b < d for a, b in arcs for c, d in arcs)


def _reaches_root(heads: list[int], word: int) -> bool:
    seen = set()
    while word != 0:
        if word in seen:
            return False
        seen.add(word)
        word = heads[word - 1]
    return True


@pytest.mark.parametrize("code", LANGS)
def test_conllu_sentences_are_projective_trees(task_dirs, code):
    for split, size in SIZES.items():
        text = (task_dirs[code] / f"ud-{split}.conllu").read_text(encoding="utf-8")
        sentences = conllu.parse(text)
        assert len(sentences) == size
        for sentence in sentences:
            words = [token for token in sentence if isinstance(token["id"], int)]
            heads = [token["head"] for token in words]
            assert [token["id"] for token in words] == list(range(1, len(words) + 1))
            assert heads.count(0) == 1 and words[heads.index(0)]["upos"] == "VERB"
            assert all(0 <= head <= len(words) for head in heads)
            assert all(_reaches_root(heads, word) for word in range(1, len(words) + 1))
            assert _projective(heads), sentence.metadata["sent_id"]
            assert all(len(line.split("\t")) == 10 for line in text.splitlines() if line and line[0] != "#")


def _surface_text(sentence: conllu.TokenList) -> str:
    """The sentence text rebuilt from tokens (multiword tokens replace their words) and SpaceAfter."""
    out, skip_until = [], 0
    for token in sentence:
        if isinstance(token["id"], tuple):
            skip_until = token["id"][2]
        elif token["id"] <= skip_until:
            continue
        out.append(token["form"] + ("" if (token["misc"] or {}).get("SpaceAfter") == "No" else " "))
    return "".join(out).strip()


def test_conllu_text_matches_tokens_and_contractions_exist(task_dirs):
    counts = {}
    for code in LANGS:
        sentences = conllu.parse((task_dirs[code] / "ud-train.conllu").read_text(encoding="utf-8"))
        assert all(_surface_text(s) == s.metadata["text"] for s in sentences)
        assert len({s.metadata["sent_id"] for s in sentences}) == len(sentences)
        counts[code] = sum(isinstance(token["id"], tuple) for s in sentences for token in s)
    assert counts["qaa"] > 0, "the SVO family contracts preposition + article into multiword tokens"
    assert counts["qae"] == counts["qai"] == 0


@pytest.mark.parametrize("code", LANGS)
def test_ner_is_valid_bio(task_dirs, code):
    labels = Counter()
    for split, size in SIZES.items():
        blocks = (task_dirs[code] / f"ner-{split}.txt").read_text(encoding="utf-8").split("\n\n")
        sentences = [block.splitlines() for block in blocks if block.strip()]
        assert len(sentences) == size
        for lines in sentences:
            previous = "O"
            for line in lines:
                token, tag = line.split(" ")
                assert token and tag == "O" or tag[:2] in ("B-", "I-")
                if tag.startswith("I-"):
                    assert previous[2:] == tag[2:], f"{tag} after {previous}"
                labels[tag[2:]] += tag.startswith("B-")
                previous = tag
    assert {"PER", "ORG", "LOC", "DATE"} <= {label for label, count in labels.items() if count}


def _nli_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.mark.parametrize("code", LANGS)
def test_nli_is_balanced_and_learnable(task_dirs, grammars, code):
    negation = grammars[code].function("NEG")
    for split, size in SIZES.items():
        path = task_dirs[code] / f"nli-{split}.tsv"
        assert path.read_text(encoding="utf-8").splitlines()[0] == "language\tpremise\thypothesis\tlabel"
        rows = _nli_rows(path)
        counts = Counter(row["label"] for row in rows)
        assert len(rows) == size and set(counts) == set(LABELS) and max(counts.values()) - min(counts.values()) <= 1
        assert all(row["language"] == code for row in rows)
        # The label follows from the text: subset -> entailment, superset -> neutral, else contradiction.
        correct = sum(_rule(row["premise"], row["hypothesis"], negation) == row["label"] for row in rows)
        assert correct / len(rows) > 0.9


def _rule(premise: str, hypothesis: str, negation: str) -> str:
    def bag(text: str) -> Counter:
        return Counter(text.lower().replace(".", " ").replace(",", " ").split())

    removed, added = bag(premise) - bag(hypothesis), bag(hypothesis) - bag(premise)
    if negation in removed or negation in added or (removed and added) or not (removed or added):
        return "contradiction"
    return "entailment" if removed else "neutral"


def test_task_sentences_are_translations_across_languages(task_dirs):
    # Same meanings in every language: the years (written in digits everywhere) line up sentence by sentence.
    def years(code: str) -> list[list[str]]:
        blocks = (task_dirs[code] / "ner-dev.txt").read_text(encoding="utf-8").split("\n\n")
        return [[line.split()[0] for line in b.splitlines() if line.split()[0].isdigit()] for b in blocks if b]

    assert years("qaa") == years("qae") == years("qai")
    assert any(years("qaa"))

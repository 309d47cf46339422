"""Demo task data and tiny pretrained-model folders for the fine-tuning tests (no hub, no shared data).

``build_world(folder)`` writes, once per test session and module that asks for it:

* ``tasks/{qaa,qac,qae}/``: demo UD, NER and NLI splits (qaa is larger, so NLI is learnable in seconds);
* ``tokenizer.json``: a WordPiece vocabulary trained on the demo text;
* ``dense/``: a tiny random BERT in the pretraining stage's layout (config, weights, tokenizer, arch.json);
* ``ticket/``: the same with one more layer and ``masks.safetensors`` holding tickets for qaa and qac only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from langtickets.cli import main as cli_main
from langtickets.masks import TicketShape
from langtickets.model import ArchConfig, init_model, save_model
from langtickets.tasks.spec import DatasetSpec, demo_specs
from langtickets.vocab import train_wordpiece
from tests.ticket_fixtures import random_masks

SEED = 1234
SIZES = {"qaa": (400, 60, 90), "qac": (60, 20, 40), "qae": (40, 20, 30)}
TICKET_LANGS = ("qaa", "qac")


@dataclass(frozen=True)
class World:
    root: Path
    dense: Path
    ticket: Path

    def specs(self, lang: str) -> dict[str, DatasetSpec]:
        return demo_specs(self.root / "tasks" / lang)

    def spec(self, lang: str, task: str) -> DatasetSpec:
        return self.specs(lang)[task]

    def file(self, lang: str, name: str) -> Path:
        return self.root / "tasks" / lang / name


def _texts(folder: Path) -> list[str]:
    texts = [line[9:] for line in open(folder / "ud-train.conllu", encoding="utf-8") if line.startswith("# text = ")]
    for number, line in enumerate(open(folder / "nli-train.tsv", encoding="utf-8")):
        if number:
            texts += [column + "\n" for column in line.rstrip("\n").split("\t")[1:3]]
    return texts


def build_world(root: Path, repo_root: Path) -> World:
    table = repo_root / "config" / "demo-languages.tsv"
    texts = []
    for lang, (train, dev, test) in SIZES.items():
        out = root / "tasks" / lang
        argv = ["make-demo", "tasks", "--table", str(table), "--lang", lang, "--seed", str(SEED), "--train",
                str(train), "--dev", str(dev), "--test", str(test), "--out-dir", str(out)]  # fmt: skip
        if cli_main(argv) != 0:
            raise RuntimeError(f"make-demo tasks failed for {lang}")
        texts += _texts(out)
    (root / "text.txt").write_text("".join(texts), encoding="utf-8")
    tokenizer = train_wordpiece([str(root / "text.txt")], 600, min_frequency=1)
    tokenizer.save(str(root / "tokenizer.json"))
    base = ArchConfig(vocab_size=tokenizer.get_vocab_size(), hidden=32, layers=2, heads=2, intermediate=64,
                      max_position=64)  # fmt: skip
    save_model(init_model(base, 7), root / "dense", name="base", seed=7, tokenizer=root / "tokenizer.json")
    scaled = ArchConfig(**{**base.to_dict(), "layers": 3})
    save_model(init_model(scaled, 7), root / "ticket", name="scaled", seed=7, tokenizer=root / "tokenizer.json")
    masks = random_masks(TicketShape.of_arch(scaled), langs=TICKET_LANGS, density=0.5, seed=3)
    masks.save(root / "ticket" / "masks.safetensors")
    return World(root, root / "dense", root / "ticket")

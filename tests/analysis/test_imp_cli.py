"""The IMP, transfer and heads commands end to end on tiny demo data and a tiny model (no hub, no shared data)."""

from __future__ import annotations

import gzip
import json

import pytest

from langtickets.analysis.weight_masks import WeightMasks
from langtickets.cli import main as cli_main
from langtickets.errors import InputError
from tests.tasks.finetune_fixtures import build_world

RECIPE = ["--batch-size", "8", "--lr", "0.001", "--max-updates", "3", "--eval-batch-size", "32", "--max-length", "32",
          "--device", "cpu", "--threads", "1", "--seed", "1234", "--model-name", "dense"]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy CPU OpenMP threads spin (seconds per step)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def world(tmp_path_factory, repo_root):
    return build_world(tmp_path_factory.mktemp("imp-world"), repo_root)


def ner_data(world, langs):
    flags = ["--format", *(f"{lang}=bio" for lang in langs)]
    for split in ("train", "dev"):
        flags += [f"--{split}", *(f"{lang}={world.file(lang, f'ner-{split}.txt')}" for lang in langs)]
    return flags


def imp(world, lang, out, *extra):
    argv = ["subnetworks-imp", "--task", "ner", "--lang", lang, "--model", str(world.dense), "--runs", "0", "1",
            "--rate", "0.25", "--rounds", "2", "--random-rounds", "2", "--out-dir", str(out), *RECIPE,
            *ner_data(world, [lang]), *extra]  # fmt: skip
    assert cli_main(argv) == 0


@pytest.fixture(scope="module")
def imp_dirs(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("imp")
    for lang in ("qaa", "qac"):
        imp(world, lang, root / lang)
    return root


def test_imp_and_transfer_write_masks_scores_and_the_matrix(world, imp_dirs, tmp_path):
    result = json.loads((imp_dirs / "qaa" / "imp.json").read_text())
    assert [level["sparsity"] for level in result["levels"]] == [0.0, 0.25, 0.5]
    assert [len(level["runs"]) for level in result["levels"]] == [2, 2, 2]
    assert {"winning", "difference"} <= set(result["levels"][1]) and result["random"][0]["sparsity"] == 0.5
    for name, share in (("round01", 0.25), ("round02", 0.5), ("random02", 0.5)):
        masks = WeightMasks.load(imp_dirs / "qaa" / "masks" / f"{name}.safetensors")
        assert masks.pruned == int(share * masks.total + 0.5) and masks.info["lang"] == "qaa"
    argv = ["subnetworks-transfer", "--task", "ner", "--langs", "qaa", "qac", "--imp", f"qaa={imp_dirs / 'qaa'}",
            f"qac={imp_dirs / 'qac'}", "--rounds", "2", "--model", str(world.dense), "--runs", "0", "1",
            "--json", str(tmp_path / "t.json"), "--csv", str(tmp_path / "t.csv"), "--relative-csv",
            str(tmp_path / "r.csv"), *RECIPE, *ner_data(world, ["qaa", "qac"])]  # fmt: skip
    assert cli_main(argv) == 0
    [level] = json.loads((tmp_path / "t.json").read_text())["levels"]
    assert level["rows"] == ["qaa", "qac", "rand"] and len(level["difference"]) == 3
    assert level["difference"][0][0] == 0.0 and set(level["relative"]) == {"qaa", "qac", "rand"}
    assert level["own"]["qac"]["mean"] == result_mean(imp_dirs / "qac", 2)
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 1 + 2 * 2 + 2 * 2  # own runs + transferred runs


def result_mean(folder, round_):
    levels = json.loads((folder / "imp.json").read_text())["levels"]
    return next(level["mean"] for level in levels if level["round"] == round_)


def test_transfer_refuses_imp_results_of_other_runs_or_languages(world, imp_dirs, tmp_path):
    argv = ["subnetworks-transfer", "--task", "ner", "--langs", "qaa", "qac", "--imp", f"qaa={imp_dirs / 'qaa'}",
            f"qac={imp_dirs / 'qac'}", "--rounds", "2", "--model", str(world.dense), "--runs", "0",
            "--json", str(tmp_path / "t.json"), "--csv", str(tmp_path / "t.csv"), "--relative-csv",
            str(tmp_path / "r.csv"), *RECIPE, *ner_data(world, ["qaa", "qac"])]  # fmt: skip
    assert cli_main(argv) == 2 and not (tmp_path / "t.json").exists()
    from langtickets.analysis.transfer_matrix import read_imp

    with pytest.raises(InputError, match="runs"):
        read_imp(imp_dirs / "qaa", "ner", "qaa", [0])
    with pytest.raises(InputError, match="not ner qac"):
        read_imp(imp_dirs / "qaa", "ner", "qac", [0, 1])


def tokens(world, tmp_path):
    lines = (world.root / "text.txt").read_text(encoding="utf-8").splitlines()
    with gzip.open(tmp_path / "sentences.txt.gz", "wt", encoding="utf-8") as handle:
        for index, line in enumerate(lines[:400]):
            handle.write(line + ("\n\n" if index % 10 == 9 else "\n"))
    out = tmp_path / "tokens"
    argv = ["tokenize", "--lang", "qaa", "--sentences", str(tmp_path / "sentences.txt.gz"), "--tokenizer",
            str(world.dense / "tokenizer.json"), "--train", str(out / "train.bin"), "--valid", str(out / "valid.bin"),
            "--meta", str(out / "meta.json"), "--validation-fraction", "0.2", "--seed", "1"]  # fmt: skip
    assert cli_main(argv) == 0
    return out


def test_mlm_imp_is_byte_identical_on_rerun(world, tmp_path):
    shard = tokens(world, tmp_path)
    for out in ("one", "two"):
        argv = ["subnetworks-imp", "--task", "mlm", "--lang", "qaa", "--model", str(world.dense), "--runs", "0",
                "--rate", "0.5", "--rounds", "1", "--tokens", f"qaa={shard}", "--updates", "3", "--batch-size", "4",
                "--seq-len", "16", "--eval-batches", "2", "--eval-sequences", "4", "--device", "cpu", "--seed", "7",
                "--model-name", "dense", "--out-dir", str(tmp_path / out)]  # fmt: skip
        assert cli_main(argv) == 0
    for name in ("imp.json", "imp.csv", "masks/round01.safetensors"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    result = json.loads((tmp_path / "one" / "imp.json").read_text())
    assert result["metric"] == "perplexity" and result["higher_is_better"] is False
    assert result["levels"][0]["runs"][0]["score"] > 1.0


def test_heads_command_writes_importance_dissociation_and_curves(world, tmp_path):
    units = ["ner/qaa", "nli/qaa", "ner/qac"]
    files = {"ner/qaa": ("bio", "qaa", "ner"), "nli/qaa": ("americasnli", "qaa", "nli"),
             "ner/qac": ("bio", "qac", "ner")}  # fmt: skip
    argv = ["subnetworks-heads", "--model", str(world.dense), "--model-name", "dense", "--units", *units,
            "--format", *(f"{u}={f[0]}" for u, f in files.items())]  # fmt: skip
    for split in ("train", "test"):
        suffix = {"ner": "txt", "nli": "tsv"}
        argv += [f"--{split}", *(f"{u}={world.file(f[1], f'{f[2]}-{split}.{suffix[f[2]]}')}" for u, f in files.items())]
    argv += ["--alphas", "0.25", "0.5", "--fractions", "0", "0.5", "1", "--random-orders", "2",
             "--importance-examples", "5", "--batch-size", "8", "--max-updates", "3", "--max-length", "32",
             "--seed", "3", "--device", "cpu", "--out-dir", str(tmp_path)]  # fmt: skip
    assert cli_main(argv) == 0
    result = json.loads((tmp_path / "heads.json").read_text())
    assert result["units"] == units and (result["layers"], result["heads"]) == (2, 2)
    assert all(len(result["importance"][u]) == 2 and len(result["importance"][u][0]) == 2 for u in units)
    assert len(result["dissociation"]) == 2 * 3  # alphas x unordered pairs
    curves = [row for row in result["curves"] if row["fraction"] == 0.0]
    assert all(row["score"] == result["baseline"][row["unit"]] for row in curves)  # nothing pruned = the model
    assert {row["order"] for row in result["curves"]} == {"most", "least", "random"}
    for name, rows in (("importance.csv", 3 * 4), ("dissociation.csv", 6), ("pruning.csv", 3 * 3 * 3)):
        assert len((tmp_path / name).read_text().splitlines()) == 1 + rows

"""Every kind of bad input a user can hand the pipeline, through the command line the rules call.

Each case must exit with status 2 and print exactly one line, ``error: <file>[:<line>]: <problem>; <fix>``,
that names the offending file; the outputs the command was asked for must not exist afterwards. The README's
"Bad input" table lists these messages.
"""

from __future__ import annotations

import bz2
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from langtickets.cli import main as cli_main
from langtickets.model import ArchConfig, init_model, save_model
from langtickets.sft import SparseFineTuning

from .corpus.test_download import DUMP_NAME, mirror  # noqa: F401  (the loopback mirror fixture)
from .ticket_fixtures import make_shard, random_masks, script_ids

DEMO_TABLE = Path(__file__).resolve().parents[1] / "config" / "demo-languages.tsv"


@dataclass
class Case:
    argv: list[str]
    names: str  # the file the message must name
    outputs: list[Path] = field(default_factory=list)


def demo_dump(folder: Path) -> Path:
    path = folder / "qaawiki-demo-pages-articles.xml.bz2"
    subprocess.run([sys.executable, "-m", "langtickets", "make-demo", "dump", "--table", str(DEMO_TABLE),
                    "--lang", "qaa", "--seed", "1", "--documents", "12", "--out", str(path)],
                   check=True, capture_output=True)  # fmt: skip
    return path


def extract_case(tmp_path: Path, dump: Path) -> Case:
    docs, stats = tmp_path / "out" / "docs.jsonl.gz", tmp_path / "out" / "stats.json"
    argv = ["extract", "--lang", "qaa", "--dump", str(dump), "--docs", str(docs), "--stats", str(stats),
            "--processes", "1", "--min-chars", "50"]  # fmt: skip
    return Case(argv, dump.name, [docs, stats])


def corrupt_bz2(tmp_path: Path) -> Case:
    dump = demo_dump(tmp_path)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    dump.write_bytes(bytes(data))
    return extract_case(tmp_path, dump)


def truncated_xml(tmp_path: Path) -> Case:
    dump = demo_dump(tmp_path)
    xml = bz2.decompress(dump.read_bytes())
    dump.write_bytes(bz2.compress(xml[: len(xml) * 2 // 3]))
    return extract_case(tmp_path, dump)


def html_error_page(tmp_path: Path) -> Case:
    dump = tmp_path / "enwiki-20240101-pages-articles.xml.bz2"
    dump.write_bytes(b"<!DOCTYPE html><html><head><title>503</title></head><body>Service Unavailable</body></html>")
    return extract_case(tmp_path, dump)


def all_redirect_dump(tmp_path: Path) -> Case:
    page = "<page><title>A{0}</title><ns>0</ns><id>{0}</id><redirect title='B'/><revision><id>{0}</id>" \
           "<text xml:space='preserve'>#REDIRECT [[B]]</text></revision></page>"  # fmt: skip
    xml = "<mediawiki xmlns='http://www.mediawiki.org/xml/export-0.10/'>" + "".join(page.format(i) for i in range(1, 4))
    dump = tmp_path / "xxwiki-20240101-pages-articles.xml.bz2"
    dump.write_bytes(bz2.compress((xml + "</mediawiki>").encode()))
    return extract_case(tmp_path, dump)


def unknown_language(tmp_path: Path) -> Case:
    out = tmp_path / "zzwiki.xml.bz2"
    argv = ["make-demo", "dump", "--table", str(DEMO_TABLE), "--lang", "zz", "--seed", "1", "--documents", "3",
            "--out", str(out)]  # fmt: skip
    return Case(argv, DEMO_TABLE.name, [out])


def conllu(tmp_path: Path, body: str) -> Case:
    path = tmp_path / "bad.conllu"
    path.write_text("# sent_id = 1\n" + body + "\n")
    report = tmp_path / "report.json"
    return Case(["task-data", "--task", "dep", "--format", "conllu", "--split", f"train={path}", "--output",
                 str(report)], "bad.conllu:", [report])  # fmt: skip


def conllu_head_out_of_range(tmp_path: Path) -> Case:
    return conllu(tmp_path, "1\tA\ta\tNOUN\t_\t_\t0\troot\t_\t_\n2\tB\tb\tVERB\t_\t_\t7\tobj\t_\t_\n")


def conllu_cycle(tmp_path: Path) -> Case:
    rows = ["1\tA\ta\tVERB\t_\t_\t0\troot\t_\t_", "2\tB\tb\tNOUN\t_\t_\t3\tnmod\t_\t_",
            "3\tC\tc\tNOUN\t_\t_\t2\tobj\t_\t_"]  # 2 and 3 head each other: never reach the root
    return conllu(tmp_path, "\n".join(rows) + "\n")


def conllu_missing_columns(tmp_path: Path) -> Case:
    return conllu(tmp_path, "1\tA\ta\tNOUN\t_\t_\t0\n")


def ner_invalid_bio(tmp_path: Path) -> Case:
    path = tmp_path / "bad-ner.txt"
    path.write_text("Paris B-LOC\nis O\nnice O\n\nthe O\nUnited I-ORG\nNations I-ORG\n\n")
    return Case(["task-data", "--task", "ner", "--format", "masakhaner", "--split", f"train={path}"], "bad-ner.txt:")


def nli_label(tmp_path: Path, label: str) -> Case:
    path = tmp_path / "bad-nli.tsv"
    path.write_text(f"language\tpremise\thypothesis\tlabel\nen\tA man sleeps.\tSomeone rests.\tentailment\n"
                    f"en\tA dog barks.\tA cat meows.\t{label}\n")  # fmt: skip
    return Case(["task-data", "--task", "nli", "--format", "americasnli", "--split", f"test={path}"], "bad-nli.tsv:")


def nli_unknown_label(tmp_path: Path) -> Case:
    return nli_label(tmp_path, "maybe")


def nli_missing_label(tmp_path: Path) -> Case:
    return nli_label(tmp_path, "")


def tiny_model_dir(folder: Path, layers: int = 2) -> Path:
    arch = ArchConfig(vocab_size=120, hidden=16, layers=layers, heads=4, intermediate=32, max_position=64)
    model = init_model(arch, seed=0)
    tokenizer = folder.parent / "tokenizer.json"
    if not tokenizer.exists():
        from tokenizers import Tokenizer, models

        vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])}
        vocab |= {f"w{i}": i for i in range(5, 120)}
        Tokenizer(models.WordPiece(vocab, unk_token="[UNK]")).save(str(tokenizer))
    save_model(model, folder, name="base", tokenizer=tokenizer)
    return folder


def tokenizer_mismatch(tmp_path: Path) -> Case:
    model = tiny_model_dir(tmp_path / "model")
    shard = tmp_path / "tokens" / "lat"
    make_shard(shard, "lat", script_ids(0, 2000))  # made with "another" tokenizer (sha 000...)
    out = tmp_path / "pretrain"
    argv = ["pretrain", "--variant", "dense", "--init", str(model), "--tokens", str(shard / "meta.json"),
            "--langs", "lat", "--out-dir", str(out), "--steps", "2", "--batch-size", "2", "--seq-len-short", "8",
            "--seq-len-long", "8", "--seed", "0", "--uc-layers", "none"]  # fmt: skip
    return Case(argv, "tokenizer.json", [out / "model", out / "train_log.jsonl"])


def masks_for_another_architecture(tmp_path: Path) -> Case:
    from langtickets.masks import TicketShape

    model = tiny_model_dir(tmp_path / "model", layers=2)
    other = init_model(ArchConfig(vocab_size=120, hidden=16, layers=3, heads=4, intermediate=32, max_position=64), 0)
    masks = tmp_path / "masks.safetensors"
    random_masks(TicketShape.of_model(other)).save(masks)
    out = tmp_path / "export"
    argv = ["export-ticket", "--model", str(model), "--masks", str(masks), "--lang", "lat", "--out", str(out)]
    return Case(argv, "masks.safetensors", [out])


CASES = {
    "corrupt bz2": corrupt_bz2,
    "truncated XML": truncated_xml,
    "HTML error page saved as a dump": html_error_page,
    "dump with no articles (all redirects)": all_redirect_dump,
    "unknown language": unknown_language,
    "CoNLL-U head out of range": conllu_head_out_of_range,
    "CoNLL-U cycle": conllu_cycle,
    "CoNLL-U missing columns": conllu_missing_columns,
    "NER invalid BIO sequence": ner_invalid_bio,
    "NLI unknown label": nli_unknown_label,
    "NLI missing label": nli_missing_label,
    "tokens made with another tokenizer": tokenizer_mismatch,
    "ticket masks for another architecture": masks_for_another_architecture,
}


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    status = cli_main(argv)
    err = capsys.readouterr().err
    return status, [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line_and_leaves_nothing(name, tmp_path, capsys):
    case = CASES[name](tmp_path)
    torch.set_num_threads(1)
    status, errors = run_cli(case.argv, capsys)
    assert status == 2, name
    assert len(errors) == 1, errors
    assert case.names in errors[0], f"{name}: the message must name {case.names}: {errors[0]}"
    assert ";" in errors[0], f"{name}: the message must say how to fix it: {errors[0]}"
    leftovers = [path for path in case.outputs if path.exists()]
    assert not leftovers, f"{name}: partial output left behind: {leftovers}"
    print(f"{name}: {errors[0]}")


def test_checksum_mismatch_deletes_the_download(mirror, tmp_path, capsys):  # noqa: F811
    mirror.files["/fowiki/20240101/fowiki-20240101-sha1sums.txt"] = f"{'f' * 40}  {DUMP_NAME}\n".encode()
    out = tmp_path / DUMP_NAME
    status, errors = run_cli(["download", "--mirror", mirror.url, "--wiki", "fo", "--date", "20240101",
                              "--algorithm", "sha1", "--out", str(out), "--checksums-out", str(tmp_path / "sums"),
                              "--allow-loopback-http"], capsys)  # fmt: skip
    assert status == 2 and len(errors) == 1 and DUMP_NAME in errors[0] and "f" * 40 in errors[0]
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_sft_for_another_architecture_is_refused_before_changing_anything(tmp_path):
    from langtickets.errors import InputError
    from langtickets.sft.sparse import SftInfo, SparseDiff

    def bert(hidden: int):
        return init_model(ArchConfig(vocab_size=120, hidden=hidden, layers=2, heads=4, intermediate=2 * hidden,
                                     max_position=64), 0)  # fmt: skip

    name = "bert.encoder.layer.0.output.dense.weight"
    wide = dict(bert(24).named_parameters())[name]
    diff = SparseDiff(torch.tensor([0, 5]), torch.tensor([0.1, -0.2]), tuple(wide.shape))
    path = tmp_path / "lang.safetensors"
    SparseFineTuning({name: diff}, {}, SftInfo(kind="language")).save(path)
    model = bert(16)
    before = {key: p.detach().clone() for key, p in model.named_parameters()}
    with pytest.raises(InputError, match=r"lang\.safetensors") as error:
        SparseFineTuning.load(path).apply(model)
    assert "\n" not in str(error.value)
    assert all(torch.equal(before[key], p) for key, p in model.named_parameters())

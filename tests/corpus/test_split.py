"""split: Moses splitting in several scripts, prefix sources, stanza/trankit fallbacks, output format."""

from __future__ import annotations

import gzip
import json
import sys
import types
from pathlib import Path

import pytest

from langtickets.cli import main as cli_main
from langtickets.corpus import splitters
from langtickets.corpus.extract import run as extract
from langtickets.corpus.split import run as split
from langtickets.corpus.splitters import MosesSplitter, SplitterUnavailable, prefix_source
from langtickets.errors import ConfigError, InputError
from langtickets.io import read_json

HEADER = "code\twiki\tname\tfamily\tgenus\tscript\tsplitter\tiso639_3\tglottocode\tmbert\n"
ROWS = {
    "de": "de\tde\tGerman\tIndo-European\tGermanic\tLatn\tmoses\tdeu\tstan1295\tyes\n",
    "th": "th\tth\tThai\tTai-Kadai\tKam-Tai\tThai\tstanza\ttha\tthai1261\tyes\n",
    "he": "he\the\tHebrew\tAfro-Asiatic\tSemitic\tHebr\ttrankit\theb\thebr1245\tyes\n",
    "ne": "ne\tne\tNepali\tIndo-European\tIndo-Iranian\tDeva\ttrankit\tnep\tnepa1254\tyes\n",
}


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Dr. Smith arrived at 5 p.m. on Monday. It was late! Was it? Yes.",
         ["Dr. Smith arrived at 5 p.m. on Monday.", "It was late!", "Was it?", "Yes."]),
        ("de", "Dr. Müller kam z. B. am 3. Mai. Er blieb lange.",
         ["Dr. Müller kam z. B. am 3. Mai.", "Er blieb lange."]),
        ("ru", "Москва — столица России. В 2020 г. там жили 12 млн человек. Это много.",
         ["Москва - столица России.", "В 2020 г. там жили 12 млн человек.", "Это много."]),
        ("zh", "柏林是德国首都。它是最大的城市！人口多少？他说：“你好。”然后走了。",
         ["柏林是德国首都。", "它是最大的城市！", "人口多少？", '他说："你好。"', "然后走了。"]),
        ("ja", "東京は首都です。「はい。」と彼は言った。", ["東京は首都です。", "「はい。」と彼は言った。"]),
        ("ar", "القاهرة عاصمة مصر. هل هي كبيرة؟ نعم، جدا.", ["القاهرة عاصمة مصر.", "هل هي كبيرة؟", "نعم، جدا."]),
        ("hi", "डॉ. शर्मा दिल्ली आए। क्या वे रुके? हाँ।", ["डॉ. शर्मा दिल्ली आए।", "क्या वे रुके?", "हाँ।"]),
        ("hy", "Երևանը մայրաքաղաքն է։ Այն մեծ քաղաք է։", ["Երևանը մայրաքաղաքն է։", "Այն մեծ քաղաք է։"]),
        ("ga", "Tháinig an Dr. Ó Briain inné. Bhí sé déanach.", ["Tháinig an Dr. Ó Briain inné.", "Bhí sé déanach."]),
    ],
)
def test_moses_splits_sentences_in_several_scripts(lang, text, expected):
    assert MosesSplitter(lang).split(text) == expected


def test_paragraphs_never_share_a_sentence():
    assert MosesSplitter("en").split("First heading\nA sentence without a stop\nNext one.") == [
        "First heading", "A sentence without a stop", "Next one."]


def test_prefix_sources_and_generic_rules():
    assert prefix_source("de") == "sentence-splitter:de"
    assert prefix_source("hi") == "sacremoses:hi" and prefix_source("ga") == "sacremoses:ga"
    assert prefix_source("ja") == prefix_source("qaa") == "generic"
    # Without a prefix list "Dr." ends a sentence; the sacremoses list for Irish keeps it.
    assert MosesSplitter("qaa").split("Tháinig an Dr. Ó Briain.") == ["Tháinig an Dr.", "Ó Briain."]


def _table(tmp_path: Path, *codes: str) -> Path:
    path = tmp_path / "languages.tsv"
    path.write_text(HEADER + "".join(ROWS[code] for code in codes), encoding="utf-8")
    return path


def _docs(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "docs.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for number, text in enumerate(texts):
            handle.write(json.dumps({"id": str(number), "title": f"T{number}", "text": text}) + "\n")
    return path


def _split_cli(tmp_path: Path, lang: str, splitter: str, docs: Path, *extra: str) -> int:
    return cli_main(["split", "--lang", lang, "--splitter", splitter, "--table", str(_table(tmp_path, lang)),
                     "--docs", str(docs), "--out", str(tmp_path / "sentences.txt.gz"),
                     "--stats", str(tmp_path / "split_stats.json"), *extra])


def test_output_has_one_sentence_a_line_and_a_blank_line_between_documents(tmp_path):
    docs = _docs(tmp_path, ["Eins ist hier. Zwei folgt.", "", "Drei kommt.\nVier auch."])
    assert _split_cli(tmp_path, "de", "moses", docs) == 0
    first = (tmp_path / "sentences.txt.gz").read_bytes()
    assert gzip.decompress(first).decode() == "Eins ist hier.\nZwei folgt.\n\nDrei kommt.\nVier auch.\n"
    stats = read_json(tmp_path / "split_stats.json")
    assert stats["documents"] == 3 and stats["documents_without_sentences"] == 1 and stats["sentences"] == 4
    assert stats["used"] == "moses" and stats["prefix_source"] == "sentence-splitter:de" and stats["fallback"] is None
    assert _split_cli(tmp_path, "de", "moses", docs, "--processes", "2") == 0
    assert (tmp_path / "sentences.txt.gz").read_bytes() == first  # deterministic, whatever the process count


def test_parallel_split_keeps_document_order(tmp_path):
    docs = _docs(tmp_path, [f"Satz {i} ist hier. Noch {i}." if i % 7 else "" for i in range(200)])
    outputs = []
    for processes in (1, 2):
        out = tmp_path / f"p{processes}.txt.gz"
        split("de", "moses", _table(tmp_path, "de"), docs, out, tmp_path / "s.json", processes=processes)
        outputs.append(gzip.decompress(out.read_bytes()).decode())
    assert outputs[0] == outputs[1] and outputs[0].startswith("Satz 1 ist hier.\nNoch 1.\n\nSatz 2 ist hier.")
    assert outputs[0].count("\n\n") == sum(1 for i in range(200) if i % 7) - 1


def test_real_extracted_text_is_split(shared_data, tmp_path):
    docs = tmp_path / "docs.jsonl.gz"
    extract("de", shared_data / "wikipedia" / "minidumps" / "dewiki-minidump.xml.bz2", docs, tmp_path / "s.json",
            processes=1)
    record = split("de", "moses", _table(tmp_path, "de"), docs, tmp_path / "out.txt.gz", tmp_path / "stats.json",
                   processes=2)
    lines = gzip.decompress((tmp_path / "out.txt.gz").read_bytes()).decode().split("\n")
    sentences = [line for line in lines if line]
    assert record["sentences"] == len(sentences) > 100 and lines.count("") == record["documents"]
    assert sum(line.endswith((".", "!", "?", ":")) for line in sentences) / len(sentences) > 0.6


def test_missing_stanza_is_a_config_error_without_fallback(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "stanza", None)  # import fails, as where the package is absent
    assert _split_cli(tmp_path, "th", "stanza", _docs(tmp_path, ["ประโยคหนึ่ง ประโยคสอง"])) == 2
    message = capsys.readouterr().err
    assert "'th'" in message and "stanza" in message and "corpus.splitter_fallback: true" in message
    assert not (tmp_path / "sentences.txt.gz").exists() and not (tmp_path / "split_stats.json").exists()


def test_missing_trankit_falls_back_to_moses_when_allowed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trankit", None)
    docs = _docs(tmp_path, ["ירושלים היא עיר. היא גדולה."])
    assert _split_cli(tmp_path, "he", "trankit", docs, "--fallback-moses") == 0
    stats = read_json(tmp_path / "split_stats.json")
    assert stats["splitter"] == "trankit" and stats["used"] == "moses" and stats["fallback"] == "moses"
    assert "trankit" in stats["reason"] and stats["sentences"] == 2


def test_stanza_pipeline_is_called_offline_with_the_tokenizer_only(tmp_path, monkeypatch):
    calls = {}

    class Pipeline:
        def __init__(self, **kwargs):
            calls.update(kwargs)

        def __call__(self, text):
            sentence = types.SimpleNamespace
            return types.SimpleNamespace(sentences=[sentence(text=part) for part in text.split("\n\n")])

    monkeypatch.setitem(sys.modules, "stanza", types.SimpleNamespace(Pipeline=Pipeline))
    splitter = splitters.StanzaSplitter("th", model_dir=str(tmp_path))
    assert splitter.split("ก ข\n\nค\n") == ["ก ข", "ค"]
    assert calls["lang"] == "th" and calls["processors"] == "tokenize" and calls["download_method"] is None
    assert calls["dir"] == str(tmp_path) and splitter.info["model"] == "stanza:th"


def test_trankit_needs_its_downloaded_model_and_uses_arabic_for_nepali(tmp_path, monkeypatch):
    made = []

    class Pipeline:
        def __init__(self, lang, cache_dir, gpu):
            made.append((lang, cache_dir, gpu))

        def ssplit(self, text):
            return {"sentences": [{"id": 1, "text": text.replace("\n\n", " ")}]}

    monkeypatch.setitem(sys.modules, "trankit", types.SimpleNamespace(Pipeline=Pipeline))
    with pytest.raises(SplitterUnavailable, match="'arabic' is not downloaded"):
        splitters.TrankitSplitter("ne", model_dir=str(tmp_path))
    marker = tmp_path / "xlm-roberta-base" / "arabic" / "arabic.downloaded"
    marker.parent.mkdir(parents=True)
    marker.write_text("")
    splitter = splitters.TrankitSplitter("ne", model_dir=str(tmp_path))
    assert made == [("arabic", str(tmp_path), False)] and splitter.split("क ख\nग") == ["क ख ग"]


def test_splitter_must_match_the_language_table(tmp_path):
    with pytest.raises(ConfigError, match="uses the 'moses' splitter"):
        split("de", "stanza", _table(tmp_path, "de"), _docs(tmp_path, ["Satz."]), tmp_path / "o.gz",
              tmp_path / "s.json")


def test_empty_or_malformed_documents_are_input_errors(tmp_path):
    table = _table(tmp_path, "de")
    with pytest.raises(InputError, match="no documents"):
        split("de", "moses", table, _docs(tmp_path, []), tmp_path / "o.gz", tmp_path / "s.json")
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"id": "1", "text": "Gut."}\n{"id": "2"}\n'))
    with pytest.raises(InputError, match=r"bad.jsonl.gz:2: .*'text'"):
        split("de", "moses", table, bad, tmp_path / "o.gz", tmp_path / "s.json")
    assert not (tmp_path / "o.gz").exists() and not (tmp_path / "s.json").exists()

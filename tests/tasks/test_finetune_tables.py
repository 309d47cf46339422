"""``langtickets eval-table``: Tables 1-2 layout (models x languages + avg [+ FLOPs]), mean ± std over runs."""

from __future__ import annotations

import csv

import pytest

from langtickets.cli import main
from langtickets.io import write_json

SCORES = {  # model -> lang -> per-run scores in [0, 1]
    "dense": {"qaa": [0.80, 0.90], "qac": [0.70, 0.70]},
    "ticket-snip": {"qaa": [0.85, 0.85], "qac": [0.75, 0.80]},
    "mbert": {"qaa": [0.60, 0.62]},  # no qac: no average
}
FLOPS = [
    "arch,method,lang,seq_len,encoder_macs,head_macs,encoder_mflops,total_mflops",
    "base,dense,all,32,1,1,0.100,0.900",
    "scaled,dense,all,32,1,1,0.150,1.350",
    "scaled,snip,qaa,32,1,1,0.090,0.850",
    "scaled,snip,mean,32,1,1,0.095,0.875",
]


def write_metrics(folder, task="pos", metrics=lambda v: {"accuracy": v}, metric="accuracy"):
    paths = []
    for model, langs in SCORES.items():
        for lang, runs in langs.items():
            for run, value in enumerate(runs):
                path = folder / model / task / "in-language" / lang / f"seed{run}.json"
                write_json(path, {"model": model, "task": task, "protocol": "in-language", "lang": lang, "run": run,
                                  "metric": metric, "score": value, "metrics": metrics(value)})  # fmt: skip
                paths.append(str(path))
    return paths


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_rows_are_models_columns_languages_avg_and_flops(tmp_path, capsys):
    flops = tmp_path / "flops.csv"
    flops.write_text("\n".join(FLOPS) + "\n", encoding="utf-8")
    paths = write_metrics(tmp_path / "eval")
    assert main(["eval-table", "--inputs", *paths, "--out-dir", str(tmp_path / "tables"), "--flops", str(flops)]) == 0
    rows = read_csv(tmp_path / "tables" / "pos-in-language-accuracy.csv")
    assert list(rows[0]) == ["model", "runs", "qaa", "qaa_std", "qac", "qac_std", "avg", "avg_std", "flops_m"]
    assert [row["model"] for row in rows] == ["dense", "ticket-snip", "mbert"]
    dense, ticket, mbert = rows
    assert float(dense["qaa"]) == pytest.approx(85.0) and float(dense["qaa_std"]) == pytest.approx(7.0711, abs=1e-4)
    assert float(dense["avg"]) == pytest.approx(77.5)  # mean over languages of the per-language means
    assert float(dense["avg_std"]) == pytest.approx(3.5355, abs=1e-4)  # std of per-run averages (75, 80)
    assert (dense["flops_m"], ticket["flops_m"], mbert["flops_m"]) == ("0.900", "0.875", "")
    assert mbert["qac"] == "" and mbert["avg"] == ""  # a missing language leaves no average
    markdown = (tmp_path / "tables" / "pos-in-language-accuracy.md").read_text(encoding="utf-8")
    assert "| model | qaa | qac | avg | FLOPS(M) |" in markdown
    assert "| dense | 85.00 ± 7.07 | 70.00 ± 0.00 | 77.50 ± 3.54 | 0.900 |" in markdown
    assert "[eval-table] done" in capsys.readouterr().err


def test_flops_column_is_left_out_without_the_ticket_stage_and_dep_gets_las_and_uas(tmp_path):
    paths = write_metrics(tmp_path / "eval", "dep", lambda v: {"las": v, "uas": min(1.0, v + 0.1)}, "las")
    out = tmp_path / "tables"
    assert main(["eval-table", "--inputs", *paths, "--out-dir", str(out), "--flops", str(tmp_path / "none.csv")]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "dep-in-language-las.csv", "dep-in-language-las.md", "dep-in-language-uas.csv", "dep-in-language-uas.md",
    ]  # fmt: skip
    assert "flops_m" not in read_csv(out / "dep-in-language-las.csv")[0]
    assert float(read_csv(out / "dep-in-language-uas.csv")[0]["qaa"]) == pytest.approx(95.0)
    assert "FLOPS" not in (out / "dep-in-language-las.md").read_text(encoding="utf-8")


def test_bad_metrics_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "seed0.json"
    write_json(bad, {"model": "dense", "task": "pos"})
    assert main(["eval-table", "--inputs", str(bad), "--out-dir", str(tmp_path / "tables")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {bad}: metrics file lacks protocol, lang, run, metrics")
    assert not (tmp_path / "tables").exists()

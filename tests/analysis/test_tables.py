"""tables: perplexity, FLOPs and density tables as CSV and Markdown, built only from files under results/."""

from __future__ import annotations

import csv
import json

import pytest

from langtickets.analysis.common import Table, table_markdown
from langtickets.analysis.tables import TABLES, density_table, flops_table, main, perplexity_table
from langtickets.errors import InputError


def perplexity_file(path, variant, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    langs = {lang: {"loss": 1.0, "perplexity": value, "masked_tokens": 10, "sequences": 2} for lang, value in values.items()}
    path.write_text(json.dumps({"variant": variant, "languages": langs, "ticket": False}))
    return path


def test_perplexity_rows_per_variant_with_the_mean(tmp_path):
    files = [perplexity_file(tmp_path / "dense.json", "dense", {"qaa": 10.0, "qab": 20.0}),
             perplexity_file(tmp_path / "snip.json", "ticket-snip", {"qab": 9.0, "qaa": 7.0})]
    table = perplexity_table(files)
    assert table.columns == ("variant", "qaa", "qab", "avg")
    assert table.rows[0]["avg"] == 15.0 and table.rows[1]["qab"] == 9.0
    perplexity_file(tmp_path / "odd.json", "wide", {"qaa": 1.0})
    with pytest.raises(InputError, match="differ"):
        perplexity_table([*files, tmp_path / "odd.json"])


def test_flops_rows_name_their_variant(tmp_path):
    path = tmp_path / "flops.csv"
    path.write_text(
        "arch,method,lang,seq_len,encoder_macs,head_macs,encoder_mflops,total_mflops\n"
        "base,dense,all,32,20480,65024,0.041,0.171\n"
        "scaled,snip,qaa,32,21856,65024,0.044,0.174\n"
        "scaled,snip,qab,32,19136,65024,0.038,0.168\n"
        "scaled,snip,mean,32,20496,65024,0.041,0.171\n"
    )
    rows = flops_table([path]).rows
    assert [(r["variant"], r["method"]) for r in rows] == [("dense", "dense"), ("ticket-snip", "snip")]
    assert rows[1]["total_mflops_min"] == 0.168 and rows[1]["total_mflops_max"] == 0.174
    (tmp_path / "bad.csv").write_text("arch,method\nbase,dense\n")
    with pytest.raises(InputError, match="columns"):
        flops_table([tmp_path / "bad.csv"])


def test_density_summary_from_the_path_grammar(tmp_path):
    path = tmp_path / "results/tickets/scaled/snip/density.csv"
    path.parent.mkdir(parents=True)
    path.write_text("lang,layer,kind,kept,total,density\n"
                    "qaa,0,mu_q,3,4,0.75\nqaa,0,mu_w,2,8,0.25\nqab,0,mu_q,1,4,0.25\nqab,0,mu_w,8,8,1.0\n")
    (row,) = density_table([path]).rows
    assert (row["arch"], row["method"], row["languages"]) == ("scaled", "snip", 2)
    assert row["density_min"] == pytest.approx(5 / 12) and row["density_max"] == pytest.approx(9 / 12)
    assert row["mu_q"] == 0.5 and row["mu_v"] is None


def test_markdown_and_cli_outputs(tmp_path):
    table = Table(("variant", "avg"), ({"variant": "a|b", "avg": 1.23456},), decimals=2)
    assert table_markdown(table, "T").splitlines() == ["# T", "", "| variant | avg |", "|---|---:|", "| a\\|b | 1.23 |"]
    file = perplexity_file(tmp_path / "p.json", "dense", {"qaa": 3.0, "qab": 5.0})
    assert main(["perplexity", "--inputs", str(file), "--csv", str(tmp_path / "t.csv"), "--md", str(tmp_path / "t.md")]) == 0
    assert list(csv.reader((tmp_path / "t.csv").open())) == [["variant", "qaa", "qab", "avg"], ["dense", "3.00", "5.00", "4.00"]]
    assert (tmp_path / "t.md").read_text().startswith("# " + TABLES["perplexity"].title)

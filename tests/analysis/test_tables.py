"""tables: perplexity, FLOPs and density tables as CSV and Markdown, built only from files under results/."""

from __future__ import annotations

import csv
import json

import pytest

from langtickets.analysis.common import Table, table_markdown
from langtickets.analysis.tables import (
    TABLES,
    density_table,
    dissociation_table,
    flops_table,
    imp_winning_table,
    main,
    perplexity_table,
    relative_transfer_table,
)
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


def test_a_language_without_validation_text_is_an_empty_cell_left_out_of_the_mean(tmp_path):
    table = perplexity_table([perplexity_file(tmp_path / "dense.json", "dense", {"qaa": 10.0, "af": None, "qab": 20.0})])
    assert table.rows[0]["af"] is None and table.rows[0]["avg"] == 15.0
    assert "|  |" in table_markdown(table, "t") or "| |" in table_markdown(table, "t")


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


def imp_file(path, task, lang, means, winning_sparsity, randoms):
    """An imp.json with levels at 0, 0.25, 0.5 (``means``) and random baselines ``{sparsity: mean}``."""
    levels = [{"sparsity": 0.25 * i, "mean": m, "std": 0.5, "selected_update": 10 + i} for i, m in enumerate(means)]
    random = [{"sparsity": s, "mean": m, "std": 0.0} for s, m in randoms.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"task": task, "lang": lang, "metric": "f1", "dense": {"mean": means[0], "std": 0.5,
                                "selected_update": 10}, "levels": levels, "random": random,
                                "max_winning_sparsity": winning_sparsity}))  # fmt: skip
    return path


def test_imp_winning_table_is_table_2(tmp_path):
    files = [imp_file(tmp_path / "ner/qaa/imp.json", "ner", "qaa", [80.0, 79.8, 79.6], 0.5, {0.5: 60.0}),
             imp_file(tmp_path / "ner/qac/imp.json", "ner", "qac", [70.0, 69.8, 60.0], 0.25, {0.5: 50.0, 0.75: 40.0}),
             imp_file(tmp_path / "ner/qae/imp.json", "ner", "qae", [70.0, 60.0, 50.0], None, {0.5: 50.0})]  # fmt: skip
    first, second, third = imp_winning_table(files).rows
    assert (first["dense"], first["winning"], first["sparsity_pct"], first["random"]) == (80.0, 79.6, 50, 60.0)
    assert (first["dense_update"], first["winning_update"], first["random_sparsity_pct"]) == (10, 12, 50)
    # no random subnetwork at 25%: the nearest configured one, named by its sparsity
    assert (second["sparsity_pct"], second["random"], second["random_sparsity_pct"]) == (25, 50.0, 50)
    assert third["winning"] is None and third["random"] is None and third["dense"] == 70.0
    (tmp_path / "broken.json").write_text(json.dumps({"task": "ner"}))
    with pytest.raises(InputError, match="lang"):
        imp_winning_table([tmp_path / "broken.json"])


def test_relative_transfer_table_has_a_column_pair_per_sparsity(tmp_path):
    path = tmp_path / "transfer-relative.csv"
    path.write_text("task,round,sparsity,source,relative,successful\n"
                    "ner,5,0.5,qaa,-0.01,2\nner,5,0.5,qac,-0.02,1\nner,5,0.5,qae,,0\nner,5,0.5,rand,-0.2,\n"
                    "ner,8,0.8,qaa,-0.05,0\nner,8,0.8,qac,-0.06,0\nner,8,0.8,qae,-0.07,0\nner,8,0.8,rand,-0.4,\n")
    table = relative_transfer_table([path])
    assert table.columns == ("task", "source", "targets", "relative_50", "successful_50", "relative_80",
                             "successful_80")  # fmt: skip
    rows = {row["source"]: row for row in table.rows}
    assert list(rows) == ["qaa", "qac", "qae", "rand"]
    assert (rows["qaa"]["targets"], rows["qaa"]["relative_50"], rows["qaa"]["successful_80"]) == (2, -0.01, 0)
    assert rows["qae"]["relative_50"] is None  # a target scoring 0 has no relative drop
    assert (rows["rand"]["targets"], rows["rand"]["successful_50"], rows["rand"]["relative_80"]) == (3, None, -0.4)


def test_dissociation_table_averages_runs_per_pair(tmp_path):
    path = tmp_path / "dissociation.csv"
    header = "run,alpha,heads,a,b,rp_a_hb,rp_a_ha,rp_b_ha,rp_b_hb,d_a,d_b,d\n"
    path.write_text(header + "0,0.5,6,ner/qaa,ner/qac,0.9,0.5,0.8,0.6,0.4,0.2,0.3\n"
                             "1,0.5,6,ner/qaa,ner/qac,0.9,0.7,0.8,0.6,0.2,0.2,0.2\n"
                             "0,0.5,6,ner/qaa,nli/qaa,0.9,0.8,0.9,0.8,0.1,0.1,0.1\n"
                             "1,0.5,6,ner/qaa,nli/qaa,0.9,0.8,0.9,0.8,0.1,0.1,0.1\n"
                             "0,0.5,6,ner/qac,nli/qaa,1.0,0.9,,0.8,0.1,,\n")  # an undefined RP stays undefined
    language, task, both = dissociation_table([path]).rows
    assert (language["contrast"], task["contrast"], both["contrast"]) == ("language", "task", "task+language")
    assert language["d"] == pytest.approx(0.25) and language["rp_a_ha"] == pytest.approx(0.6)
    assert language["d_std"] == pytest.approx(0.0707107, abs=1e-6) and language["runs"] == 2
    assert both["d"] is None and both["d_std"] is None and both["d_a"] == pytest.approx(0.1)
    assert TABLES["head-dissociation"].build is dissociation_table

"""figures: every registered figure draws from hand-made analysis files, byte-identical on rerun."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from langtickets.analysis.interference import stability, uc_layers
from langtickets.analysis.overlap import overlap_report
from langtickets.analysis.transfer_matrix import level_summary
from langtickets.errors import ConfigError, InputError
from langtickets.figures.base import FIGURES, Options, figure_spec, style
from langtickets.figures.cli import draw, main, parse_options
from langtickets.io import write_json
from langtickets.masks import TicketMasks, TicketShape
from tests.analysis.test_interference import stability_file, uc_file
from tests.analysis.test_tables import imp_file

LANGS = ["qaa", "qab", "qac", "qad"]
FAMILIES = {"qaa": "Aralic", "qab": "Aralic", "qac": "Boreic", "qad": "Boreic"}


def structure_json(path):
    scores = {"silhouette_jaccard": 0.42, "silhouette_hamming": 0.4, "intra_mean_jaccard": 0.7,
              "inter_mean_jaccard": 0.5, "intra_minus_inter_jaccard": 0.2, "groups": 2,
              "null": {"permutations": 9, "silhouette_jaccard": {"mean": 0.0, "std": 0.1, "p_value": 0.1}}}
    methods = {m: {"umap": {lang: [float(i), float(i * i % 3)] for i, lang in enumerate(LANGS)},
                   "levels": {"family": scores}} for m in ("snip", "random")}
    write_json(path, {"arch": "scaled", "languages": LANGS, "labels": {"family": FAMILIES}, "methods": methods})
    return [path]


def overlap_json(path, method="snip"):
    shape = TicketShape(layers=2, hidden=8, intermediate=16, heads=2)
    generator = torch.Generator().manual_seed(0)
    masks = {key: torch.rand(len(LANGS), units, generator=generator) < 0.6 for key, units in shape.layout().items()}
    report = overlap_report(TicketMasks(tuple(LANGS), masks, shape, method, {"name": "scaled"}))
    write_json(path, report)
    return [path]


def overlap_jsons(path):
    return [overlap_json(path.with_name(f"{m}.json"), m)[0] for m in ("snip", "random")]


def uc_json(path):
    write_json(path, uc_layers({"dense": ("a", uc_file("dense")), "ticket-snip": ("b", uc_file("ticket-snip", 0.1))}, 10))
    return [path]


def stability_json(path):
    files = {v: ("s", stability_file([2.0, 3.0], [0.1, 0.05])) for v in ("dense", "ticket-snip", "wide", "custom")}
    write_json(path, stability(files))
    return [path]


def retrieval_jsons(path):
    paths = []
    for variant, base in (("dense", 0.3), ("ticket-snip", 0.4)):
        layers = {str(layer): {"top1": {"mean": base + 0.1 * layer}, "top5": {"mean": base + 0.2}} for layer in range(3)}
        paths.append(path.with_name(f"{variant}.json"))
        write_json(paths[-1], {"variant": variant, "languages": LANGS, "sentences": 20, "k": 4, "tops": [1, 5],
                               "layers": layers})
    return paths


#: figure name -> writer of its inputs (a figure of these modules without an entry fails test_every_figure_is_tested)
INPUTS = {
    "ticket-umap": structure_json,
    "jaccard-heatmaps": overlap_json,
    "jaccard-layers": overlap_jsons,
    "uc-layers": uc_json,
    "stability": stability_json,
    "retrieval": retrieval_jsons,
}


MODULES = ("langtickets.figures.tickets:", "langtickets.figures.interference:", "langtickets.figures.retrieval:")


def test_every_figure_is_tested():
    ours = {name for name, target in FIGURES.items() if target.startswith(MODULES)}
    assert ours == set(INPUTS)


def assert_redraws_identically(name, inputs, folder, options=None):
    """Draw figure ``name`` twice; PDF and PNG must be byte-identical and carry no timestamp or software tag.

    Reusable by the tests of any registered figure.
    """
    outputs = []
    for run in ("first", "second"):
        pdf, png = folder / run / f"{name}.pdf", folder / run / f"{name}.png"
        draw(name, inputs, pdf, png, Options(options or {}), dpi=60)  # a low dpi keeps tests fast
        outputs.append((pdf.read_bytes(), png.read_bytes()))
    assert outputs[0] == outputs[1]
    pdf_bytes, png_bytes = outputs[0]
    assert pdf_bytes.startswith(b"%PDF") and b"CreationDate" not in pdf_bytes
    assert png_bytes.startswith(b"\x89PNG") and b"Software" not in png_bytes


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_figure_is_byte_identical_on_rerun(name, tmp_path):
    assert_redraws_identically(name, INPUTS[name](tmp_path / "input.json"), tmp_path)


def test_same_bytes_from_another_process(tmp_path):
    inputs = INPUTS["ticket-umap"](tmp_path / "structure.json")
    draw("ticket-umap", inputs, tmp_path / "here.pdf", tmp_path / "here.png", Options())
    env = {**os.environ, "PYTHONHASHSEED": "123", "MPLBACKEND": "pdf"}
    subprocess.run([sys.executable, "-m", "langtickets", "figure", "ticket-umap", "--inputs", *map(str, inputs),
                    "--pdf", str(tmp_path / "there.pdf"), "--png", str(tmp_path / "there.png")],
                   check=True, env=env, capture_output=True)
    assert (tmp_path / "here.pdf").read_bytes() == (tmp_path / "there.pdf").read_bytes()
    assert (tmp_path / "here.png").read_bytes() == (tmp_path / "there.png").read_bytes()


def test_umap_figure_has_a_panel_per_method_with_codes_and_families(tmp_path):
    inputs = structure_json(tmp_path / "s.json")
    with style():
        fig = figure_spec("ticket-umap").draw(inputs, Options(methods="snip,random"))
        panels = [ax for ax in fig.axes if ax.get_title()]
        assert [ax.get_title().split("\n")[0] for ax in panels] == ["SNIP (multilingual) tickets", "random tickets"]
        assert "silhouette 0.42" in panels[0].get_title()
        assert {t.get_text() for t in panels[0].texts} == set(LANGS)
        legend = fig.legends[0]
        assert [t.get_text() for t in legend.get_texts()] == ["Aralic", "Boreic"]


def test_heatmaps_label_axes_with_language_codes_and_have_a_colour_bar(tmp_path):
    inputs = overlap_json(tmp_path / "o.json")
    with style():
        fig = figure_spec("jaccard-heatmaps").draw(inputs, Options(kinds="all,mu_w"))
        heatmaps = [ax for ax in fig.axes if ax.images]
        assert len(heatmaps) == 2 * 2 + 1, "two kinds x two layers, plus the whole ticket"
        assert [t.get_text() for t in heatmaps[0].get_yticklabels()] == LANGS
        assert any(ax.get_ylabel() == "Jaccard similarity" for ax in fig.axes), "colour bar"
        with pytest.raises(ConfigError, match="no mask kind"):
            figure_spec("jaccard-heatmaps").draw(inputs, Options(kinds="mu_x"))


def test_line_figures_label_their_axes_and_name_every_variant(tmp_path):
    with style():
        uc = figure_spec("uc-layers").draw(uc_json(tmp_path / "uc.json"), Options())
        (ax,) = uc.axes
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("layer", "mean uc over language pairs")
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dense", "ticket-snip"]
        panels = [ax for ax in figure_spec("stability").draw(stability_json(tmp_path / "s.json"), Options()).axes
                  if ax.get_title()]  # fmt: skip
        assert [ax.get_title() for ax in panels] == ["dense", "ticket-snip", "wide", "custom"]
        assert all(ax.get_xlabel() == "step" and ax.get_legend() is not None for ax in panels)
        retrieval = figure_spec("retrieval").draw(retrieval_jsons(tmp_path / "r.json"), Options())
        assert [t.get_text() for t in retrieval.legends[0].get_texts()] == ["dense", "ticket-snip", "chance"]
        assert [ax.get_ylabel() for ax in retrieval.axes] == ["retrieval accuracy"] * 2


def transfer_json(path):
    langs = LANGS[:3]
    own = {lang: {"mean": 80.0 + i, "std": 1.0} for i, lang in enumerate(langs)}
    random = {lang: {"mean": 60.0} for lang in langs}
    transferred = {(s, t): {"mean": 79.0 + i - j} for i, s in enumerate(langs) for j, t in enumerate(langs) if s != t}
    level = {"round": 2, "sparsity": 0.5, **level_summary(langs, own, random, transferred, higher_is_better=True)}
    write_json(path, {"task": "ner", "metric": "f1", "higher_is_better": True, "langs": langs, "levels": [level]})
    return [path]


def heads_json(path):
    units = ["ner/qaa", "ner/qab", "nli/qaa"]
    importance = {unit: [[0.1 * (i + j + k) for k in range(3)] for j in range(2)] for i, unit in enumerate(units)}
    write_json(path, {"units": units, "layers": 2, "heads": 3, "importance": importance, "normalized": True,
                      "metric": {u: "f1" if u.startswith("ner") else "accuracy" for u in units},
                      "baseline": {u: 0.5 for u in units}, "model": "dense", "runs": [0]})  # fmt: skip
    return [path]


def test_subnetwork_figures_label_codes_and_colour_bars(tmp_path):
    imp = [imp_file(tmp_path / f"{lang}.json", "ner", lang, [80.0, 79.5, 70.0], 0.25, {0.5: 60.0}) for lang in LANGS]
    with style():
        (panel,) = figure_spec("imp-sparsity").draw(imp, Options()).axes
        assert (panel.get_xlabel(), panel.get_ylabel()) == ("sparsity (%)", "f1")
        assert [t.get_text() for t in panel.get_legend().get_texts()] == LANGS
        fig = figure_spec("imp-transfer").draw(transfer_json(tmp_path / "t.json"), Options())
        (matrix,) = [ax for ax in fig.axes if ax.images]
        assert [t.get_text() for t in matrix.get_xticklabels()] == LANGS[:3]
        assert [t.get_text() for t in matrix.get_yticklabels()] == [*LANGS[:3], "rand"]
        assert (matrix.get_xlabel(), matrix.get_ylabel()) == ("target language", "source subnetwork")
        assert len(fig.axes) == 2, "the matrix and its colour bar"
        fig = figure_spec("head-importance").draw(heads_json(tmp_path / "h.json"), Options())
        maps = [ax for ax in fig.axes if ax.images]
        assert [ax.get_title().split(" ")[0] for ax in maps] == ["ner/qaa", "ner/qab", "nli/qaa"]
        assert all((ax.get_xlabel(), ax.get_ylabel()) == ("head", "layer") for ax in maps)
        assert any(ax.get_ylabel() == "importance" for ax in fig.axes), "colour bar"
    assert_redraws_identically("imp-transfer", transfer_json(tmp_path / "t2.json"), tmp_path / "redraw")


def test_cli_options_and_errors(tmp_path):
    assert parse_options(["methods=snip,random", "level=genus"]) == {"methods": "snip,random", "level": "genus"}
    assert Options(tops="1,5").integers("tops", [1]) == [1, 5]
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options(["methods"])
    with pytest.raises(ConfigError, match="unknown figure"):
        figure_spec("nope")
    inputs = uc_json(tmp_path / "uc.json")
    assert main(["uc-layers", "--inputs", *map(str, inputs), "--png", str(tmp_path / "f.png"), "--set", "variants=dense"]) == 0
    assert (tmp_path / "f.png").exists() and not (tmp_path / "f.pdf").exists()
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        main(["uc-layers", "--inputs", str(broken), "--png", str(tmp_path / "g.png")])
    assert not (tmp_path / "g.png").exists()

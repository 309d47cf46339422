"""figures: every registered figure draws from hand-made analysis files, byte-identical on rerun."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from langtickets.analysis.interference import stability, uc_layers
from langtickets.analysis.overlap import overlap_report
from langtickets.errors import ConfigError, InputError
from langtickets.figures.base import FIGURES, Options, figure_spec, style
from langtickets.figures.cli import draw, main, parse_options
from langtickets.io import write_json
from langtickets.masks import TicketMasks, TicketShape
from tests.analysis.test_interference import stability_file, uc_file

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

"""flops: FLOPs per token of dense models and tickets, checked against torch's FLOP counter."""

from __future__ import annotations

import csv

import torch
from torch.utils.flop_counter import FlopCounterMode

from langtickets.cli import main as cli_main
from langtickets.export import export_ticket
from langtickets.flops import active_units, count_flops
from langtickets.masks import TicketMasks, TicketShape
from langtickets.model import save_model
from tests.ticket_fixtures import LANGS, VOCAB, random_masks, tiny_model


def measured_flops(model, length: int) -> dict[str, int]:
    """FLOPs torch counts for one forward pass over a single sequence, by operator."""
    ids = torch.randint(5, VOCAB, (1, length), generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids)
    return {str(op): count for op, count in counter.get_flop_counts()["Global"].items()}


def test_dense_count_equals_torch_flop_counter():
    model = tiny_model(layers=3)
    model.set_attn_implementation("eager")  # attention as plain matmuls the counter sees
    length = 12
    count = count_flops(TicketShape.of_model(model), length, VOCAB)
    assert count.total_flops * length == sum(measured_flops(model, length).values())


def test_all_ones_ticket_equals_dense_exactly():
    shape = TicketShape(layers=16, hidden=768, intermediate=3072, heads=12)
    ones = TicketMasks(("en",), {k: torch.ones(1, n, dtype=torch.bool) for k, n in shape.layout().items()}, shape)
    assert count_flops(shape, 128, 119547, active_units(ones, "en")) == count_flops(shape, 128, 119547)


def test_ticket_count_matches_the_projections_of_the_exported_model():
    model = tiny_model(layers=3)
    masks = random_masks(TicketShape.of_model(model), density=0.5)
    for key, tensor in masks.masks.items():  # keep a value unit in every head so no head is dropped
        if key.endswith("mu_v"):
            tensor.view(len(LANGS), 4, -1)[:, :, 0] = True
    length = 10
    for lang in LANGS:
        counted = measured_flops(export_ticket(model, masks, lang), length)
        ticket = count_flops(masks.shape, length, VOCAB, active_units(masks, lang))
        attention = 2 * length * sum(length * (q + v) for q, v, _ in active_units(masks, lang))
        padding_row = 2 * length * 16 * 3  # the exported Q/K/V projection's one zero row, per layer
        assert counted["aten.addmm"] - padding_row == ticket.total_flops * length - attention


def test_paper_scale_dense_numbers():
    """BERT-base, 12 layers, seq 128: 85.0M encoder MACs in the projections plus 2.4M in attention."""
    count = count_flops(TicketShape(layers=12, hidden=768, intermediate=3072, heads=12), 128, 119547)
    assert count.encoder_macs == 12 * (768 * (4 * 768 + 2 * 3072) + 2 * 128 * 768)
    scaled = count_flops(TicketShape(layers=16, hidden=768, intermediate=3072, heads=12), 128, 119547)
    assert scaled.encoder_macs * 12 == count.encoder_macs * 16


def test_flops_cli_writes_dense_and_ticket_rows(tmp_path):
    model = tiny_model(layers=3)
    save_model(model, tmp_path / "scaled", name="scaled")
    save_model(tiny_model(layers=2), tmp_path / "base", name="base")
    random_masks(TicketShape.of_model(model)).save(tmp_path / "masks.safetensors")
    code = cli_main(["flops", "--archs", str(tmp_path / "base"), str(tmp_path / "scaled"), "--masks",
                     str(tmp_path / "masks.safetensors"), "--seq-len", "16", "--out", str(tmp_path / "f.csv")])
    assert code == 0
    rows = list(csv.DictReader(open(tmp_path / "f.csv")))
    assert [(r["arch"], r["method"], r["lang"]) for r in rows] == [
        ("base", "dense", "all"), ("scaled", "dense", "all"),
        *[("scaled", "random", lang) for lang in LANGS], ("scaled", "random", "mean")]
    dense, tickets = int(rows[1]["encoder_macs"]), [int(r["encoder_macs"]) for r in rows[2:5]]
    assert all(t < dense for t in tickets)
    assert int(rows[-1]["encoder_macs"]) == round(sum(tickets) / 3)

"""``langtickets task-data``: a JSON report for valid data, a one-line error and exit status 2 otherwise."""

from __future__ import annotations

from langtickets.cli import main
from langtickets.io import read_json


def test_task_data_reports_counts_and_labels(shared_data, tmp_path, capsys):
    train = shared_data / "masakhaner" / "hau" / "train.txt"
    output = tmp_path / "data.json"
    status = main(["task-data", "--task", "ner", "--format", "masakhaner", "--repair-bio", "--map-to-o", "DATE",
                   "--split", f"train={train}", "--output", str(output)])  # fmt: skip
    assert status == 0
    report = read_json(output)["splits"]["train"]
    assert report["counts"]["sentences"] == 1912 and report["counts"]["bio_repaired"] == 1
    assert "B-DATE" not in report["labels"] and report["labels"]["B-LOC"] == 1973
    assert "[task-data] done" in capsys.readouterr().err


def test_task_data_fails_with_one_line_and_status_2(shared_data, tmp_path, capsys):
    train = shared_data / "masakhaner" / "hau" / "train.txt"
    output = tmp_path / "data.json"
    status = main(["task-data", "--task", "ner", "--format", "masakhaner", "--split", f"train={train}",
                   "--output", str(output)])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 2 and error.startswith(f"error: {train}:17929: ") and error.count("\n") == 1
    assert "--repair-bio" in error and not output.exists()

"""A config whose sft.models names a local Hugging Face model (tasks.external_models) plans that model's own
token shards (tokenize_external, results/tokens-{model}/) and its language SFTs, next to the variants' jobs."""

from __future__ import annotations

import re

from tests.sft.external_fixtures import save_external_model

from .conftest import copy_checkout, snakemake


def test_dry_run_plans_per_model_tokenize_and_language_sft(tmp_path, repo_root):
    checkout = copy_checkout(repo_root, tmp_path / "checkout")
    model = save_external_model(tmp_path / "tiny-xlmr", "xlmr")
    overlay = tmp_path / "external.yaml"
    overlay.write_text(f"tasks:\n  external_models: {{tinyx: '{model}'}}\nsft:\n  models: [ticket-snip, tinyx]\n")
    run = snakemake(checkout, "-n", "-F", "-p", "--configfile", "config/ci.yaml", str(overlay))
    assert run.returncode == 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.M))
    assert counts["tokenize_external"] == "2" and counts["language_sft"] == "4"  # qaa, qac for both models
    assert counts["task_sft"] == "4"  # POS from qaa by LT-SFT and BitFit, per model
    for lang in ("qaa", "qac"):
        assert f"--hf-tokenizer {model} --train results/tokens-tinyx/{lang}/train.bin" in output
        tokens = f"results/tokens-tinyx/{lang}/meta.json"
        assert f"--model {model} --model-name tinyx --lang {lang} --tokens {tokens}" in output
    assert "--model results/pretrain/ticket-snip/model --model-name ticket-snip" in output

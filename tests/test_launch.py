"""How the workflow starts training stages: plain python at one process, `accelerate launch` otherwise, and the
GPUs a launch asks the cluster for."""

from __future__ import annotations

import shlex

import pytest

from langtickets.errors import ConfigError
from langtickets.launch import TRAINING_RULES, Launcher


def test_one_process_runs_plain_python_for_every_training_rule():
    for rule in TRAINING_RULES:
        launcher = Launcher.for_rule({}, rule)
        assert not launcher.launched and launcher.command() == "python -m langtickets"
        assert launcher.resources({"mem_mb": 8000}, rule) == {"mem_mb": 8000}


def test_several_gpu_processes_launch_accelerate_and_ask_for_as_many_gpus():
    section = {"processes": {"pretrain": 4}, "accelerator": "gpu", "mixed_precision": "bf16"}
    launcher = Launcher.for_rule(section, "pretrain")
    words = shlex.split(launcher.command())
    assert words[:3] == ["python", "-m", "accelerate.commands.launch"] and words[-2:] == ["-m", "langtickets"]
    options = dict(zip(words[3:], words[4:]))
    assert "--multi_gpu" in words and options["--num_processes"] == "4" and options["--num_machines"] == "1"
    assert options["--mixed_precision"] == "bf16" and options["--main_process_port"] == "0"
    assert launcher.resources({"cpus_per_gpu": 4}, "pretrain") == {"cpus_per_gpu": 4, "gpu": 4}
    assert launcher.resources({"gpu": 4}, "pretrain") == {"gpu": 4}
    with pytest.raises(ConfigError, match="resources.pretrain.gpu is 1 but launcher.processes.pretrain is 4"):
        launcher.resources({"gpu": 1}, "pretrain")
    # the other rules keep one plain process
    assert Launcher.for_rule(section, "task_sft").processes == 1


def test_cpu_tpu_and_mixed_precision_at_one_process():
    cpu = Launcher.for_rule({"processes": {"language_sft": 2}, "accelerator": "cpu"}, "language_sft")
    assert "--num_processes 2" in cpu.command() and cpu.resources({}, "language_sft") == {}
    tpu = Launcher.for_rule({"processes": {"task_sft": 8}, "accelerator": "tpu"}, "task_sft")
    assert "--tpu" in tpu.command() and tpu.command().endswith("--main_training_function main -m langtickets.cli")
    assert tpu.resources({}, "task_sft") == {}
    single = Launcher.for_rule({"mixed_precision": "bf16"}, "few_shot")
    assert single.launched and "--multi_gpu" not in single.command() and "--num_processes 1" in single.command()


def test_bad_launcher_settings_are_config_errors():
    with pytest.raises(ConfigError, match="not training rules"):
        Launcher.for_rule({"processes": {"zero_shot_eval": 2}}, "pretrain")
    with pytest.raises(ConfigError, match="accelerator"):
        Launcher(2, "ipu")
    with pytest.raises(ConfigError, match="at least 1"):
        Launcher(0)


def test_multi_node_training_requests_are_refused_rather_than_left_idle():
    launcher = Launcher.for_rule({"processes": {"pretrain": 8}}, "pretrain")
    assert launcher.resources({"nodes": 1}, "pretrain") == {"nodes": 1, "gpu": 8}
    with pytest.raises(ConfigError, match="resources.pretrain.nodes is 2, but a training job runs on one node"):
        launcher.resources({"nodes": 2}, "pretrain")

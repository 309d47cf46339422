# How training rules start their stage: one plain process or a data-parallel `accelerate launch`, and the
# GPUs that asks for (config 'launcher'; the logic and its tests live in src/langtickets/launch.py).
from langtickets.launch import Launcher  # noqa: E402


def rule_launcher(name):
    return Launcher.for_rule(config["launcher"], name)


def launch_command(name):
    """The start of a training rule's command, up to the stage name: 'python -m langtickets' for one
    process, else the accelerate launcher (shell commands call this, so changing the process count does not
    count as a parameter change that reruns finished jobs: results do not depend on it)."""
    return rule_launcher(name).command()


def training_resources(name):
    """The rule's cluster resources plus 'gpu: N' when it runs N GPU processes."""
    return rule_launcher(name).resources(rule_resources(name), name)

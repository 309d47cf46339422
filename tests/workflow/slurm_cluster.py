"""A throwaway single-node SLURM cluster for the workflow tests.

Debian's munge, slurmctld and slurmd run as root with state and logs in a temporary folder, and fake GPUs (character devices cloned from /dev/null) so that jobs
asking for GPUs schedule on a CPU machine. There is no accounting database: status comes from ``squeue``,
which keeps finished jobs for ``MinJobAge`` seconds. The configuration must sit at the default path
/etc/slurm/slurm.conf, because Snakemake's job-step executor strips ``SLURM_CONF`` from the environment of
its inner ``srun``: the cluster is only started where no SLURM configuration exists there, and ``stop``
removes the files it wrote and ends exactly the daemons ``start`` started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
CONF_DIR = Path("/etc/slurm")
CONF_FILES = ("slurm.conf", "gres.conf", "cgroup.conf")


def _run(*command: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, check=check)


def _missing_packages() -> list[str]:
    return [name for name in PACKAGES if _run("dpkg", "-s", name, check=False).returncode != 0]


def unavailable_reason() -> str | None:
    """Why a local cluster cannot be started here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "a local SLURM cluster needs Linux"
    if os.environ.get("LANGTICKETS_SKIP_SLURM"):
        return "LANGTICKETS_SKIP_SLURM is set"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root (run the tests as root, or on a real cluster)"
    if shutil.which("dpkg") is None or (_missing_packages() and shutil.which("apt-get") is None):
        return "the SLURM Debian packages are missing and apt-get is not available to install them"
    if (CONF_DIR / "slurm.conf").exists():
        return f"{CONF_DIR / 'slurm.conf'} exists: this machine has its own SLURM, which the test will not reconfigure"
    return None


class PackagesUnavailable(RuntimeError):
    """The SLURM packages are missing and could not be installed (no package registry, say)."""


def install_packages() -> None:
    """Install the Debian packages that are missing (needs the package registry)."""
    missing = _missing_packages()
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (("apt-get", "update", "-qq"), ("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing)):
        done = _run(*command, env=env, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PackagesUnavailable(f"installing {' '.join(missing)} failed ({' '.join(command[:2])}: {last[0]})")


class LocalSlurm:
    """One controller and one compute node on 127.0.0.1, state and logs under ``root``."""

    def __init__(self, root: Path, fake_gpus: int = 2):
        self.root = root
        self.fake_gpus = fake_gpus
        self.conf = CONF_DIR / "slurm.conf"
        self.written: list[Path] = []
        self.started: dict[str, Path] = {}  # daemon -> its PID file, only the ones this object started

    @property
    def env(self) -> dict[str, str]:
        """Environment in which sbatch/squeue (and Snakemake's executor) talk to this cluster."""
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def _ensure_munge(self) -> None:
        if _run("bash", "-c", "munge -n | unmunge", check=False).returncode == 0:
            return  # a munged is already serving this machine: use it, and leave it running
        if not MUNGE_KEY.exists() or MUNGE_KEY.stat().st_size == 0:
            MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
            MUNGE_KEY.write_bytes(os.urandom(1024))
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o400)
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        # munged runs as the munge user, which cannot enter pytest's private (0700) temporary folders: its
        # PID file stays at the default path under /run/munge; --force clears a socket left by a dead daemon
        _run("runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force")
        self.started["munged"] = Path("/run/munge/munged.pid")
        self._wait("munge", lambda: _run("bash", "-c", "munge -n | unmunge", check=False).returncode == 0)

    def _node_line(self, name: str) -> str:
        facts = dict(item.split("=", 1) for item in _run("slurmd", "-C").stdout.split() if "=" in item)
        memory = max(int(facts["RealMemory"]) - 512, 1000)
        gres = f" Gres=gpu:{self.fake_gpus}" if self.fake_gpus else ""
        return f"NodeName={name} NodeAddr=127.0.0.1 CPUs={facts['CPUs']} RealMemory={memory}{gres} State=UNKNOWN"

    def _write_config(self) -> None:
        name = socket.gethostname().split(".")[0]
        for folder in ("state", "spool", "log"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        lines = [
            "ClusterName=langtickets-test",
            f"SlurmctldHost={name}(127.0.0.1)",
            "SlurmUser=root",
            "AuthType=auth/munge",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerParameters=sched_interval=1",
            "MpiDefault=none",
            "ReturnToService=2",
            "MinJobAge=600",  # squeue must still list finished jobs when the executor asks
        ]
        if self.fake_gpus:
            lines.append("GresTypes=gpu")
            devices = []
            for index in range(self.fake_gpus):
                device = self.root / f"fakegpu{index}"
                if not device.exists():
                    os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))  # a clone of /dev/null
                devices.append(str(device))
            self._write(CONF_DIR / "gres.conf", "".join(f"NodeName={name} Name=gpu File={d}\n" for d in devices))
        lines += [self._node_line(name), "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"]
        self._write(self.conf, "\n".join(lines) + "\n")
        self._write(CONF_DIR / "cgroup.conf", "")

    def _write(self, path: Path, text: str) -> None:
        if path.exists():
            raise RuntimeError(f"local SLURM: {path} exists; refusing to overwrite another cluster's configuration")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.written.append(path)

    def _wait(self, what: str, ready, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.25)
        raise RuntimeError(f"local SLURM: {what} did not come up; see logs in {self.root / 'log'}")

    def start(self) -> None:
        install_packages()
        self.root.mkdir(parents=True, exist_ok=True)
        self._ensure_munge()
        self._write_config()
        for daemon in ("slurmctld", "slurmd"):
            _run(daemon, env=self.env)
            self.started[daemon] = self.root / f"{daemon}.pid"

        def node_idle() -> bool:
            state = _run("sinfo", "-h", "-o", "%t", env=self.env, check=False).stdout.strip()
            return state in {"idle", "mix", "alloc"}

        self._wait("the compute node", node_idle)

    def stop(self) -> None:
        for daemon in ("slurmd", "slurmctld", "munged"):
            pid_file = self.started.pop(daemon, None)
            if pid_file is None or not pid_file.exists():
                continue
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                continue
            for _ in range(80):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.25)
        while self.written:
            self.written.pop().unlink(missing_ok=True)

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller knows (finished ones included): id, state, comment and GPU request."""
        out = _run("squeue", "-h", "--states=all", "-O", "JobID:|,State:|,Comment:200|,tres-per-job:|,tres-per-node:",
                   env=self.env).stdout  # fmt: skip
        rows = []
        for line in out.splitlines():
            fields = [field.strip() for field in line.split("|")]
            if len(fields) >= 5:
                rows.append(dict(zip(("id", "state", "comment", "tres_per_job", "tres_per_node"), fields)))
        return rows

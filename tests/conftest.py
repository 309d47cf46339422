"""Shared fixtures: the real-data folder, the repository root, and a network that only reaches loopback."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Offline before anything imports huggingface_hub (it reads these once, at import).
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_name] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Folder of real data: $LANGTICKETS_DATA, else ../shared/data next to the repository."""
    return Path(os.environ.get("LANGTICKETS_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; tests that need it skip with the reason when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not found: set LANGTICKETS_DATA to the shared data folder")
    return path


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


def _host(address) -> str:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in _LOOPBACK:
        raise OSError(f"network blocked in tests: connection to {address!r} refused")
    return _real_connect(self, address)


def _guarded_create_connection(address, *args, **kwargs):
    if _host(address) not in _LOOPBACK:
        raise OSError(f"network blocked in tests: connection to {address!r} refused")
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def _block_network(monkeypatch):
    """Only loopback connections are allowed; hubs and mirrors must never be reached from a test."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "create_connection", _guarded_create_connection)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

"""Errors a user can act on.

Every stage raises :class:`LangticketsError` (or a subclass) for bad input. The message is one line that
names the file (and the line or record where there is one) and says how to fix it; the command-line
wrapper in :mod:`langtickets.cli` prints it without a traceback and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class LangticketsError(Exception):
    """An error caused by input or configuration, with the fix in its message."""


class InputError(LangticketsError):
    """A data file is missing, corrupt or malformed."""

    def __init__(self, path: str | Path, problem: str, fix: str, *, line: int | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}; {fix}")
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.fix = fix


class ConfigError(LangticketsError):
    """The workflow configuration or the language table is invalid."""

"""Workflow-config checks that turn into one line a user can act on (imported by the Snakefile; no torch).

* :func:`validation_message`: Snakemake's schema validation error (several lines, no file) as one line naming
  the config files, the key path, the problem and the key's description from the schema.
* :func:`check_shell_safe`: every string value of the config reaches rule parameters, and some of them shell
  commands; they are restricted to characters that need no quoting (no spaces, quotes, ``;``, ``$``, ``|``,
  redirections or globs), so a value can never run a command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from langtickets.errors import ConfigError

#: characters a config string may hold: enough for paths, hub names (org/name), hf: sources, {field} patterns,
#: percentages and URLs; nothing a shell would interpret.
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./{}:@+,=%~-]*$")

#: keys whose values go to the cluster scheduler as options, never into a rule's shell command
SCHEDULER_KEYS = frozenset({"slurm_extra", "gpu_model", "slurm_partition"})


def _files(configfiles: Iterable[str | Path]) -> str:
    names = [str(path) for path in configfiles]
    return ", ".join(names) if names else "the config"


def _key(path: Sequence[Any]) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def validation_message(config: Mapping[str, Any], schema_path: str | Path, configfiles: Iterable[str | Path]) -> str:
    """One line for a config that fails the schema: files, key path, problem and the key's description.

    Snakemake's own message spans many lines and names no file, so the config is validated again here with
    plain jsonschema (draft 2020-12) to find the most relevant violation.
    """
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    best = jsonschema.exceptions.best_match(validator.iter_errors(dict(config)))
    if best is None:
        return f"{_files(configfiles)}: the config does not match {schema_path}; fix the values it reports"
    message = " ".join(best.message.split())
    if len(message) > 200:
        message = message[:197] + "..."
    description = best.schema.get("description") if isinstance(best.schema, Mapping) else None
    hint = f" ({' '.join(str(description).split())})" if description else ""
    return (f"{_files(configfiles)}: config key '{_key(best.absolute_path)}': {message}; fix the value{hint}, "
            f"as {Path(schema_path).name} describes")


def check_shell_safe(config: Mapping[str, Any], configfiles: Iterable[str | Path]) -> None:
    """Raise :class:`ConfigError` for the first string value holding a character a shell would interpret."""
    for path, value in _strings(config, ()):
        if path and path[-1] in SCHEDULER_KEYS:
            continue
        if not SAFE_VALUE.match(value):
            bad = sorted({ch for ch in value if not SAFE_VALUE.match(ch)})
            shown = " ".join(repr(ch) for ch in bad)
            raise ConfigError(
                f"{_files(configfiles)}: config key '{_key(path)}' = {value!r} holds {shown}; config values may "
                "only use letters, digits and _ . / { } : @ + , = % ~ - (rename the file or directory)"
            )


def _strings(node: Any, path: tuple) -> Iterable[tuple[tuple, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not SAFE_VALUE.match(str(key)):
                yield (*path, key), str(key)
            yield from _strings(value, (*path, key))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node

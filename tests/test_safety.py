"""Safety properties a user relies on when running the pipeline on shared clusters and downloaded files."""

from __future__ import annotations

import ast
from pathlib import Path

import jsonschema
import pytest
import yaml

SRC = Path(__file__).resolve().parents[1] / "src" / "langtickets"
SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema" / "config.schema.yaml"


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_pickle_no_unsafe_torch_load_no_shell(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree)
                                            if isinstance(node, ast.ImportFrom) and node.module}  # fmt: skip
    assert not {"pickle", "dill", "cloudpickle", "joblib"} & imported, f"{path}: never unpickle data"
    for call in calls(tree):
        name = dotted(call.func)
        keywords = {kw.arg: kw.value for kw in call.keywords}
        if name == "torch.load":
            value = keywords.get("weights_only")
            assert isinstance(value, ast.Constant) and value.value is True, f"{path}:{call.lineno}: weights_only=True"
        if name.startswith("subprocess.") or name in {"os.system", "os.popen"}:
            assert name not in {"os.system", "os.popen"}, f"{path}:{call.lineno}: no shell strings"
            shell = keywords.get("shell")
            assert not (isinstance(shell, ast.Constant) and shell.value), f"{path}:{call.lineno}: no shell=True"


@pytest.mark.parametrize("value", ["en; rm -rf /", "$(touch x)", "../etc", "EN", "e n", "x" * 20])
def test_language_codes_are_validated_before_any_shell_command(value):
    schema = yaml.safe_load(SCHEMA.read_text())
    config = {"languages": ["en", value]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, schema)


def test_mirrors_must_be_https():
    schema = yaml.safe_load(SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"languages": ["en", "de"], "corpus": {"mirror": "http://example.org"}}, schema)

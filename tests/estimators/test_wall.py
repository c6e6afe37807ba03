"""The wall, both ways (checked on the AST of every module):

* ``estimators/`` imports nothing from ``simulate/`` (or ``experiments/``) and takes no truth argument;
* ``simulate/`` imports nothing from ``estimators/`` or ``experiments/``;
* ``common/`` (the truth-free pieces both rooms share) imports none of the three rooms.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = {"estimators": ("simulate", "experiments"), "simulate": ("estimators", "experiments"),
         "common": ("simulate", "estimators", "experiments"),
         "harness": ("simulate", "estimators", "experiments")}     # plumbing serves the rooms, never the reverse
FILES = [(room, p) for room in ROOMS for p in sorted((ROOT / room).rglob("*.py"))]


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 0:
                yield mod
                for a in node.names:
                    yield f"{mod}.{a.name}"


def _forbidden(tree, banned):
    return sorted({m for m in _imports(tree) if any(m == b or m.startswith(b + ".") for b in banned)})


def test_files_found():
    assert sum(room == "estimators" for room, _ in FILES) >= 15
    assert sum(room == "simulate" for room, _ in FILES) >= 8 and sum(room == "common" for room, _ in FILES) >= 4


@pytest.mark.parametrize("room,path", FILES, ids=lambda x: x if isinstance(x, str) else f"{x.parent.name}/{x.name}")
def test_no_imports_across_the_wall(room, path):
    bad = _forbidden(ast.parse(path.read_text()), ROOMS[room])
    assert not bad, f"{room}/{path.name} imports {bad}"


@pytest.mark.parametrize("path", [p for r, p in FILES if r == "estimators"], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_truth_arguments(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            for a in args.args + args.kwonlyargs + args.posonlyargs + [args.vararg, args.kwarg]:
                if a is None:
                    continue
                assert "truth" not in a.arg.lower(), f"{path.name}: parameter {a.arg}"
                if a.annotation is not None:
                    ann = ast.unparse(a.annotation)
                    assert "Truth" not in ann and "World" not in ann, f"{path.name}: {a.arg}: {ann}"


def test_checker_catches_violations():
    """The checks above can fail: planted violations in both directions are caught."""
    src = "from simulate.truth import Truth\nimport experiments.metrics\ndef f(truth: Truth):\n    return truth\n"
    tree = ast.parse(src)
    assert _forbidden(tree, ROOMS["estimators"]) == ["experiments.metrics", "simulate.truth", "simulate.truth.Truth"]
    assert _forbidden(ast.parse("from estimators.model import spec\n"), ROOMS["simulate"]) == [
        "estimators.model", "estimators.model.spec"]
    assert _forbidden(ast.parse("from . import budget\nimport numpy\n"), ROOMS["common"]) == []
    fn = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)][0]
    assert fn.args.args[0].arg == "truth"

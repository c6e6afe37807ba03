"""The wall: estimators/ sees no truth (imports and function signatures, checked on the AST)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "estimators"
ALLOWED_SIMULATE = {"simulate.transforms", "simulate.records"}
FILES = sorted(ROOT.rglob("*.py"))


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod == "simulate":
                for a in node.names:
                    yield f"simulate.{a.name}"
            else:
                yield mod


def test_files_found():
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_truth_imports(path):
    tree = ast.parse(path.read_text())
    bad = [m for m in _imports(tree)
           if (m == "simulate" or m.startswith("simulate.")) and m not in ALLOWED_SIMULATE]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
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


def test_checker_catches_a_violation(tmp_path):
    """The checks above can fail: a planted violation is caught."""
    src = "from simulate.truth import Truth\ndef f(truth: Truth):\n    return truth\n"
    tree = ast.parse(src)
    assert "simulate.truth" in list(_imports(tree))
    fn = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)][0]
    assert fn.args.args[0].arg == "truth"

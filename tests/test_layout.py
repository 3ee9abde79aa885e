"""The test suite's own rules, read from the test files: modules share code through conftest.py and
tests/helpers/ only, and every test says what behaviour it checks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TEST_FILES = sorted(TESTS.glob("test_*.py"))


def _imported_modules(tree: ast.Module) -> list[str]:
    """Every module an import statement names, anywhere in the file (inside functions too)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.append(base)
            # `from tests import test_x` and `from . import test_x` name the module in the alias.
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name.startswith("test_")]
    return names


def _is_test_module(name: str) -> bool:
    parts = name.lstrip(".").split(".")
    return any(part.startswith("test_") for part in parts)


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: path.name)
def test_no_test_module_imports_another(path: Path) -> None:
    """A test module imports from tests.conftest or tests.helpers, never from another test module
    (a shared helper belongs in tests/helpers/, a shared fixture in conftest.py)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert [name for name in _imported_modules(tree) if _is_test_module(name)] == []


def test_the_import_rule_sees_every_spelling() -> None:
    """The rule above catches `from tests.test_x import f`, `import tests.test_x`, `from tests import
    test_x` and relative imports, and lets conftest and helpers through."""
    caught = [
        "from tests.test_cli_live import cli",
        "import tests.test_publish",
        "from tests import test_publish",
        "from .test_publish import hold_database",
        "from . import test_publish",
        "def f():\n    from tests.test_publish import png",
    ]
    allowed = ["from tests.conftest import CORPUS", "from tests.helpers.harness import Bot", "import pytest"]
    for source in caught:
        assert any(_is_test_module(n) for n in _imported_modules(ast.parse(source))), source
    for source in allowed:
        assert not any(_is_test_module(n) for n in _imported_modules(ast.parse(source))), source


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: path.name)
def test_every_test_has_a_docstring(path: Path) -> None:
    """Each test function (and test method) has a docstring stating the behaviour it checks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    missing = [
        f"{path.name}:{node.lineno} {node.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test")
        and not (ast.get_docstring(node) or "").strip()
    ]
    assert missing == []

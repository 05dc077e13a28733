"""No function over 80 lines and no module over 450 under ``src/sentinelgw`` (issue 24).

A function's length runs from its ``def`` line to its last line (decorators not counted, its
docstring and nested functions counted); a module's is its line count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sentinelgw

PACKAGE_ROOT = Path(sentinelgw.__file__).parent
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 450


def long_functions(source: str) -> list[tuple[str, int]]:
    """(name, lines) of every function or method in ``source`` over the limit."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append((node.name, lines))
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.py"))


def test_no_function_over_80_lines() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE_ROOT)}:{name}": lines
        for path in modules()
        for name, lines in long_functions(path.read_text(encoding="utf-8"))
    }
    assert offenders == {}


def test_no_module_over_450_lines() -> None:
    offenders = {
        str(path.relative_to(PACKAGE_ROOT)): n
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert offenders == {}


def test_the_walk_covers_the_package() -> None:
    names = {str(p.relative_to(PACKAGE_ROOT)) for p in modules()}
    assert {"cli/main.py", "context.py", "service/deploy/stack.py"} <= names


def test_a_function_of_81_lines_is_found_and_one_of_80_is_not() -> None:
    def source(body_lines: int) -> str:
        return "def f():\n" + "    x = 1\n" * (body_lines - 1)

    assert long_functions(source(81)) == [("f", 81)]
    assert long_functions(source(80)) == []


def test_methods_and_nested_functions_are_measured() -> None:
    body = "        y = 2\n" * 85
    source = f"class C:\n    def m(self):\n{body}\n\ndef outer():\n    def inner():\n{body}"
    assert {name for name, _ in long_functions(source)} == {"m", "outer", "inner"}

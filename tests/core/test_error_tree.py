"""errors.py draws the real exception tree: every SentinelError subclass in the package, under
its real parent."""

from __future__ import annotations

import importlib
import pkgutil
import re

import sentinelgw
from sentinelgw import errors
from sentinelgw.errors import SentinelError

# A row of the drawing: the tree prefix (its length gives the depth) and the class name.
_ROW = re.compile(r"^    ((?:│   |    )*)(?:├── |└── )?([A-Z][A-Za-z]+)\b")


def _drawn() -> dict[str, str | None]:
    """class name -> parent name, as errors.py's docstring draws them."""
    doc = errors.__doc__ or ""
    block = doc.split("::", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in block.splitlines():
        found = _ROW.match(line)
        assert found, f"not a row of the tree: {line!r}"
        prefix = found.group(1)
        depth = 0 if line[4:].startswith(found.group(2)) else len(prefix) // 4 + 1
        del stack[depth:]
        parents[found.group(2)] = stack[-1] if stack else None
        stack.append(found.group(2))
    return parents


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _import_package() -> None:
    for info in pkgutil.walk_packages(sentinelgw.__path__, "sentinelgw."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)


def test_every_sentinel_error_subclass_is_drawn_under_its_parent_in_errors_py() -> None:
    _import_package()
    drawn = _drawn()
    real = {
        c.__name__: c.__mro__[1].__name__
        for c in _subclasses(SentinelError)
        if c.__module__.startswith("sentinelgw.")
    }
    assert real, "no subclasses found: the walk imported nothing"
    missing = sorted(set(real) - set(drawn))
    assert not missing, f"SentinelError subclasses not drawn in errors.py: {missing}"
    wrong = {n: (drawn[n], p) for n, p in real.items() if drawn[n] != p}
    assert not wrong, f"drawn under the wrong parent (drawn, real): {wrong}"
    stale = sorted(set(drawn) - set(real) - {"SentinelError"})
    assert not stale, f"drawn in errors.py but not defined: {stale}"

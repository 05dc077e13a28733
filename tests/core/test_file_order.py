"""The workers' file order (tests/file_order.py): longest first, from measured seconds that
must still name real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.file_order import SECONDS, TESTS, order


def test_every_measured_file_still_exists() -> None:
    missing = sorted(name for name in SECONDS if not (TESTS / name).is_file())
    assert missing == [], "rename or drop these in tests/file_order.py"


class _Item:
    def __init__(self, path: Path, name: str, slow: bool = False) -> None:
        self.path, self.name, self._slow = path, name, slow

    def get_closest_marker(self, name: str) -> Any:
        return object() if name == "slow" and self._slow else None


def test_files_go_longest_first_each_files_tests_together_in_their_order() -> None:
    demo = TESTS / "sandbox" / "test_demo.py"
    small = TESTS / "not_measured" / "test_small.py"  # 3 tests: 0.3 s
    marked = TESTS / "not_measured" / "test_marked.py"  # a slow-marked test: 30 s
    live = TESTS / "sessions" / "test_revocation_live.py"
    items = [
        _Item(small, "a"),
        _Item(live, "b"),
        _Item(small, "c"),
        _Item(marked, "d", slow=True),
        _Item(demo, "e"),
        _Item(small, "f"),
        _Item(live, "g"),
    ]
    order(items)
    assert [i.name for i in items] == ["e", "d", "b", "g", "a", "c", "f"]
    assert SECONDS["sandbox/test_demo.py"] > 30 > SECONDS["sessions/test_revocation_live.py"]

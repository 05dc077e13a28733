"""The sandbox tests share the session sandbox; each test starts with an empty trail."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def trail(sandbox: Any) -> Any:
    """The recorder, cleared before the test (the session sandbox is shared)."""
    sandbox.recorder.clear()
    return sandbox.recorder

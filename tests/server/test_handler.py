"""The per-request decision: evaluated on every request, memoised only within one minute of
one unchanged policy (time conditions have minute precision), never across a policy reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import sentinelgw.server.handler as handler_mod
from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.decisionlog import DecisionLog
from sentinelgw.policy.source import FilePolicySource
from sentinelgw.server.handler import RequestHandler

POLICY = """policies:
  - name: office-hours
    match:
      profile: prod
      time: {hours: {start: "09:00", end: "18:00"}}
    effect: require_server_session
    session_table: sessions-tbl
"""


class Refresher:
    def __init__(self) -> None:
        self.creds = AwsCredentials(
            "ASIAEXAMPLE", "secret", "token", datetime.now(UTC) + timedelta(minutes=15)
        )

    def current(self) -> AwsCredentials:
        return self.creds


class Tracker:
    table = "sessions-tbl"
    session_id = "0123456789abcdef"

    def __init__(self) -> None:
        self.counted = 0

    def state(self) -> Any:
        from sentinelgw.server.tracker import TrackState

        return TrackState("ok")

    def count(self) -> None:
        self.counted += 1


@pytest.fixture
def make(tmp_path: Path) -> Any:
    def build(log: DecisionLog | None = None) -> tuple[RequestHandler, Tracker, Path]:
        path = tmp_path / "policy.yaml"
        path.write_text(POLICY)
        tracker = Tracker()
        h = RequestHandler(
            profile="prod",
            user="alice",
            policy_source=FilePolicySource(path),
            refresher=Refresher(),
            tracker=tracker,  # type: ignore[arg-type]
            log=log or DecisionLog(),
            session_table="sessions-tbl",
            session_table_source="test",
            no_session_tracking=False,
            source_identity="sentinel.alice.0123456789abcdef",
        )
        return h, tracker, path

    return build


def at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    monkeypatch.setattr(handler_mod, "utcnow", lambda: when)


def test_minute_boundary_into_a_closed_window_denies(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, tracker, _ = make()
    at(monkeypatch, datetime(2026, 1, 5, 17, 59, 59, 900000, tzinfo=UTC))
    assert h().status == 200
    assert h().status == 200
    at(monkeypatch, datetime(2026, 1, 5, 18, 0, 0, 100, tzinfo=UTC))
    resp = h()
    assert resp.status == 403 and resp.body["Code"] == "AccessDenied"
    assert tracker.counted == 2


def test_policy_edit_within_the_same_minute_applies(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, _, path = make()
    at(monkeypatch, datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
    assert h().status == 200
    path.write_text(POLICY.replace("require_server_session", "deny") + "    reason: frozen\n")
    at(monkeypatch, datetime(2026, 1, 5, 10, 0, 2, tzinfo=UTC))
    resp = h()
    assert resp.status == 403 and "frozen" in resp.body["Message"]


def test_every_request_is_logged_when_a_log_is_on(
    make: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_path = tmp_path / "decisions.jsonl"
    h, _, _ = make(DecisionLog.open(str(log_path), False))
    at(monkeypatch, datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
    for _ in range(3):
        assert h().status == 200
    lines = log_path.read_text().splitlines()
    assert len(lines) == 3
    assert len({line for line in lines}) == 3  # distinct request ids

"""The decision log tells the truth about every server credential request.

The attack (seen on the sandbox): 75 requests refused with ``SessionRevoked`` were logged as
``"allowed": true, "effect": "allow"``, because the line was written when the policy allowed
the request, before the revocation check refused it. Now each request has one line, written
with the response actually sent.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import sentinelgw.server.handler as handler_mod
from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.decisionlog import EVENTS, FIELDS, DecisionLog
from sentinelgw.policy.source import FilePolicySource
from sentinelgw.server.handler import RequestHandler
from sentinelgw.server.tracker import TrackState

POLICY = """policies:
  - name: prod-tracked
    match: {profile: prod}
    effect: require_server_session
    session_table: sessions-tbl
"""
NOON = datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC)


class Refresher:
    def __init__(self) -> None:
        self.creds: AwsCredentials | None = AwsCredentials(
            "ASIAEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
            "token-secret",
            NOON + timedelta(minutes=15),
        )

    def current(self) -> AwsCredentials | None:
        return self.creds


class Tracker:
    table = "sessions-tbl"
    session_id = "0123456789abcdef"

    def __init__(self) -> None:
        self.state_now = TrackState("ok")
        self.counted = 0

    def state(self) -> TrackState:
        return self.state_now

    def count(self) -> None:
        self.counted += 1


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(handler_mod, "utcnow", lambda: NOON)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    log_path = tmp_path / "decisions.log"
    log = DecisionLog.open(str(log_path), False)
    tracker, refresher = Tracker(), Refresher()
    handler = RequestHandler(
        profile="prod",
        user="alice",
        policy_source=FilePolicySource(policy),
        refresher=refresher,
        tracker=tracker,  # type: ignore[arg-type]
        log=log,
        session_table="sessions-tbl",
        session_table_source="test",
        no_session_tracking=False,
        source_identity="sentinel.alice.0123456789abcdef",
    )
    return handler, tracker, refresher, log, log_path, policy


def lines(log: DecisionLog, path: Path) -> list[dict[str, Any]]:
    log.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_revoked_session_requests_are_logged_as_refused(setup: Any) -> None:
    handler, tracker, _, log, path, _ = setup
    assert handler().status == 200
    tracker.state_now = TrackState("revoked", "revoked by sec: stolen laptop")
    for _ in range(75):
        assert handler().status == 403
    logged = lines(log, path)
    assert len(logged) == 76
    assert logged[0]["event"] == "served" and logged[0]["allowed"] is True
    refused = logged[1:]
    assert all(
        e["event"] == "refused" and e["allowed"] is False and e["effect"] == "deny" for e in refused
    )
    assert all(e["reason"].startswith("SessionRevoked: ") for e in refused)
    assert tracker.counted == 1


@pytest.mark.parametrize(
    ("break_it", "code"),
    [
        ("policy", "AccessDenied"),
        ("check", "SessionCheckFailed"),
        ("credentials", "CredentialsUnavailable"),
        ("policy_file", "PolicyUnavailable"),
    ],
)
def test_every_refusal_is_logged_with_its_code(setup: Any, break_it: str, code: str) -> None:
    handler, tracker, refresher, log, path, policy = setup
    if break_it == "policy":
        policy.write_text(POLICY.replace("require_server_session", "deny"))
    elif break_it == "check":
        tracker.state_now = TrackState("unavailable", "throttled")
    elif break_it == "credentials":
        refresher.creds = None
    else:
        policy.write_text("policies: [")
    resp = handler()
    assert resp.status != 200 and resp.body["Code"] == code
    (entry,) = lines(log, path)
    assert entry["event"] == "refused" and entry["allowed"] is False
    assert entry["reason"].startswith(f"{code}: ")


def test_log_lines_have_the_documented_fields_and_never_a_secret(setup: Any) -> None:
    handler, _, refresher, log, path, _ = setup
    handler()
    text = (log.flush(), path.read_text())[1]
    (entry,) = [json.loads(line) for line in text.splitlines()]
    assert set(entry) == set(FIELDS) and entry["event"] in EVENTS
    assert refresher.creds.secret_access_key not in text and "token-secret" not in text


def test_batched_log_writes_in_the_background_and_loses_nothing_on_close(
    setup: Any,
) -> None:
    handler, _, _, log, path, _ = setup
    log.start_batching(interval=3600)  # only close() will write

    def many() -> None:
        for _ in range(200):
            handler()

    threads = [threading.Thread(target=many) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() == ""  # the requests did no file I/O of their own
    log.close()
    logged = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(logged) == 1000 and {e["event"] for e in logged} == {"served"}
    assert len({e["request_id"] for e in logged}) == 1000


def test_batching_thread_writes_without_close(setup: Any) -> None:
    handler, _, _, log, path, _ = setup
    log.start_batching(interval=0.01)
    handler()
    stop = threading.Event()
    for _ in range(500):
        if path.read_text():
            break
        stop.wait(0.01)
    assert json.loads(path.read_text())["event"] == "served"
    log.close()


def test_requests_refused_by_the_http_layer_are_logged_as_rejected(setup: Any) -> None:
    from hardeninghelpers import exchange, request_bytes, status_of

    from sentinelgw.server.http import CredentialHTTPServer

    handler, _, _, log, path, _ = setup
    server = CredentialHTTPServer(
        "right-token", "/sentinel/credentials", handler, on_reject=handler.log_rejected
    )
    server.start()
    try:
        wrong = exchange(
            server.port, request_bytes(server.port, "wrong-token", path="/sentinel/credentials")
        )
        rebinding = exchange(
            server.port,
            request_bytes(
                server.port, "right-token", host="evil.example", path="/sentinel/credentials"
            ),
        )
        good = exchange(
            server.port, request_bytes(server.port, "right-token", path="/sentinel/credentials")
        )
    finally:
        server.stop()
    assert [status_of(r) for r in (wrong, rebinding, good)] == [403, 403, 200]
    logged = lines(log, path)
    assert [(e["event"], e["allowed"]) for e in logged] == [
        ("rejected", False),
        ("rejected", False),
        ("served", True),
    ]
    assert logged[0]["reason"].startswith("Forbidden: ")
    assert logged[1]["reason"].startswith("ForbiddenHost: ")
    assert "right-token" not in path.read_text() and "wrong-token" not in path.read_text()

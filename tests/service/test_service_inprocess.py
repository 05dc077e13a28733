"""The service core (:class:`SentinelService`) and its HTTP-shaped front (:class:`ServiceApp`),
in-process: a dict-backed session table, a fake STS client for AssumeRole and a fake STS
transport that answers proofs. No sockets, no moto: these run in milliseconds, so every
decision path is covered here and only a few end-to-end runs stay over HTTP
(tests/service/test_tvm_api.py, test_tvm_uncooperative.py)."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from sentinelgw.errors import SessionNotFound, SessionStoreError
from sentinelgw.service.api import HttpRequest, ServiceApp, ServiceLog
from sentinelgw.service.core import SentinelService
from sentinelgw.service.document import DocumentSource, file_fetch
from sentinelgw.service.proof import ProofVerifier, build_proof
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.table import StoredSession
from sentinelgw.sessions.blocks import Block
from sentinelgw.sessions.model import SessionRecord

ACCOUNT = "123456789012"
SERVICE_ID = "https://sentinel.test"
STS_URL = "https://sts.test"
PROD = f"arn:aws:iam::{ACCOUNT}:role/prod"
DEV = f"arn:aws:iam::{ACCOUNT}:role/dev"
LOCKED = f"arn:aws:iam::{ACCOUNT}:role/locked"
DOCUMENT = f"""
profiles:
  prod: {{role_arn: "{PROD}"}}
  dev: {{role_arn: "{DEV}"}}
  locked: {{role_arn: "{LOCKED}"}}
admins: [security]
policies:
  - name: prod-tracked
    match: {{role_arn: "{PROD}"}}
    effect: require_server_session
    reason: Production needs tracked sessions
  - name: locked-down
    match: {{role_arn: "{LOCKED}"}}
    effect: deny
    reason: Frozen during the audit
  - name: dev-open
    match: {{role_arn: "{DEV}"}}
    effect: allow
"""
# Access key id -> the ARN STS says it belongs to.
KEYS = {
    "AKIAALICE0000000000A": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "AKIABOB00000000000BB": f"arn:aws:iam::{ACCOUNT}:user/bob",
    "AKIASECURITY00000000": f"arn:aws:iam::{ACCOUNT}:user/security",
    "AKIAFOREIGN000000000": "arn:aws:iam::999999999999:user/mallory",
}


@dataclass
class FakeStore:
    """The part of SessionStore the service uses: revoke, mark_expired, touch, add_access_keys."""

    table: FakeTable

    def revoke(self, id: str, by: str, reason: str, at: datetime) -> SessionRecord:
        stored = self.table.items.get(id)
        if stored is None or stored.record.effective_status(at) != "active":
            raise SessionNotFound(f"no active session {id}")
        revoked = stored.record.with_status(
            "revoked", revoked_by=by, revoked_reason=reason, revoked_at=at
        )
        self.table.items[id] = StoredSession(revoked, stored.caller_arn)
        return revoked

    def mark_expired(self, id: str, at: datetime, reason: str | None = None) -> bool:
        stored = self.table.items[id]
        self.table.items[id] = StoredSession(
            stored.record.with_status("expired", end_reason=reason), stored.caller_arn
        )
        return True

    def touch(self, id: str, count: int, at: datetime, **_: Any) -> None:
        self.table.touched[id] = self.table.touched.get(id, 0) + count

    def add_access_keys(self, id: str, keys: Any) -> None:
        stored = self.table.items[id]
        merged = tuple(sorted({*stored.record.access_key_ids, *keys}))
        self.table.items[id] = StoredSession(
            replace(stored.record, access_key_ids=merged), stored.caller_arn
        )


@dataclass
class FakeTable:
    """ServiceTable's interface over dicts; ``down`` makes every call fail as a 503 would."""

    table: str = "sessions"
    items: dict[str, StoredSession] = field(default_factory=dict)
    blocks: dict[str, Block] = field(default_factory=dict)
    touched: dict[str, int] = field(default_factory=dict)
    down: bool = False

    def __post_init__(self) -> None:
        self.store = FakeStore(self)

    def _check(self) -> None:
        if self.down:
            raise Refusal(503, "SessionTableUnavailable", "the session table cannot be used")

    def create(self, record: SessionRecord, caller_arn: str) -> None:
        self._check()
        assert record.id not in self.items
        self.items[record.id] = StoredSession(record, caller_arn)

    def read(
        self, session_id: str, user: str, now: datetime, *, also: tuple[str, ...] = ()
    ) -> tuple[Any, Any]:
        self._check()
        blocks = (self.block(u, now) for u in (user, *also))
        return self.items.get(session_id), next((b for b in blocks if b is not None), None)

    def block(self, user: str, now: datetime) -> Block | None:
        self._check()
        b = self.blocks.get(user)
        return b if b is not None and b.active(now) else None

    def get(self, session_id: str) -> StoredSession | None:
        self._check()
        return self.items.get(session_id)

    def reachable(self) -> bool:
        return not self.down


@dataclass
class FakeSts:
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def assume_role(self, **kw: Any) -> dict[str, Any]:
        if self.fail:
            # What botocore raises for an STS error (only botocore's errors are AWS failures;
            # anything else is a bug, answered 500).
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "AssumeRole"
            )
        self.calls.append(kw)
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIAISSUED{n:010d}",
                "SecretAccessKey": f"issued-secret-{n}",
                "SessionToken": f"issued-token-{n}",
                "Expiration": datetime.now(UTC) + timedelta(seconds=kw["DurationSeconds"]),
            }
        }

    def get_caller_identity(self) -> dict[str, str]:
        return {"Account": ACCOUNT}


@dataclass
class FakeStsEndpoint:
    """The proof transport: answers GetCallerIdentity for the known keys, like STS would."""

    up: bool = True
    seen: list[str] = field(default_factory=list)

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self.seen.append(url)
        if not self.up:
            raise ConnectionRefusedError("STS is down")
        key = re.search(r"Credential=([A-Z0-9]+)/", headers.get("authorization", ""))
        arn = KEYS.get(key.group(1) if key else "")
        if arn is None:
            return 403, b"<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error>"
        account = arn.split(":")[4]
        return 200, (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<GetCallerIdentityResult><Arn>{arn}</Arn><UserId>AIDA</UserId>"
            f"<Account>{account}</Account></GetCallerIdentityResult>"
            "</GetCallerIdentityResponse>"
        ).encode()


@dataclass
class World:
    app: ServiceApp
    table: FakeTable
    sts: FakeSts
    endpoint: FakeStsEndpoint
    log: io.StringIO

    def call(
        self, path: str, body: dict[str, Any] | bytes | None = None, *, method: str = "POST"
    ) -> tuple[int, dict[str, Any]]:
        raw = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        response = self.app.handle(
            HttpRequest(method=method, path=path, headers={}, body=raw, origin=SERVICE_ID)
        )
        return response.status, response.body

    def as_user(self, key: str, path: str, **body: Any) -> tuple[int, dict[str, Any]]:
        creds = Credentials(key, "secret-of-" + key)
        proof = build_proof(creds, service_id=SERVICE_ID, sts_url=STS_URL, region="us-east-1")
        return self.call(path, {"proof": proof, **body})

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines()]


ALICE, BOB, SECURITY, FOREIGN = list(KEYS)


@pytest.fixture
def world(tmp_path: Path) -> World:
    doc = tmp_path / "service.yaml"
    doc.write_text(DOCUMENT)
    table, sts, endpoint, log = FakeTable(), FakeSts(), FakeStsEndpoint(), io.StringIO()
    service = SentinelService(
        service_id=SERVICE_ID,
        documents=DocumentSource(str(doc), file_fetch(str(doc))),
        table=table,  # type: ignore[arg-type]
        sts=sts,
        clock=lambda: datetime.now(UTC),
        accounts=(ACCOUNT,),
    )
    verifier = ProofVerifier(service_id=SERVICE_ID, sts_url=STS_URL, transport=endpoint)
    app = ServiceApp(
        service=service, verifier=verifier, log=ServiceLog(log), clock=lambda: datetime.now(UTC)
    )
    return World(app, table, sts, endpoint, log)


def test_a_new_session_is_recorded_before_assume_role_with_its_source_identity(world):
    status, body = world.as_user(ALICE, "/v1/sessions", profile="prod")
    assert status == 201, body
    sid = body["session_id"]
    stored = world.table.items[sid]
    assert stored.caller_arn == KEYS[ALICE] and stored.record.user == "alice"
    assert stored.record.status == "active" and stored.record.role_arn == PROD
    (call,) = world.sts.calls
    assert call["RoleArn"] == PROD
    assert call["SourceIdentity"] == body["source_identity"] == f"sentinel.alice.{sid}"
    assert call["Tags"] == [{"Key": "SentinelSessionId", "Value": sid}]
    assert body["credentials"]["AccessKeyId"] == "ASIAISSUED0000000001"
    assert world.endpoint.seen == [STS_URL]  # the proof went to the service's own STS


def test_credentials_are_served_only_to_the_session_creator(world):
    _, created = world.as_user(ALICE, "/v1/sessions", profile="prod")
    path = f"/v1/sessions/{created['session_id']}/credentials"
    assert world.as_user(ALICE, path)[0] == 200
    status, body = world.as_user(BOB, path)
    assert (status, body["code"]) == (403, "NotSessionOwner")
    assert world.table.touched == {} or set(world.table.touched) == {created["session_id"]}


def test_a_revoked_session_gets_no_more_credentials(world):
    _, created = world.as_user(ALICE, "/v1/sessions", profile="prod")
    sid = created["session_id"]
    status, body = world.as_user(ALICE, f"/v1/sessions/{sid}/revoke", reason="done")
    assert status == 200 and body["session"]["status"] == "revoked"
    status, body = world.as_user(ALICE, f"/v1/sessions/{sid}/credentials")
    assert (status, body["code"]) == (403, "SessionRevoked")
    assert "revoked by alice: done" in body["message"]


def test_only_admins_revoke_other_users_sessions(world):
    _, created = world.as_user(ALICE, "/v1/sessions", profile="prod")
    path = f"/v1/sessions/{created['session_id']}/revoke"
    status, body = world.as_user(BOB, path, reason="mine now")
    assert (status, body["code"]) == (403, "NotAuthorized")
    assert world.table.items[created["session_id"]].record.status == "active"
    assert world.as_user(SECURITY, path, reason="incident")[0] == 200


def test_a_blocked_user_can_neither_start_nor_continue(world):
    _, created = world.as_user(ALICE, "/v1/sessions", profile="prod")
    now = datetime.now(UTC)
    world.table.blocks["alice"] = Block("alice", "security", "left the team", now)
    status, body = world.as_user(ALICE, "/v1/sessions", profile="prod")
    assert (status, body["code"]) == (403, "UserBlocked")
    status, body = world.as_user(ALICE, f"/v1/sessions/{created['session_id']}/credentials")
    assert (status, body["code"]) == (403, "UserBlocked")
    assert len(world.table.items) == 1  # the refused start wrote nothing


def test_policy_denial_names_the_fix_and_writes_nothing(world):
    status, body = world.as_user(ALICE, "/v1/sessions", profile="locked")
    assert (status, body["code"]) == (403, "PolicyDenied")
    assert "locked-down" in body["message"] and "Frozen during the audit" in body["message"]
    assert world.table.items == {} and world.sts.calls == []


def test_a_client_cannot_pick_the_role_or_the_table(world):
    status, body = world.as_user(
        ALICE, "/v1/sessions", profile="dev", role_arn=PROD, session_table="decoy"
    )
    assert status == 201
    assert body["role_arn"] == DEV and world.sts.calls[0]["RoleArn"] == DEV


def test_an_unknown_profile_is_refused(world):
    status, body = world.as_user(ALICE, "/v1/sessions", profile="nosuch")
    assert status in (403, 404) and body["code"] == "UnknownProfile"
    assert world.sts.calls == []


def test_a_table_outage_refuses_every_call(world):
    _, created = world.as_user(ALICE, "/v1/sessions", profile="prod")
    world.table.down = True
    for path, body in (
        ("/v1/sessions", {"profile": "prod"}),
        (f"/v1/sessions/{created['session_id']}/credentials", {}),
    ):
        status, answer = world.as_user(ALICE, path, **body)
        assert (status, answer["code"]) == (503, "SessionTableUnavailable")
    status, health = world.call("/v1/health", method="GET")
    assert status == 503 and health["table_reachable"] is False


def test_a_failed_assume_role_ends_the_record_it_wrote(world):
    world.sts.fail = True
    status, body = world.as_user(ALICE, "/v1/sessions", profile="prod")
    assert (status, body["code"]) == (502, "AssumeRoleFailed")
    (stored,) = world.table.items.values()
    assert stored.record.status == "expired"


def test_a_foreign_account_is_refused(world):
    status, body = world.as_user(FOREIGN, "/v1/sessions", profile="dev")
    assert (status, body["code"]) == (403, "CallerNotAllowed")


def test_a_proof_sts_rejects_is_401(world):
    status, body = world.as_user("AKIAUNKNOWN000000000", "/v1/sessions", profile="dev")
    assert (status, body["code"]) == (401, "ProofRejected")


def test_sts_unreachable_is_503_not_a_denial(world):
    world.endpoint.up = False
    status, body = world.as_user(ALICE, "/v1/sessions", profile="dev")
    assert (status, body["code"]) == (503, "StsUnavailable")


@pytest.mark.parametrize(
    ("path", "method", "raw", "expected"),
    [
        ("/v1/nowhere", "POST", b"{}", (404, "NotFound")),
        ("/v1/sessions", "GET", b"", (405, "MethodNotAllowed")),
        ("/v1/sessions", "POST", b"not json", (400, "BadRequest")),
        ("/v1/sessions", "POST", b"[1, 2]", (400, "BadRequest")),
        ("/v1/sessions", "POST", b"{}", (401, "ProofMalformed")),
    ],
)
def test_bad_requests_get_a_code_and_a_request_id(world, path, method, raw, expected):
    status, body = world.call(path, raw, method=method)
    assert (status, body["code"]) == expected
    assert re.fullmatch(r"[0-9a-f]{16}", body["request_id"])


def test_a_bug_is_500_with_the_request_id_and_no_detail(world, monkeypatch):
    def broken(*_: Any, **__: Any) -> None:
        raise KeyError("internal detail")

    monkeypatch.setattr(world.app.service, "create_session", broken)
    status, body = world.as_user(ALICE, "/v1/sessions", profile="dev")
    assert (status, body["code"]) == (500, "InternalError")
    assert "internal detail" not in json.dumps(body)
    (line,) = world.log_lines()
    assert line["error"] == "KeyError" and line["request_id"] == body["request_id"]


def test_every_decision_is_one_log_line_without_secrets(world):
    _, created = world.as_user(ALICE, "/v1/sessions", profile="prod")
    world.as_user(BOB, f"/v1/sessions/{created['session_id']}/credentials")
    lines = world.log_lines()
    assert [(line["event"], line["status"]) for line in lines] == [
        ("session_create", 201),
        ("session_credentials", 403),
    ]
    assert lines[0]["user"] == "alice" and lines[1]["code"] == "NotSessionOwner"
    text = world.log.getvalue()
    assert "issued-secret" not in text and "issued-token" not in text
    assert "secret-of-" not in text


def test_health_holds_no_secret(world):
    status, body = world.call("/v1/health", method="GET")
    assert status == 200 and body["status"] == "ok" and body["service_id"] == SERVICE_ID


def test_the_record_keeps_every_access_key_the_service_issued(world):
    _, created = world.as_user(ALICE, "/v1/sessions", profile="prod")
    sid = created["session_id"]
    issued = created["credentials"]["AccessKeyId"]
    assert world.table.items[sid].record.access_key_ids == (issued,)


def test_a_key_the_table_cannot_record_is_not_handed_out(world, monkeypatch):
    def down(*_: Any, **__: Any) -> None:
        raise SessionStoreError("the table is unreachable")

    monkeypatch.setattr(FakeStore, "add_access_keys", down)
    status, body = world.as_user(ALICE, "/v1/sessions", profile="prod")
    assert (status, body["code"]) == (503, "SessionTableUnavailable")
    assert "credentials" not in body

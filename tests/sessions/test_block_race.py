"""The block/start race: a revoker writes the block, then finds the user's sessions through the
``user-index``, which DynamoDB updates eventually. The sandbox front makes the index lag
(:meth:`~sentinelgw.sandbox.core.Sandbox.lag_index`), so a session started in that window is
really missing from the revoker's query here, as it can be on AWS."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from sessionhelpers import make_client
from test_revocation_live import ask, held, session_of

from sentinelgw.sandbox.service import service_document_text
from sentinelgw.service.caller import Caller
from sentinelgw.service.core import SentinelService
from sentinelgw.service.document import DocumentSource, file_fetch
from sentinelgw.service.refusal import Refusal
from sentinelgw.service.table import ServiceTable
from sentinelgw.sessions.blocks import Block, put_block
from sentinelgw.sessions.model import SessionRecord
from sentinelgw.sessions.store import SessionStore
from sentinelgw.sourceidentity import new_id

Run = Callable[..., CompletedProcess[str]]
REVOKER = "arn:aws:iam::123456789012:user/secops"


@contextmanager
def lagging_index(sandbox: Any, seconds: float) -> Iterator[None]:
    sandbox.lag_index(seconds)
    try:
        yield
    finally:
        sandbox.lag_index(0)


ALICE = Caller(
    user="alice",
    arn="arn:aws:iam::123456789012:user/alice",
    account="123456789012",
    kind="iam-user",
)


def inprocess_service(sandbox: Any, store: SessionStore, tmp_path: Path, sts: Any) -> Any:
    """The credential service's core on the sandbox, in this process, over ``store``."""
    document = tmp_path / "service.yaml"
    document.write_text(service_document_text(sandbox.role_arns), encoding="utf-8")
    return SentinelService(
        service_id="race",
        documents=DocumentSource(str(document), file_fetch(str(document))),
        table=ServiceTable(store.client, store.table),
        sts=sts,
        clock=lambda: datetime.now(UTC),
        accounts=("123456789012",),
    )


def test_a_block_written_while_the_service_starts_a_session_refuses_its_credentials(
    sandbox: Any, store: SessionStore, tmp_path: Path
) -> None:
    sts = make_client(sandbox.endpoint_url, "sts")

    def revoker_blocks_now(**_kw: Any) -> None:
        # The revoker's block lands after the service's first check, before it hands out.
        block = Block(
            user="alice", blocked_by=REVOKER, reason="compromised", blocked_at=datetime.now(UTC)
        )
        put_block(store.client, store.table, block)

    sts.meta.events.register("before-call.sts.AssumeRole", revoker_blocks_now)
    service = inprocess_service(sandbox, store, tmp_path, sts)
    note: dict[str, Any] = {}
    with lagging_index(sandbox, 600):
        with pytest.raises(Refusal) as refused:
            service.create_session(ALICE, {"profile": "prod"}, note)
        # The revoker's index query does not show the new session ...
        assert list(store.query(user="alice")) == []
    assert (refused.value.status, refused.value.code) == (403, "UserBlocked")
    # ... but the service found the block on its second read and revoked the session itself,
    # so no credential of it was handed out.
    record = store.get(note["session_id"])
    assert record is not None and record.status == "revoked"
    assert record.revoked_reason == "the user was blocked while the session started"


def test_a_session_the_lagging_index_hides_is_denied_by_the_blocked_users_wildcard(
    run_sentinel: Run, sandbox_env: dict[str, str], sandbox: Any
) -> None:
    with held(sandbox_env, "ask") as child:
        sid = session_of(child)
        assert ask(child) == "OK"
        shown = json.loads(run_sentinel(["server-session", sid, "--format", "json"]).stdout)
        user, user_part = shown["user"], shown["source_identity"].split(".")[1]
        # An older session of the same user on the same role, which the index does show.
        now = datetime.now(UTC)
        older_id = new_id()  # the shared sandbox table: never an id other tests use
        older = SessionRecord.new(
            id=older_id,
            user=user,
            profile="prod",
            role_arn=sandbox.role_arns["prod"],
            started_at=now - timedelta(hours=2),
            expires_at=now + timedelta(hours=1),
            server_instance_id="older",
            source_identity=f"sentinel.{user_part}.{older_id}",
            host="other",
        )
        ddb = make_client(sandbox.endpoint_url)
        ddb.put_item(TableName=sandbox.table, Item=older.to_item())
        try:
            with lagging_index(sandbox, 600):
                proc = run_sentinel(
                    ["server-revoke", "--user", user, "--block", "--reason", "race"]
                )
            assert proc.returncode == 0, proc.stderr
            # The index showed the older session (other tests may leave more of this user's
            # sessions in the shared table), but not the child's, which the lag hid.
            assert re.search(r"\b\d+ active sessions? of user", proc.stdout), proc.stdout
            found = json.loads(
                run_sentinel(["server-session", older_id, "--format", "json"]).stdout
            )
            assert found["status"] == "revoked"
            assert "every credential of user" in proc.stdout
            # The child's own session was never found, yet its held credentials are denied.
            assert ask(child).split()[:2] == ["DENIED", "AccessDenied"]
            hidden = json.loads(run_sentinel(["server-session", sid, "--format", "json"]).stdout)
            assert hidden["status"] == "active"
        finally:
            unblocked = run_sentinel(["server-unblock", "--user", user])
            # The wildcard now ends at the unblock: the tests after this one may use the
            # user's sessions at once.
            assert "IAM: the block's wildcard on" in unblocked.stdout, unblocked.stderr
            run_sentinel(["server-revoke", sid, "--reason", "cleanup", "--soft"])
            ddb.delete_item(TableName=sandbox.table, Key={"id": {"S": older_id}})


def test_a_block_written_while_a_local_server_session_starts_refuses_it(
    run_sentinel: Run, sandbox_env: dict[str, str], sandbox: Any
) -> None:
    """``sentinel exec --server`` reads the block, writes its record, and reads the block
    again before any credential is issued: a block landing between the two is honoured."""
    blocked: list[str] = []

    def block_with_the_record(request: dict[str, Any]) -> None:
        item = request.get("Item", {})
        if request.get("TableName") == sandbox.table and "source_identity" in item and not blocked:
            user = item["user"]["S"]
            put_block(
                make_client(sandbox.endpoint_url),
                sandbox.table,
                Block(user=user, blocked_by=REVOKER, reason="race", blocked_at=datetime.now(UTC)),
            )
            blocked.append(user)

    sandbox.before_put_item(block_with_the_record)
    try:
        proc = run_sentinel(["exec", "--server", "--profile", "prod", "--", "true"])
    finally:
        sandbox.before_put_item(None)
        for user in blocked:
            run_sentinel(["server-unblock", "--user", user])
    assert blocked, "the session record was never written"
    assert proc.returncode == 1, proc.stderr
    assert f"user {blocked[0]} is blocked" in proc.stderr and "Traceback" not in proc.stderr
    listed = json.loads(
        run_sentinel(
            ["server-sessions", "--user", blocked[0], "--limit", "1", "--format", "json"]
        ).stdout
    )
    assert listed[0]["status"] == "expired"
    assert listed[0]["end_reason"] == "the user was blocked while the session started"

"""Each claim of docs/security.md, checked: one test (or more) per claim, named after it.

The red team found claims that did not hold. Each was either fixed in the code or reworded to
what holds; these tests keep both true.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinelgw.server.tracker import SessionTracker
from sentinelgw.sessions.model import SessionRecord

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Store:
    """The two reads the revocation poller makes, answered from memory."""

    table = "sessions-tbl"

    def __init__(self, record: SessionRecord) -> None:
        self.record = record
        self.status_reads = 0

    def status(self, _id: str) -> str:
        self.status_reads += 1
        return self.record.status

    def get(self, _id: str) -> SessionRecord:
        return self.record


def record() -> SessionRecord:
    return SessionRecord.new(
        id="0123456789abcdef",
        user="alice",
        profile="prod",
        role_arn="arn:aws:iam::123456789012:role/prod",
        started_at=T0,
        expires_at=T0 + timedelta(hours=1),
        server_instance_id="srv",
        source_identity="sentinel.alice.0123456789abcdef",
        host="laptop",
    )


def test_claim_revoke_is_refused_from_the_first_status_read_after_it() -> None:
    # docs/security.md: "refused from the first status read after server-revoke returns; the
    # poller reads every 0.5 s". No timing here: the state flips on that very read.
    store = Store(record())
    tracker = SessionTracker(
        store,
        store.record,
        log=None,  # type: ignore[arg-type]
        poll_interval=0.5,
    )
    tracker.check_now()
    assert tracker.state().state == "ok"
    store.record = store.record.with_status(
        "revoked",
        revoked_by="arn:aws:iam::1:user/sec",
        revoked_reason="stolen laptop",
        revoked_at=T0,
    )
    assert tracker.state().state == "ok"  # not yet read
    tracker.check_now()
    state = tracker.state()
    assert state.state == "revoked" and "stolen laptop" in state.detail
    assert store.status_reads == 2
    assert tracker._poll == 0.5  # the interval the document names


def test_claim_revoked_state_never_goes_back_to_ok() -> None:
    store = Store(record().with_status("revoked"))
    tracker = SessionTracker(store, store.record, log=None)  # type: ignore[arg-type]
    tracker.check_now()
    store.record = record()  # someone writes the record back to active
    tracker.check_now()
    assert tracker.state().state == "revoked"

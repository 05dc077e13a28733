"""CredentialRefresher with an injected clock and a fake issuer: what it serves, and when it
re-issues."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.server.refresher import EXPIRY_MARGIN, CredentialRefresher

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(minutes=15)


class Clocks:
    """A wall clock and a monotonic clock that only move when the test says so."""

    def __init__(self) -> None:
        self.wall = START
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, delta: timedelta) -> None:
        self.wall += delta
        self.mono += delta.total_seconds()


class FakeIssuer:
    """Issues numbered credentials that STS would let live for an hour from the clock's now."""

    def __init__(self, clocks: Clocks) -> None:
        self.clocks = clocks
        self.calls = 0
        self.second_call = threading.Event()

    def __call__(self) -> AwsCredentials:
        self.calls += 1
        if self.calls >= 2:
            self.second_call.set()
        return AwsCredentials(
            f"ASIA{self.calls:016d}", "secret", "token", self.clocks.now() + timedelta(hours=1)
        )


def make(clocks: Clocks, issuer: FakeIssuer) -> CredentialRefresher:
    return CredentialRefresher(issuer, LIFETIME, clock=clocks.now, monotonic=clocks.monotonic)


def first_fetch(refresher: CredentialRefresher) -> AwsCredentials:
    """The synchronous first issue of ``start()``, without the background thread."""
    refresher.refresh_if_due()
    creds = refresher.current()
    assert creds is not None
    return creds


def test_served_expiration_is_capped_at_the_served_lifetime() -> None:
    clocks = Clocks()
    creds = first_fetch(make(clocks, FakeIssuer(clocks)))
    assert creds.expiration == START + LIFETIME


def test_credentials_in_their_last_30_seconds_are_never_served() -> None:
    clocks = Clocks()
    refresher = make(clocks, FakeIssuer(clocks))
    creds = first_fetch(refresher)
    assert creds.expiration is not None
    clocks.wall = creds.expiration - EXPIRY_MARGIN - timedelta(seconds=1)
    assert refresher.current() == creds
    clocks.wall = creds.expiration - EXPIRY_MARGIN
    assert refresher.current() is None
    clocks.wall = creds.expiration - timedelta(seconds=1)
    assert refresher.current() is None
    clocks.wall = creds.expiration + timedelta(seconds=1)
    assert refresher.current() is None


def test_no_reissue_before_half_the_lifetime() -> None:
    clocks = Clocks()
    issuer = FakeIssuer(clocks)
    refresher = make(clocks, issuer)
    first = first_fetch(refresher)
    clocks.advance(LIFETIME / 2 - timedelta(seconds=1))
    assert refresher.refresh_if_due() > 0
    assert issuer.calls == 1
    assert refresher.current() == first


def test_reissues_at_half_the_lifetime_long_before_the_last_30_seconds() -> None:
    clocks = Clocks()
    issuer = FakeIssuer(clocks)
    refresher = make(clocks, issuer)
    first = first_fetch(refresher)
    clocks.advance(LIFETIME / 2)
    assert refresher.refresh_if_due() == 0.0
    assert issuer.calls == 2
    second = refresher.current()
    assert second is not None and second.access_key_id != first.access_key_id
    assert second.expiration == clocks.now() + LIFETIME
    # Where the first credentials were about to be withheld, fresh ones are served.
    assert first.expiration is not None
    clocks.wall = first.expiration - EXPIRY_MARGIN
    assert refresher.current() == second


def test_a_failed_reissue_keeps_serving_and_retries() -> None:
    clocks = Clocks()
    errors: list[Exception] = []
    issued = {"n": 0}

    def flaky() -> AwsCredentials:
        issued["n"] += 1
        if issued["n"] == 2:
            raise RuntimeError("sts unavailable")
        return AwsCredentials(
            f"ASIA{issued['n']:016d}", "s", "t", clocks.now() + timedelta(hours=1)
        )

    refresher = CredentialRefresher(
        flaky, LIFETIME, on_error=errors.append, clock=clocks.now, monotonic=clocks.monotonic
    )
    first = first_fetch(refresher)
    clocks.advance(LIFETIME / 2)
    refresher.refresh_if_due()
    assert [str(e) for e in errors] == ["sts unavailable"]
    assert refresher.current() == first
    assert refresher.refresh_if_due() > 0  # the retry waits a little
    clocks.advance(LIFETIME / 4)
    refresher.refresh_if_due()
    latest = refresher.current()
    assert latest is not None and latest.access_key_id != first.access_key_id


def test_the_background_thread_reissues_when_due() -> None:
    clocks = Clocks()
    issuer = FakeIssuer(clocks)
    refresher = make(clocks, issuer)
    first = refresher.start()
    try:
        clocks.advance(LIFETIME / 2)
        assert issuer.second_call.wait(timeout=10)
    finally:
        refresher.stop()
    latest = refresher.current()
    assert latest is not None and latest.access_key_id != first.access_key_id

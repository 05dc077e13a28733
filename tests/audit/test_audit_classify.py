"""Classification against the real session table (sandbox DynamoDB), and batched reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from audithelpers import DEV_ROLE, PROD_ROLE, T0, assume_role, new_id, session

from sentinelgw.audit.classify import Category, Classifier
from sentinelgw.audit.events import ParseStats, parse_record
from sentinelgw.audit.profiles import ProfileResolver

PROFILES = ProfileResolver({PROD_ROLE: ["prod", "prod-sso"], DEV_ROLE: ["dev"]})


def events(*records: dict[str, Any]) -> list[Any]:
    out = [parse_record(r, ParseStats()) for r in records]
    assert all(e is not None for e in out)
    return out


def classify(store: Any, *records: dict[str, Any]) -> list[Any]:
    c = Classifier(store, PROFILES, table=store.table)
    return list(c.classify(events(*records)))


def test_each_category(store: Any) -> None:
    tracked_sid = session(store, profile="prod")
    forged = f"sentinel.mallory.{new_id()}"
    got = {
        ce.event.event_id: ce
        for ce in classify(
            store,
            assume_role(source_identity=tracked_sid, event_id="tracked"),
            assume_role(event_id="none"),
            assume_role(source_identity="terraform-ci", event_id="other"),
            assume_role(source_identity=forged, event_id="orphan"),
        )
    }
    assert got["tracked"].category is Category.TRACKED
    assert got["tracked"].profile == "prod"
    assert got["none"].category is Category.NO_SOURCE_IDENTITY
    assert "outside Sentinel" in got["none"].reason
    assert got["other"].category is Category.NON_SENTINEL_FORMAT
    assert "'terraform-ci'" in got["other"].reason
    assert got["orphan"].category is Category.ORPHANED
    assert "no session" in got["orphan"].reason and store.table in got["orphan"].reason


def test_a_record_with_a_different_source_identity_is_orphaned(store: Any) -> None:
    real = session(store, user="alice")
    ident = real.rsplit(".", 1)[1]
    forged = f"sentinel.mallory.{ident}"  # a real session id under another user's name
    (ce,) = classify(store, assume_role(source_identity=forged))
    assert ce.category is Category.ORPHANED
    assert "forged" in ce.reason and real in ce.reason


def test_a_chained_session_inherits_the_callers_tracked_identity(store: Any) -> None:
    sid = session(store, profile="dev", role_arn=DEV_ROLE)
    rec = assume_role(chained=sid, role_arn=PROD_ROLE)
    (ce,) = classify(store, rec)
    assert ce.category is Category.TRACKED
    assert "inherited" in ce.reason
    assert ce.profile == "dev"  # the session record names the profile


def test_untracked_events_are_attributed_through_the_aws_config(store: Any) -> None:
    unknown = "arn:aws:iam::999999999999:role/elsewhere"
    got = classify(
        store,
        assume_role(role_arn=PROD_ROLE),
        assume_role(role_arn=DEV_ROLE),
        assume_role(role_arn=unknown),
    )
    assert [ce.profile for ce in got] == ["prod,prod-sso", "dev", unknown]
    assert got[0].profiles == ("prod", "prod-sso") and got[2].profiles == ()


def test_store_is_read_once_per_distinct_source_identity(store: Any) -> None:
    """250 distinct identities, each seen 4 times, some tracked: 3 BatchGetItem calls."""
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(sum(len(v["Keys"]) for v in params["RequestItems"].values()))

    # Counting, not mocking: botocore's own event hook on the real client.
    store.client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)
    try:
        sids = [session(store) if n % 5 == 0 else f"sentinel.bob.{new_id()}" for n in range(250)]
        recs = [
            assume_role(source_identity=sids[n % 250], at=T0 + timedelta(seconds=n))
            for n in range(1000)
        ]
        recs += [assume_role() for _ in range(50)]  # no identity: never looked up
        c = Classifier(store, PROFILES, table=store.table)
        got = list(c.classify(events(*recs)))
    finally:
        store.client.meta.events.unregister("provide-client-params.dynamodb.BatchGetItem", count)
    assert len(got) == 1050
    assert sum(calls) == 250 and len(calls) == 3 and max(calls) <= 100
    assert store.read_calls == 250
    assert c.stats.distinct_ids == 250 and c.stats.found == 50
    tracked = sum(1 for ce in got if ce.category is Category.TRACKED)
    assert tracked == 200  # 50 tracked identities × 4 events


def test_many_events_of_few_identities_flush_without_rereading(store: Any) -> None:
    from sentinelgw.audit import classify as mod

    sid = session(store)
    recs = [assume_role(source_identity=sid, at=T0 + timedelta(seconds=n)) for n in range(30)]
    old = mod.MAX_BUFFERED_EVENTS
    mod.MAX_BUFFERED_EVENTS = 7  # force several flushes of one buffered identity
    try:
        c = Classifier(store, PROFILES, table=store.table)
        got = list(c.classify(events(*recs)))
    finally:
        mod.MAX_BUFFERED_EVENTS = old
    assert len(got) == 30 and all(ce.category is Category.TRACKED for ce in got)
    assert c.stats.batch_calls == 1


@pytest.mark.parametrize(
    "arn,expected",
    [
        (PROD_ROLE, ("prod", "prod-sso")),
        ("arn:aws:iam::123456789012:role/team/sentinel-prod", ("prod", "prod-sso")),
        ("arn:aws:iam::123456789013:role/sentinel-prod", ()),
    ],
)
def test_role_arns_match_exactly_or_by_account_and_name(
    arn: str, expected: tuple[str, ...]
) -> None:
    assert PROFILES(arn) == expected


def test_role_profile_map_reads_the_aws_config(sandbox: Any, audit_env: Any) -> None:
    resolver = ProfileResolver.from_aws_config()
    assert resolver(sandbox.role_arns["prod"]) == ("prod", "prod-sso")
    assert resolver(sandbox.role_arns["dev"]) == ("dev",)

"""Real-shaped CloudTrail records through the public pipeline, against the sandbox table.

Failed calls, AWS services, SAML and web identity, GetSessionToken and GetFederationToken,
cross-account pairs, duplicates, and replays of a real session's SourceIdentity.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from audithelpers import (
    ACCOUNT,
    DEV_ROLE,
    OIDC_ROLE,
    OTHER_ACCOUNT,
    PROD_ROLE,
    SSO_ROLE,
    T0,
    assume_role,
    by_service,
    cross_account_pair,
    failed,
    federation_token,
    new_id,
    revoke,
    saml,
    session,
    session_token,
    web_identity,
)

from sentinelgw.audit.classify import CLOCK_SKEW, GAPS, Category, Classifier
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.pipeline import Deduplicator, classify_records
from sentinelgw.audit.profiles import ProfileResolver

PROFILES = ProfileResolver({PROD_ROLE: ["prod"], DEV_ROLE: ["dev"]})


def run(store: Any, *records: dict[str, Any], **kw: Any) -> dict[str, Any]:
    stats, dedup = ParseStats(), Deduplicator()
    out = list(
        classify_records(
            records,
            store=store,
            profiles_for_role=PROFILES,
            table=getattr(store, "table", None),
            stats=stats,
            dedup=dedup,
            **kw,
        )
    )
    return {
        "by_id": {ce.event.event_id: ce for ce in out},
        "all": out,
        "stats": stats,
        "dedup": dedup,
    }


def one(store: Any, record: dict[str, Any], **kw: Any) -> Any:
    (ce,) = run(store, record, **kw)["all"]
    return ce


# --- failed calls --------------------------------------------------------------------------


def test_access_denied_with_null_parameters_is_failed_not_malformed(store: Any) -> None:
    got = run(store, failed(assume_role()))
    (ce,) = got["all"]
    assert ce.category is Category.FAILED and not ce.gap
    assert "AccessDenied" in ce.reason and ce.event.role_arn is None
    assert got["stats"].malformed == 0


def test_expired_token_failure_naming_a_role_is_failed_not_a_bypass(store: Any) -> None:
    ce = one(store, failed(assume_role(role_arn=PROD_ROLE), "ExpiredToken", keep_params=True))
    assert ce.category is Category.FAILED and not ce.gap
    assert ce.event.role_arn == PROD_ROLE and ce.event.error_code == "ExpiredToken"


def test_a_failed_call_with_a_sentinel_value_reads_no_session(store: Any) -> None:
    sid = f"sentinel.alice.{new_id()}"
    reads = store.read_calls
    ce = one(store, failed(assume_role(source_identity=sid), keep_params=True))
    assert ce.category is Category.FAILED and store.read_calls == reads


# --- AWS services ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["lambda.amazonaws.com", "ec2.amazonaws.com"])
def test_aws_service_callers_are_not_gaps_unless_asked(store: Any, service: str) -> None:
    ce = one(store, by_service(service))
    assert ce.category is Category.AWS_SERVICE and not ce.gap and service in ce.reason
    assert one(store, by_service(service), include_aws_service=True).gap


def test_invoked_by_alone_marks_an_aws_service_call(store: Any) -> None:
    rec = assume_role()
    rec["userIdentity"] = {**rec["userIdentity"], "invokedBy": "cloudformation.amazonaws.com"}
    assert one(store, rec).category is Category.AWS_SERVICE


# --- SAML, web identity, role-less calls ---------------------------------------------------


def test_identity_center_and_oidc_sessions_are_audited(store: Any) -> None:
    got = run(
        store,
        saml(),
        saml(source_identity="alice@example.com"),
        web_identity(),
        web_identity(source_identity="ci-runner-7"),
    )
    cats = [(ce.event.event_name, ce.category) for ce in got["all"]]
    assert cats == [
        ("AssumeRoleWithSAML", Category.NO_SOURCE_IDENTITY),
        ("AssumeRoleWithSAML", Category.NON_SENTINEL_FORMAT),
        ("AssumeRoleWithWebIdentity", Category.NO_SOURCE_IDENTITY),
        ("AssumeRoleWithWebIdentity", Category.NON_SENTINEL_FORMAT),
    ]
    sso = got["all"][0].event
    assert sso.role_arn == SSO_ROLE and sso.principal_type == "SAMLUser"
    assert sso.who == "SAMLUser:alice@example.com" and sso.caller_arn is None
    assert got["all"][2].event.role_arn == OIDC_ROLE
    assert all(ce.gap for ce in got["all"])


def test_a_saml_session_with_a_forged_sentinel_value_is_orphaned(store: Any) -> None:
    ce = one(store, saml(source_identity=f"sentinel.alice.{new_id()}"))
    assert ce.category is Category.ORPHANED and ce.gap


def test_a_saml_session_reusing_a_real_sessions_value_is_a_replay(store: Any) -> None:
    sid = session(store, role_arn=SSO_ROLE)
    ce = one(store, saml(source_identity=sid, role_arn=SSO_ROLE))
    assert ce.category is Category.REPLAYED and "AssumeRoleWithSAML" in ce.reason


@pytest.mark.parametrize(
    "record", [session_token(), federation_token()], ids=["GetSessionToken", "GetFederationToken"]
)
def test_calls_that_cannot_carry_a_source_identity_are_outside_sentinel(
    store: Any, record: dict[str, Any]
) -> None:
    ce = one(store, record)
    assert ce.category is Category.NO_SOURCE_IDENTITY and ce.gap
    assert "cannot carry a SourceIdentity" in ce.reason
    assert ce.event.role_arn is None and ce.profile is None
    assert ce.event.caller_arn == f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_federation_token_keeps_the_federated_name(store: Any) -> None:
    assert one(store, federation_token(name="bob")).event.role_session_name == "bob"


# --- duplicates ----------------------------------------------------------------------------


def test_a_cross_account_pair_is_one_event_with_both_accounts(store: Any) -> None:
    caller_copy, role_copy = cross_account_pair()
    got = run(store, caller_copy, role_copy)
    (ce,) = got["all"]
    assert got["dedup"].accounts(ce.event) == tuple(sorted((ACCOUNT, OTHER_ACCOUNT)))
    assert got["stats"].duplicates == 1


def test_a_record_delivered_twice_counts_once(store: Any) -> None:
    rec = assume_role()
    got = run(store, rec, dict(rec), assume_role())
    assert len(got["all"]) == 2 and got["stats"].duplicates == 1
    assert got["dedup"].accounts(got["all"][0].event) == (ACCOUNT,)


def test_shared_event_id_wins_over_event_id(store: Any) -> None:
    a, b = assume_role(), assume_role()
    a["sharedEventID"] = b["sharedEventID"] = "shared-1"
    assert len(run(store, a, b)["all"]) == 1


# --- tracked and replayed --------------------------------------------------------------------


def test_tracked_needs_the_sessions_role_and_lifetime(store: Any) -> None:
    sid = session(store, role_arn=PROD_ROLE, at=T0)  # lives T0 .. T0 + 1h
    path_arn = PROD_ROLE.replace(":role/", ":role/team/")  # same role, written with a path
    got = run(
        store,
        assume_role(source_identity=sid, at=T0, event_id="start"),
        assume_role(source_identity=sid, at=T0 - CLOCK_SKEW, event_id="skew-early"),
        assume_role(
            source_identity=sid, at=T0 + timedelta(hours=1) + CLOCK_SKEW, event_id="skew-late"
        ),
        assume_role(
            source_identity=sid, at=T0 + timedelta(minutes=30), role_arn=path_arn, event_id="path"
        ),
        assume_role(source_identity=sid, at=T0 + timedelta(hours=2), event_id="later"),
        assume_role(source_identity=sid, at=T0 - timedelta(hours=1), event_id="before"),
        assume_role(source_identity=sid, at=T0, role_arn=DEV_ROLE, event_id="other-role"),
    )
    cat = {k: v.category for k, v in got["by_id"].items()}
    assert cat["start"] is cat["skew-early"] is cat["skew-late"] is cat["path"] is Category.TRACKED
    for key in ("later", "before", "other-role"):
        assert cat[key] is Category.REPLAYED, key
        assert got["by_id"][key].gap and got["by_id"][key].session_id == sid.rsplit(".", 1)[1]
    assert "outside the session's lifetime" in got["by_id"]["later"].reason
    assert DEV_ROLE in got["by_id"]["other-role"].reason
    assert got["by_id"]["other-role"].profile == "dev"  # the role that was reached


def test_a_replay_after_revoke_is_replayed(store: Any) -> None:
    sid = session(store, at=T0)
    revoke(store, sid, T0 + timedelta(minutes=10))
    got = run(
        store,
        assume_role(source_identity=sid, at=T0 + timedelta(minutes=5), event_id="before-revoke"),
        assume_role(source_identity=sid, at=T0 + timedelta(minutes=20), event_id="after-revoke"),
    )
    assert got["by_id"]["before-revoke"].category is Category.TRACKED
    after = got["by_id"]["after-revoke"]
    assert after.category is Category.REPLAYED and "after the session was revoked" in after.reason


def test_role_chaining_checks_the_callers_role(store: Any) -> None:
    sid = session(store, profile="dev", role_arn=DEV_ROLE)
    chained = assume_role(chained=sid, role_arn=PROD_ROLE)  # caller's role is DEV_ROLE
    assert one(store, chained).category is Category.TRACKED
    wrong = assume_role(chained=sid, role_arn=PROD_ROLE)
    wrong["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = PROD_ROLE
    ce = one(store, wrong)
    assert ce.category is Category.REPLAYED and "inherited" in ce.reason


def test_the_precedence_of_the_categories(store: Any) -> None:
    sid = session(store)
    # failed beats aws_service beats everything else
    svc_failed = failed(by_service(), keep_params=True)
    assert one(store, svc_failed).category is Category.FAILED
    svc = by_service(role_arn=PROD_ROLE)
    svc["requestParameters"]["sourceIdentity"] = sid
    assert one(store, svc).category is Category.AWS_SERVICE
    assert {str(c) for c in GAPS} == {
        "replayed",
        "orphaned",
        "non_sentinel_format",
        "no_source_identity",
    }


class _BlockOnly:
    """A lookup answering with a user-block record: the table's other kind of item."""

    table = "blocks"

    def batch_get(self, ids: list[str]) -> dict[str, Any]:
        from sentinelgw.sessions.model import SessionRecord

        rec = SessionRecord.new(
            id=ids[0],
            user="alice",
            profile="prod",
            role_arn=PROD_ROLE,
            started_at=T0,
            expires_at=T0 + timedelta(hours=1),
            server_instance_id="x",
            source_identity="",
            host="h",
        )
        return {ids[0]: _Renamed(rec, f"block#{ids[0]}")}


class _Renamed:
    def __init__(self, rec: Any, new_id: str) -> None:
        self._rec, self.id = rec, new_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rec, name)


def test_user_block_records_are_never_sessions() -> None:
    ident = new_id()
    c = Classifier(_BlockOnly(), PROFILES)
    (ce,) = c.classify([_event(assume_role(source_identity=f"sentinel.alice.{ident}"))])
    assert ce.category is Category.ORPHANED


def _event(record: dict[str, Any]) -> Any:
    from sentinelgw.audit.events import parse_record

    event = parse_record(record, ParseStats())
    assert event is not None
    return event

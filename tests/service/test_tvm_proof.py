"""Proof checks without the network: shape, size, service id, endpoint, freshness, replay, and
the caller derivation; fuzzed with hypothesis so any input ends in a clean ProofError."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelgw.service.caller import caller_from_arn
from sentinelgw.service.proof import (
    MAX_PROOF_CHARS,
    ProofError,
    ProofVerifier,
    ReplayCache,
    VerifiedCaller,
    ask_sts,
    build_proof,
    check_proof,
    parse_proof,
)

SERVICE = "https://tvm.example.test"
STS = "https://sts.us-east-1.amazonaws.com"
HOST = "sts.us-east-1.amazonaws.com"
CREDS = Credentials("AKIAEXAMPLEEXAMPLE01", "example-secret-not-real", "example-token")


def _proof(service_id: str = SERVICE, sts: str = STS) -> dict:
    return build_proof(CREDS, service_id=service_id, sts_url=sts, region="us-east-1")


def _now(proof: dict) -> datetime:
    stamp = proof["headers"]["X-Amz-Date"]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _check(raw: object, now: datetime | None = None, service_id: str = SERVICE):
    proof = parse_proof(raw)
    return check_proof(proof, service_id=service_id, sts_host=HOST, now=now or _now(raw))  # type: ignore[arg-type]


def _code(fn, *args, **kw) -> str:
    with pytest.raises(ProofError) as err:
        fn(*args, **kw)
    assert err.value.status in (401, 403, 503)
    return err.value.code


def test_a_fresh_proof_passes_and_signs_the_service_id_and_a_nonce():
    proof = _proof()
    signed = _check(proof)
    auth = proof["headers"]["Authorization"]
    assert "x-sentinel-service-id" in auth and "x-sentinel-nonce" in auth
    assert signed.signature in auth
    assert "example-secret-not-real" not in json.dumps(proof)


def test_two_proofs_in_the_same_second_differ():
    assert _proof()["headers"]["Authorization"] != _proof()["headers"]["Authorization"]


def test_proof_for_another_service_is_refused():
    assert _code(_check, _proof(service_id="https://other.example")) == "ProofWrongService"


def test_service_id_header_claimed_but_not_signed_is_refused():
    proof = _proof(service_id="https://other.example")
    proof["headers"]["X-Sentinel-Service-Id"] = SERVICE
    auth = proof["headers"]["Authorization"]
    proof["headers"]["Authorization"] = auth.replace(";x-sentinel-service-id", "")
    assert _code(_check, proof) == "ProofWrongService"


def test_platform_origin_is_a_second_accepted_id():
    proof = _proof(service_id="https://abc.lambda-url.us-east-1.on.aws")
    parsed = parse_proof(proof)
    check_proof(
        parsed,
        service_id="arn:aws:lambda:us-east-1:1:function:f",
        sts_host=HOST,
        now=_now(proof),
        also="https://abc.lambda-url.us-east-1.on.aws",
    )


def test_stale_and_future_proofs_are_refused():
    proof = _proof()
    assert _code(_check, proof, _now(proof) + timedelta(minutes=6)) == "ProofStale"
    assert _code(_check, proof, _now(proof) - timedelta(minutes=6)) == "ProofStale"
    _check(proof, _now(proof) + timedelta(minutes=4))


def test_proof_signed_for_another_sts_host_is_refused():
    proof = _proof(sts="https://sts.eu-west-1.amazonaws.com")
    assert _code(_check, proof) == "ProofWrongEndpoint"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(method="GET"),
        lambda p: p.update(body="Action=AssumeRole&Version=2011-06-15"),
        lambda p: p["headers"].update({"X-Forwarded-Host": "evil"}),
        lambda p: p["headers"].update({"x-amz-date": p["headers"]["X-Amz-Date"]}),
        lambda p: p["headers"].update(Authorization="AWS4-HMAC-SHA256 garbage"),
        lambda p: p["headers"].update({"X-Amz-Date": "yesterday"}),
        lambda p: p["headers"].update({"Host": "a\r\nb"}),
        lambda p: p.update(extra="x"),
        lambda p: p.update(headers=[]),
    ],
)
def test_malformed_proofs_are_refused(mutate):
    proof = _proof()
    mutate(proof)
    assert _code(_check, proof, datetime.now(UTC)) == "ProofMalformed"


def test_oversized_proof_is_refused():
    proof = _proof()
    proof["headers"]["X-Amz-Security-Token"] = "A" * (MAX_PROOF_CHARS + 1)
    assert _code(parse_proof, proof) == "ProofTooLarge"
    many = _proof()
    many["headers"].update({f"X-Amz-{i}": "x" for i in range(20)})
    assert _code(parse_proof, many) == "ProofTooLarge"


def test_replay_cache_refuses_a_second_use_and_forgets_old_entries():
    cache = ReplayCache(timedelta(minutes=5), limit=2)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cache.claim("a" * 64, now, now)
    assert _code(cache.claim, "a" * 64, now, now) == "ProofReplayed"
    cache.claim("b" * 64, now, now)
    later = now + timedelta(minutes=11)
    cache.claim("c" * 64, later, later)  # the full cache dropped the expired entries
    cache.claim("d" * 64, later, later)
    assert _code(cache.claim, "e" * 64, later, later) == "ProofReplayCacheFull"


def test_replay_of_an_accepted_proof_is_refused_and_sts_is_asked_first():
    calls = []

    def transport(url, headers, body):
        calls.append(url)
        return 200, (
            b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/'
            b'2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:'
            b"user/alice</Arn><UserId>AIDA</UserId><Account>123456789012</Account>"
            b"</GetCallerIdentityResult></GetCallerIdentityResponse>"
        )

    verifier = ProofVerifier(service_id=SERVICE, sts_url=STS, transport=transport)
    proof = _proof()
    assert verifier.verify(proof, _now(proof)).arn.endswith(":user/alice")
    assert _code(verifier.verify, proof, _now(proof)) == "ProofReplayed"
    assert calls == [STS, STS]  # the configured endpoint, never the proof's own url


def test_a_proof_sts_rejects_takes_no_place_in_the_replay_cache():
    replay = ReplayCache(timedelta(minutes=5), limit=1)
    verifier = ProofVerifier(
        service_id=SERVICE,
        sts_url=STS,
        transport=lambda *a: (403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>"),
        replay=replay,
    )
    for _ in range(3):
        proof = _proof()
        assert _code(verifier.verify, proof, _now(proof)) == "ProofRejected"
        assert _code(verifier.verify, proof, _now(proof)) == "ProofRejected"
    assert replay._seen == {}


def test_a_proof_dated_in_the_future_is_stale():
    proof = _proof()
    assert _check(proof, _now(proof) - timedelta(seconds=50))  # a little clock drift passes
    assert _code(_check, proof, _now(proof) - timedelta(minutes=2)) == "ProofStale"
    assert _code(_check, proof, _now(proof) + timedelta(minutes=6)) == "ProofStale"


def test_sts_replay_goes_to_the_configured_endpoint_not_the_callers_url():
    seen = {}

    def transport(url, headers, body):
        seen.update(url=url, host=headers["host"])
        return 403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>"

    proof = _proof()
    proof["url"] = "https://attacker.example/"
    assert _code(ask_sts, parse_proof(proof), STS, transport) == "ProofRejected"
    assert seen == {"url": STS, "host": HOST}


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, b"oops", "StsUnavailable"),
        (200, b"<not xml", "StsUnavailable"),
        (200, b"<x><Arn>nope</Arn></x>", "StsUnavailable"),
        (200, b"x" * 70000, "StsUnavailable"),
    ],
)
def test_sts_failures_are_503_not_401(status, body, code):
    err = _code(ask_sts, parse_proof(_proof()), STS, lambda *a: (status, body))
    assert err == code


def test_unreachable_sts_is_503():
    def boom(*_a):
        raise ConnectionRefusedError

    with pytest.raises(ProofError) as err:
        ask_sts(parse_proof(_proof()), STS, boom)
    assert err.value.status == 503


@pytest.mark.parametrize(
    ("arn", "user", "kind"),
    [
        ("arn:aws:iam::123456789012:user/alice", "alice", "iam-user"),
        ("arn:aws:iam::123456789012:user/team/ops/bob", "bob", "iam-user"),
        (
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/carol@example.com",
            "carol@example.com",
            "identity-center",
        ),
        (
            "arn:aws:sts::123456789012:assumed-role/ci-deployer/alice",
            "ci-deployer/alice",
            "assumed-role",
        ),
    ],
)
def test_user_is_derived_from_the_verified_arn(arn, user, kind):
    verified = VerifiedCaller(arn=arn, account="123456789012", user_id="AROAEXAMPLE:x")
    caller = caller_from_arn(verified, lambda role, role_id, account: role_id == "AROAEXAMPLE")
    assert (caller.user, caller.kind, caller.account) == (user, kind, "123456789012")


def test_an_sso_role_name_alone_is_an_ordinary_role_session():
    arn = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Lookalike_0000/security"
    verified = VerifiedCaller(arn=arn, account="123456789012", user_id="AROAEXAMPLE:security")
    for check in (None, lambda *a: False):
        caller = caller_from_arn(verified, check)
        assert (caller.user, caller.kind) == (
            "AWSReservedSSO_Lookalike_0000/security",
            "assumed-role",
        )


def test_a_block_applies_to_the_user_named_in_a_sentinel_session_name():
    arn = "arn:aws:sts::123456789012:assumed-role/sentinel-dev/sentinel.alice.0123456789abcdef"
    caller = caller_from_arn(VerifiedCaller(arn=arn, account="123456789012", user_id="AROA:x"))
    assert caller.humans == ("sentinel-dev/sentinel.alice.0123456789abcdef", "alice")
    plain = "arn:aws:sts::123456789012:assumed-role/sentinel-dev/alice2"
    caller = caller_from_arn(VerifiedCaller(arn=plain, account="123456789012", user_id="AROA:x"))
    assert caller.humans == ("sentinel-dev/alice2",)


def test_caller_chosen_session_name_never_passes_as_a_bare_user():
    caller = caller_from_arn(
        VerifiedCaller(
            arn="arn:aws:sts::123456789012:assumed-role/any-role/alice", account="1", user_id="X"
        )
    )
    assert caller.user != "alice"


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:root",
        "arn:aws:sts::123456789012:federated-user/alice",
        "arn:aws:sts::123456789012:user/moto",
        "arn:aws:iam::123456789012:user/",
    ],
)
def test_other_principals_are_refused(arn):
    code = _code(caller_from_arn, VerifiedCaller(arn=arn, account="1", user_id="X"))
    assert code == "CallerNotAllowed"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(json_values)
def test_fuzz_arbitrary_json_is_a_clean_proof_error(raw):
    with pytest.raises(ProofError):
        _check(raw, datetime.now(UTC))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["method", "url", "body", "headers"]), st.data())
def test_fuzz_mutated_real_proofs_never_pass_unless_unchanged(field, data):
    proof = _proof()
    now = _now(proof)
    if field == "headers":
        name = data.draw(st.sampled_from(sorted(proof["headers"])))
        value = data.draw(st.text(max_size=200))
        changed = value != proof["headers"][name]
        proof["headers"][name] = value
    else:
        value = data.draw(st.text(max_size=200))
        changed = value != proof[field]
        proof[field] = value
    try:
        _check(proof, now)
    except ProofError:
        return
    # Only the url (never used) and headers outside the checked set may change and still pass
    # the local checks; STS then verifies the signature over everything it covers.
    assert (
        not changed
        or field == "url"
        or name.lower()
        in ("x-amz-security-token", "content-type", "x-sentinel-nonce", "authorization")
    )

"""The service over HTTP on the enforced sandbox: the API, its errors, and the proof checks that
need a real STS (moto with IAM enforcement verifies signatures)."""

from __future__ import annotations

import json

import pytest
from tvmhelpers import call, client, held_client, log_lines, proof

from sentinelgw.service.client import ServiceRefused


def test_health_is_ready_and_holds_no_secret(enforced):
    status, body, headers = call(enforced.url, "/v1/health", method="GET")
    assert status == 200 and body["status"] == "ok"
    assert body["policy_loaded"] and body["table_reachable"]
    assert headers["X-Sentinel-Request-Id"] == body["request_id"]
    assert set(body) == {"status", "policy_loaded", "table_reachable", "service_id", "request_id"}


def test_session_credentials_and_revoke_round_trip(enforced, alice, security):
    grant = client(enforced, alice).start("prod")
    assert grant.user == "alice" and grant.role_arn == enforced.role_arn("prod")
    assert grant.source_identity == f"sentinel.alice.{grant.session_id}"
    again = client(enforced, alice).credentials(grant.session_id)
    assert again.credentials.access_key_id == grant.credentials.access_key_id  # cached
    revoked = client(enforced, security).revoke(grant.session_id, "incident 42")
    assert revoked["status"] == "revoked" and revoked["revoked_by"] == "security"
    with pytest.raises(ServiceRefused) as err:
        client(enforced, alice).credentials(grant.session_id)
    assert err.value.code == "SessionRevoked" and "incident 42" in err.value.detail


def test_the_role_session_carries_source_identity_and_session_tag(enforced, alice):

    grant = client(enforced, alice).start("prod")
    c = grant.credentials
    sts = held_client(enforced, c, "sts")
    arn = sts.get_caller_identity()["Arn"]
    assert arn.endswith(f":assumed-role/sentinel-prod/sentinel.alice.{grant.session_id}")


def test_record_is_written_before_credentials_and_counts_requests(enforced, alice, security):
    grant = client(enforced, alice).start("prod")
    ddb = security.client("dynamodb")
    item = ddb.get_item(
        TableName="sentinel-sessions", Key={"id": {"S": grant.session_id}}, ConsistentRead=True
    )["Item"]
    assert item["status"]["S"] == "active"
    assert item["caller_arn"]["S"].endswith(":user/alice")
    assert item["source_identity"]["S"] == grant.source_identity


def test_a_user_cannot_fetch_another_users_session(enforced, alice, security):
    grant = client(enforced, alice).start("dev")
    with pytest.raises(ServiceRefused) as err:
        client(enforced, security).credentials(grant.session_id)
    assert err.value.code == "NotSessionOwner"


def test_a_user_may_revoke_only_their_own_session(enforced, alice, security):
    grant = client(enforced, security).start("dev")
    with pytest.raises(ServiceRefused) as err:
        client(enforced, alice).revoke(grant.session_id, "not mine")
    assert err.value.code == "NotAuthorized"
    own = client(enforced, alice).start("dev")
    assert client(enforced, alice).revoke(own.session_id, "done")["status"] == "revoked"
    with pytest.raises(ServiceRefused) as err:
        client(enforced, alice).revoke(own.session_id, "twice")
    assert err.value.code == "SessionEnded"


def test_unknown_profile_names_only_the_profile_asked_for(enforced, alice):
    with pytest.raises(ServiceRefused) as err:
        client(enforced, alice).start("staging")
    assert err.value.code == "UnknownProfile" and "'staging'" in err.value.detail
    assert "dev" not in err.value.detail and "prod" not in err.value.detail


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/v1/sessions", None, 405, "MethodNotAllowed"),
        ("POST", "/v1/health", b"{}", 405, "MethodNotAllowed"),
        ("POST", "/v2/sessions", b"{}", 404, "NotFound"),
        ("POST", "/v1/sessions/../../etc/credentials", b"{}", 404, "NotFound"),
        ("POST", "/v1/sessions", b"not json", 400, "BadRequest"),
        ("POST", "/v1/sessions", b"[1, 2]", 400, "BadRequest"),
        ("POST", "/v1/sessions", b"{}", 401, "ProofMalformed"),
        ("POST", "/v1/sessions", b"{" + b" " * 70000 + b"}", 413, "TooLarge"),
    ],
)
def test_errors_are_json_with_code_message_and_request_id(
    enforced, method, path, body, status, code
):
    got, data, _ = call(enforced.url, path, body, method=method)
    assert (got, data["code"]) == (status, code)
    assert data["message"] and len(data["request_id"]) == 16
    assert "Traceback" not in json.dumps(data)


def test_stale_proof_is_401(enforced, alice):
    import re

    p = proof(enforced, alice)
    p["headers"]["X-Amz-Date"] = "20200101T000000Z"
    auth = p["headers"]["Authorization"]
    p["headers"]["Authorization"] = re.sub(r"/\d{8}/", "/20200101/", auth, count=1)
    status, data, _ = call(enforced.url, "/v1/sessions", {"proof": p, "profile": "dev"})
    assert (status, data["code"]) == (401, "ProofStale")


def test_replayed_proof_is_401(enforced, alice):
    p = proof(enforced, alice)
    first, _, _ = call(enforced.url, "/v1/sessions", {"proof": p, "profile": "dev"})
    status, data, _ = call(enforced.url, "/v1/sessions", {"proof": p, "profile": "dev"})
    assert first == 201 and (status, data["code"]) == (401, "ProofReplayed")


def test_proof_for_another_service_is_401(enforced, alice):
    p = proof(enforced, alice, service_id="https://another-service.example")
    status, data, _ = call(enforced.url, "/v1/sessions", {"proof": p, "profile": "dev"})
    assert (status, data["code"]) == (401, "ProofWrongService")


def test_service_id_swapped_after_signing_is_rejected_by_sts(enforced, alice):
    p = proof(enforced, alice, service_id="https://another-service.example")
    p["headers"]["X-Sentinel-Service-Id"] = enforced.url
    status, data, _ = call(enforced.url, "/v1/sessions", {"proof": p, "profile": "dev"})
    assert (status, data["code"]) == (401, "ProofRejected")


def test_proof_with_a_forged_secret_is_rejected_by_sts(enforced, alice):
    from botocore.credentials import Credentials

    from sentinelgw.service.proof import build_proof

    key = alice.get_credentials().access_key
    p = build_proof(
        Credentials(key, "not-alices-secret"),
        service_id=enforced.url,
        sts_url=enforced.endpoint,
        region="us-east-1",
    )
    status, data, _ = call(enforced.url, "/v1/sessions", {"proof": p, "profile": "dev"})
    assert (status, data["code"]) == (401, "ProofRejected")


def test_each_decision_is_one_json_log_line_without_secrets(enforced, alice):
    grant = client(enforced, alice).start("dev")
    lines = [x for x in log_lines(enforced) if x.get("session_id") == grant.session_id]
    assert [x["event"] for x in lines] == ["session_create"]
    line = lines[0]
    assert line["status"] == 201 and line["user"] == "alice" and line["rule"] == "dev-open"
    text = enforced.log.read_text()
    assert grant.credentials.secret_access_key not in text
    assert grant.credentials.session_token not in text


def test_revoke_through_the_service_denies_issued_credentials_in_iam(enforced, alice, security):
    from botocore.exceptions import ClientError

    grant = client(enforced, alice).start("prod")
    c = grant.credentials
    held = held_client(enforced, c, "s3")
    held.list_buckets()  # the role allows everything
    status, body, _ = call(
        enforced.url,
        f"/v1/sessions/{grant.session_id}/revoke",
        {"proof": proof(enforced, security), "reason": "laptop lost"},
    )
    assert status == 200 and body["session"]["status"] == "revoked"
    assert body["iam"].startswith("denied by IAM: policy SentinelRevokedSessions")
    assert grant.source_identity in body["iam"]
    with pytest.raises(ClientError) as err:
        held.list_buckets()  # (IAM never denies GetCallerIdentity, so another call)
    assert "AccessDenied" in str(err.value)

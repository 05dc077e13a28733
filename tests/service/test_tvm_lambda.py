"""The Lambda host with real Function URL and API Gateway HTTP API (payload 2.0) event shapes,
built from a deployment's environment (document in SSM), as the service's own principal, on the
enforced sandbox."""

from __future__ import annotations

import base64
import json

import pytest
from tvmhelpers import proof

from sentinelgw.service import lambda_handler

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:sentinel-tvm"
DOMAIN = "abcdefghij0123456789klmnopqrstuv.lambda-url.us-east-1.on.aws"


def _event(
    path: str, body: dict | None, *, method: str = "POST", b64: bool = False, domain: str = DOMAIN
) -> dict:
    raw = json.dumps(body) if body is not None else None
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": domain,
            "x-forwarded-proto": "https",
            "x-forwarded-for": "203.0.113.7",
            "x-amzn-trace-id": "Root=1-65f0c2a1-0123456789abcdef01234567",
            "user-agent": "sentinel",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "authorizer": {
                "iam": {
                    "accessKey": "AKIA",
                    "accountId": "123456789012",
                    "callerId": "AIDA",
                    "userArn": "arn:aws:iam::123456789012:user/alice",
                    "userId": "AIDA",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                }
            },
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "sentinel",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:14:00:00 +0000",
            "timeEpoch": 1796220000000,
        },
        "body": (base64.b64encode(raw.encode()).decode() if b64 and raw else raw),
        "isBase64Encoded": b64,
    }


@pytest.fixture
def lambda_env(on_enforced, monkeypatch):
    """The environment 'sentinel init tvm' gives the function, plus the service's keys."""
    monkeypatch.setenv("SENTINEL_SERVICE_ID", FUNCTION_ARN)
    monkeypatch.setenv("SENTINEL_SESSION_TABLE", "sentinel-sessions")
    monkeypatch.setenv("SENTINEL_POLICY_PARAMETER", "/sentinel/tvm/policy")
    monkeypatch.setenv(
        "AWS_SHARED_CREDENTIALS_FILE", str(on_enforced.root / "service" / "credentials")
    )
    monkeypatch.setenv("AWS_PROFILE", "sentinel-tvm")
    monkeypatch.setattr(lambda_handler, "_APP", None)
    return on_enforced


def _invoke(event: dict) -> tuple[int, dict, dict]:
    result = lambda_handler.handler(event, None)
    assert result["isBase64Encoded"] is False
    return result["statusCode"], json.loads(result["body"]), result["headers"]


@pytest.mark.parametrize("b64", [False, True])
def test_function_url_event_starts_a_session(lambda_env, alice, b64):
    # The proof names the Function URL the client was given; Lambda vouches for the domain.
    p = proof(lambda_env, alice, service_id=f"https://{DOMAIN}")
    status, body, headers = _invoke(
        _event("/v1/sessions", {"proof": p, "profile": "prod"}, b64=b64)
    )
    assert status == 201, body
    assert body["role_arn"].endswith(":role/sentinel-prod") and body["user"] == "alice"
    assert headers["X-Sentinel-Request-Id"] == body["request_id"]
    assert headers["Content-Type"] == "application/json"


def test_proof_for_the_configured_function_arn_is_accepted(lambda_env, alice):
    p = proof(lambda_env, alice, service_id=FUNCTION_ARN)
    status, body, _ = _invoke(_event("/v1/sessions", {"proof": p, "profile": "dev"}))
    assert status == 201, body
    p2 = proof(lambda_env, alice, service_id=FUNCTION_ARN)
    status, again, _ = _invoke(
        _event(f"/v1/sessions/{body['session_id']}/credentials", {"proof": p2})
    )
    assert status == 200 and again["session_id"] == body["session_id"]


def test_api_gateway_domain_is_not_vouched_for(lambda_env, alice):
    domain = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
    p = proof(lambda_env, alice, service_id=f"https://{domain}")
    status, body, _ = _invoke(_event("/v1/sessions", {"proof": p, "profile": "dev"}, domain=domain))
    assert (status, body["code"]) == (401, "ProofWrongService")


def test_health_get_without_body(lambda_env):
    status, body, _ = _invoke(_event("/v1/health", None, method="GET"))
    assert status == 200 and body["policy_loaded"] is True


@pytest.mark.parametrize(
    ("event_change", "status", "code"),
    [
        ({"body": "!!!not base64!!!", "isBase64Encoded": True}, 400, "BadRequest"),
        ({"body": None}, 400, "BadRequest"),
        ({"rawPath": "/admin"}, 404, "NotFound"),
    ],
)
def test_bad_events_get_json_errors(lambda_env, event_change, status, code):
    event = _event("/v1/sessions", {"profile": "dev"})
    event.update(event_change)
    got, body, _ = _invoke(event)
    assert (got, body["code"]) == (status, code)
    assert "Traceback" not in json.dumps(body)


def test_the_app_is_built_once_per_cold_start(lambda_env):
    _invoke(_event("/v1/health", None, method="GET"))
    first = lambda_handler._APP
    _invoke(_event("/v1/health", None, method="GET"))
    assert first is not None and lambda_handler._APP is first


def test_a_misconfigured_function_answers_json_503(monkeypatch, capsys):
    monkeypatch.setattr(lambda_handler, "_APP", None)
    monkeypatch.delenv("SENTINEL_SERVICE_ID", raising=False)
    status, body, _ = _invoke(_event("/v1/health", None, method="GET"))
    assert (status, body["code"]) == (503, "ServiceMisconfigured")
    assert "SENTINEL_TVM_SERVICE_ID" in capsys.readouterr().err


def test_lambda_decision_lines_name_the_source_ip_and_user_agent(lambda_env, alice, capsys):
    p = proof(lambda_env, alice, service_id=FUNCTION_ARN)
    status, body, _ = _invoke(_event("/v1/sessions", {"proof": p, "profile": "dev"}))
    assert status == 201, body
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    [line] = [x for x in lines if x.get("request_id") == body["request_id"]]
    assert (line["client_ip"], line["user_agent"]) == ("203.0.113.7", "sentinel")

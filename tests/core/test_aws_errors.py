"""The one AWS error boundary (sentinelgw.awserrors): classified by error code AND HTTP status,
and never a raw body (XML, HTML, JSON not in the error shape) in the message.

Each case is a real botocore client over HTTP against a loopback endpoint that answers as a
proxy, a misrouted endpoint or an enforcing emulator does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from tests.hardening.faults import canned_http

from sentinelgw.awserrors import aws_call, translate
from sentinelgw.errors import AWSError, InternalError, SessionStoreError

MARKERS = ("<?xml", "<!doctype", "<html", "<Error", "{")
XML_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>Sender</Type>'
    "<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/alice is not "
    "authorized to perform: dynamodb:Query</Message></Error><RequestId>r1</RequestId>"
    "</ErrorResponse>"
)
HTML_500 = "<!doctype html><html><head><title>500 Internal Server Error</title></head></html>"
HTML_403 = "<!DOCTYPE html><html><body><h1>Forbidden</h1></body></html>"
SIGNATURE_XML = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
    "</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
    "does not match the signature you provided.</Message></Error><RequestId>r2</RequestId>"
    "</ErrorResponse>"
)
JSON_DENIED = json.dumps(
    {"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException", "message": "no"}
)
JSON_ODD = json.dumps({"detail": {"reason": "maintenance", "until": "<soon>"}})


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",  # noqa: S106 - a loopback endpoint
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def query_fails() -> Iterator[Any]:
    """``query_fails(status, body, content_type)`` → the error a DynamoDB Query raised."""

    def run(status: int, body: str, content_type: str = "text/html") -> AWSError:
        with canned_http(status, body, content_type) as (url, _), pytest.raises(AWSError) as err:
            ddb = _client("dynamodb", url)
            with aws_call("dynamodb", "Query", "session table 'sentinel-sessions'"):
                ddb.query(TableName="sentinel-sessions", KeyConditionExpression="id = :i")
        return err.value

    yield run


def _no_raw_body(err: BaseException) -> None:
    text = str(err)
    assert "\n" not in text
    for marker in MARKERS:
        assert marker.lower() not in text.lower(), (marker, text)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "code"),
    [
        (403, XML_DENIED, "text/xml", "AccessDenied"),  # XML answered to a JSON service
        (403, HTML_403, "text/html", "HTTP 403"),  # a proxy's page
        (401, "Unauthorized", "text/plain", "HTTP 401"),
        (400, JSON_DENIED, "application/x-amz-json-1.0", "AccessDeniedException"),
    ],
    ids=["403-xml", "403-html", "401-plain", "400-json-access-denied"],
)
def test_403_and_401_are_access_denied_with_the_permission_hint_whatever_the_body(
    query_fails: Any, status: int, body: str, content_type: str, code: str
) -> None:
    err = query_fails(status, body, content_type)
    assert type(err) is AWSError and err.access_denied
    assert str(err) == (
        f"dynamodb:Query on session table 'sentinel-sessions' was denied ({code}). "
        "The caller needs dynamodb:Query on the session table and its indexes"
    )
    _no_raw_body(err)


def test_a_500_html_page_is_one_line_naming_the_status_and_the_body_is_debug_only(
    query_fails: Any,
) -> None:
    err = query_fails(500, HTML_500)
    assert not err.access_denied
    assert str(err) == (
        "dynamodb:Query on session table 'sentinel-sessions' failed: the endpoint answered "
        "HTTP 500. Try again later; --debug shows its answer"
    )
    _no_raw_body(err)
    assert err.debug_detail is not None and err.debug_detail.startswith("<!doctype html>")


def test_json_not_in_the_error_shape_is_never_quoted(query_fails: Any) -> None:
    err = query_fails(400, JSON_ODD, "application/x-amz-json-1.0")
    _no_raw_body(err)
    assert "maintenance" not in str(err)
    assert str(err).startswith("dynamodb:Query on session table 'sentinel-sessions' failed")


def test_an_error_in_the_json_shape_keeps_its_code_and_message(query_fails: Any) -> None:
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found",
        }
    )
    err = query_fails(400, body, "application/x-amz-json-1.0")
    assert str(err) == (
        "dynamodb:Query on session table 'sentinel-sessions' failed with "
        "ResourceNotFoundException: Requested resource not found"
    )
    assert err.aws_code == "ResourceNotFoundException" and err.debug_detail is None


def test_signature_does_not_match_is_a_credentials_problem_not_a_permission() -> None:
    with canned_http(403, SIGNATURE_XML, "text/xml") as (url, _), pytest.raises(AWSError) as err:
        sts = _client("sts", url)
        with aws_call("sts", "GetCallerIdentity"):
            sts.get_caller_identity()
    assert not err.value.access_denied
    assert str(err.value) == (
        "sts:GetCallerIdentity failed: the credentials are invalid or expired "
        "(SignatureDoesNotMatch). Refresh them (for SSO: 'aws sso login') and check the "
        "clock; then try again"
    )
    _no_raw_body(err.value)


def test_raises_names_the_class_the_caller_asked_for() -> None:
    with canned_http(403, HTML_403) as (url, _), pytest.raises(SessionStoreError) as err:
        ddb = _client("dynamodb", url)
        with aws_call("dynamodb", "GetItem", "session table 't'", raises=SessionStoreError):
            ddb.get_item(TableName="t", Key={"id": {"S": "x"}})
    assert err.value.access_denied and "dynamodb:GetItem on the session table" in str(err.value)


def test_a_bug_inside_the_boundary_is_not_an_aws_error() -> None:
    with pytest.raises(KeyError), aws_call("dynamodb", "Query"):
        {}["missing"]  # noqa: B018 - the bug
    made = translate(KeyError("missing"), "dynamodb", "Query")
    assert type(made) is InternalError and not isinstance(made, AWSError)
    assert str(made) == (
        "internal error during dynamodb:Query: KeyError. Re-run with --debug and report it"
    )


def test_an_invalid_endpoint_url_is_a_config_error_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sentinelgw.awsclients import client
    from sentinelgw.errors import ConfigError

    monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
    with pytest.raises(ConfigError) as err:
        client("dynamodb", session=session, region="us-east-1")
    assert str(err.value) == (
        "cannot make a dynamodb client: Invalid endpoint: not a url. "
        "Check AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>"
    )

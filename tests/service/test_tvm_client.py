"""The client side without the sandbox: URL rules, error mapping, the forwarding handler, and
the SigV4 signature a Function URL with AWS_IAM auth needs. A loopback stub plays the service."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from botocore.credentials import Credentials

from sentinelgw.errors import UsageError
from sentinelgw.service.client import (
    ServiceClient,
    ServiceRefused,
    ServiceUnavailable,
    _signed_for_lambda,
    function_url_region,
    service_origin,
    signing_region,
)
from sentinelgw.service.forward import ForwardingHandler

CREDS = Credentials("AKIAEXAMPLEEXAMPLE01", "example-secret-not-real")


class _Stub(http.server.BaseHTTPRequestHandler):
    answer: tuple[int, bytes] = (200, b"{}")
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "body": body})
        status, data = type(self).answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    _Stub.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _client(url: str) -> ServiceClient:
    return ServiceClient(
        url, signer=lambda: CREDS, sts_url="https://sts.us-east-1.amazonaws.com", region="us-east-1"
    )


GRANT = {
    "session_id": "0123456789abcdef",
    "expires_at": "2026-12-01T15:00:00Z",
    "user": "alice",
    "role_arn": "arn:aws:iam::123456789012:role/p",
    "source_identity": "s",
    "credentials": {
        "AccessKeyId": "ASIA",
        "SecretAccessKey": "sk",
        "SessionToken": "tok",
        "Expiration": "2026-12-01T15:00:00Z",
    },
}


def test_each_call_carries_a_fresh_proof_for_the_url_origin(stub):
    _Stub.answer = (200, json.dumps(GRANT).encode())
    client = _client(f"http://127.0.0.1:{stub.server_port}/")
    client.credentials("0123456789abcdef")
    client.credentials("0123456789abcdef")
    proofs = [s["body"]["proof"] for s in _Stub.seen]
    assert proofs[0]["headers"]["X-Sentinel-Service-Id"] == f"http://127.0.0.1:{stub.server_port}"
    assert proofs[0]["headers"]["Authorization"] != proofs[1]["headers"]["Authorization"]
    assert "example-secret-not-real" not in json.dumps(_Stub.seen)


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            403,
            {"code": "SessionRevoked", "message": "revoked by security", "request_id": "r1"},
            ServiceRefused,
            "SessionRevoked",
        ),
        (401, {"code": "ProofStale", "message": "old"}, ServiceRefused, "ProofStale"),
        (
            503,
            {"code": "SessionTableUnavailable", "message": "down"},
            ServiceUnavailable,
            "SessionTableUnavailable",
        ),
        (502, None, ServiceUnavailable, "HTTP502"),
    ],
)
def test_answers_map_to_denials_and_infrastructure_errors(stub, status, body, error, code):
    _Stub.answer = (status, json.dumps(body).encode() if body else b"<html>bad gateway</html>")
    with pytest.raises(error) as err:
        _client(f"http://127.0.0.1:{stub.server_port}").start("prod")
    assert err.value.code == code
    assert err.value.exit_code == (1 if error is ServiceRefused else 2)


def test_a_200_without_credentials_is_an_error(stub):
    _Stub.answer = (200, b'{"session_id": "x"}')
    with pytest.raises(ServiceUnavailable):
        _client(f"http://127.0.0.1:{stub.server_port}").start("prod")


def test_unreachable_service():
    with pytest.raises(ServiceUnavailable) as err:
        _client("http://127.0.0.1:9").start("prod")
    assert err.value.code == "Unreachable"


def test_forwarding_handler_passes_the_refusal_text_to_the_sdk(stub):
    _Stub.answer = (
        403,
        json.dumps({"code": "SessionRevoked", "message": "revoked by security: incident"}).encode(),
    )
    response = ForwardingHandler(
        _client(f"http://127.0.0.1:{stub.server_port}"), "0123456789abcdef"
    )()
    assert response.status == 403 and response.body["Code"] == "SessionRevoked"
    assert "incident" in response.body["Message"]
    _Stub.answer = (200, json.dumps(GRANT).encode())
    ok = ForwardingHandler(_client(f"http://127.0.0.1:{stub.server_port}"), "0123456789abcdef")()
    assert ok.status == 200 and ok.body["Token"] == "tok" and ok.body["AccessKeyId"] == "ASIA"


@pytest.mark.parametrize("url", ["http://tvm.example.com/", "ftp://x/", "https:///nohost"])
def test_plain_http_off_loopback_and_odd_urls_are_refused(url):
    with pytest.raises(UsageError):
        service_origin(url)


def test_function_url_region_and_outer_signature():
    url = "https://abcdef0123456789.lambda-url.eu-west-1.on.aws/"
    assert function_url_region(url) == "eu-west-1"
    assert signing_region(url, "us-east-1") == "eu-west-1"
    assert signing_region("https://tvm.example.com", "ap-south-1") == "ap-south-1"
    headers = _signed_for_lambda(
        CREDS, url + "v1/sessions", b"{}", {"Content-Type": "application/json"}, "eu-west-1"
    )
    assert "/eu-west-1/lambda/aws4_request" in headers["Authorization"]
    assert "X-Amz-Date" in headers

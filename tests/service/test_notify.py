"""Notifications (issue 21): a Slack-compatible webhook and SNS, in the background with bounded
retries; a failure is only logged. Real HTTP: a loopback receiver and the moto sandbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sentinelgw.errors import PolicyInvalid
from sentinelgw.service.approvals import NotifyConfig
from sentinelgw.service.document import parse_document
from sentinelgw.service.notify import Notice, Notifier


class Receiver:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.hits = 0
        self.gate = threading.Event()
        self.gate.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.gate.wait(30)
                outer.hits += 1
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.bodies.append(json.loads(raw))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.gate.set()
    r.server.shutdown()
    r.server.server_close()


NOTICE = Notice(
    event="request",
    title="alice asks for access to prod-approve",
    lines=(("justification", "fix <!channel> & \x1b[31mred\x1b[0m"),),
    fields={"request_id": "0123456789abcdef"},
)


def test_webhook_gets_a_slack_body_with_untrusted_text_inert(receiver: Receiver) -> None:
    notifier = Notifier(backoff=0.01)
    notifier.send(NotifyConfig(webhook_url=receiver.url), NOTICE)
    notifier.flush()
    [body] = receiver.bodies
    assert body["sentinel"] == {
        "event": "request",
        "urgent": False,
        "request_id": "0123456789abcdef",
    }
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt; &amp;" in body["text"]
    assert "\\u001b" not in json.dumps(body)  # ESC arrives as a visible escape, never raw
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"


def test_send_never_blocks_on_a_slow_webhook(receiver: Receiver) -> None:
    receiver.gate.clear()  # the receiver holds every request until released
    notifier = Notifier(backoff=0.01)
    notifier.send(NotifyConfig(webhook_url=receiver.url), NOTICE)
    assert receiver.hits == 0  # send returned while the receiver still holds the request
    receiver.gate.set()
    notifier.flush()
    assert receiver.hits == 1


def test_failed_webhook_is_retried_a_bounded_number_of_times_then_logged() -> None:
    failing = Receiver(status=500)
    failures: list[tuple[str, str, str, dict[str, str]]] = []
    try:
        notifier = Notifier(backoff=0.01, on_failure=lambda *a: failures.append(a))
        notifier.send(NotifyConfig(webhook_url=failing.url), NOTICE)
        notifier.flush()
    finally:
        failing.server.shutdown()
        failing.server.server_close()
    assert failing.hits == notifier.attempts == 3
    [(event, kind, why, grant)] = failures
    assert (event, kind) == ("request", "webhook") and "HTTP 500" in why
    assert grant == {"access_request": "0123456789abcdef"}  # the log line names the request


def test_urgent_notice_is_marked_for_break_glass(receiver: Receiver) -> None:
    notifier = Notifier(backoff=0.01)
    notice = Notice(event="break_glass", title="bob broke the glass on prod", urgent=True)
    notifier.send(NotifyConfig(webhook_url=receiver.url), notice)
    notifier.flush()
    [body] = receiver.bodies
    assert body["sentinel"]["urgent"] is True and "URGENT" in body["text"]


def test_sns_notification_reaches_a_subscribed_queue(sandbox: Any, monkeypatch) -> None:
    import boto3

    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    session = boto3.Session(region_name="us-east-1")
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name="sentinel-requests")["TopicArn"]
    queue = sqs.create_queue(QueueName="sentinel-requests-q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    failures: list[Any] = []
    notifier = Notifier(
        sns=lambda region: session.client("sns", region_name=region),
        backoff=0.01,
        on_failure=lambda *a: failures.append(a),
    )
    notifier.send(NotifyConfig(sns_topic_arn=topic), NOTICE)
    notifier.flush()
    assert failures == []
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert messages
    envelope = json.loads(messages[0]["Body"])
    payload = json.loads(envelope["Message"])
    assert payload["event"] == "request" and payload["request_id"] == "0123456789abcdef"
    assert "alice asks for access" in payload["default"]


def test_sns_failure_is_logged_never_raised() -> None:
    failures: list[Any] = []

    def broken(region: str) -> Any:
        raise RuntimeError("no client")

    notifier = Notifier(sns=broken, backoff=0.01, on_failure=lambda *a: failures.append(a))
    notifier.send(NotifyConfig(sns_topic_arn="arn:aws:sns:us-east-1:123456789012:t"), NOTICE)
    notifier.flush()
    assert [f[1] for f in failures] == ["sns"]


BASE = """
profiles:
  prod-approve: {role_arn: "arn:aws:iam::123456789012:role/prod-approve"}
policies:
  - name: p
    match: {profile: prod-approve}
    effect: require_approval
"""


@pytest.mark.parametrize(
    "extra",
    [
        "notifications: {webhook_url: 'http://hooks.example.com/x'}",
        "notifications: {webhook_url: 'ftp://127.0.0.1/x'}",
        "notifications: {sns_topic_arn: 'not-an-arn'}",
        "approvals: {rules: [{match: {profile: p}, approvers: ['group:Oncall']}]}",
        "approvals: {rules: [{match: {profile: p}, approvers: [security], approvals_needed: 0}]}",
        "approvals: {pending_expiry: 1s}",
        "approvals: {rules: [{match: {user: alice}, approvers: [security]}]}",
    ],
)
def test_document_refuses_bad_approvals_and_notifications(extra: str) -> None:
    with pytest.raises(PolicyInvalid):
        parse_document(BASE + extra + "\n", "service.yaml")


def test_document_reads_approvals_and_notifications() -> None:
    doc = parse_document(
        BASE
        + "approvals:\n  pending_expiry: 2h\n  rules:\n"
        + "    - {name: r, match: {profile: prod-approve}, approvers: [security, admins],"
        + " approvals_needed: 2, auto_approve: [{user: oncall-*}]}\n"
        + "notifications: {webhook_url: 'https://hooks.example.com/x', "
        + "sns_topic_arn: 'arn:aws:sns:us-east-1:123456789012:t'}\n",
        "service.yaml",
    )
    [rule] = doc.approvals.rules
    assert rule.approvers == ("security", "admins") and rule.approvals_needed == 2
    assert doc.approvals.pending_expiry.total_seconds() == 7200
    assert doc.notifications.webhook_url == "https://hooks.example.com/x"

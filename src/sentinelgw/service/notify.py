"""Notifications of the credential service: an SNS topic and/or a Slack-compatible webhook.

The API is small so that other flows (break-glass) can reuse it::

    notifier.send(config, Notice(event="request", title="...", lines=[...], urgent=False))

:meth:`Notifier.send` never blocks and never raises: each notice is delivered on a background
thread with bounded retries (``ATTEMPTS`` tries per destination, backing off), and a failure is
only logged (``on_failure``). A notice therefore never grants or refuses anything.

Every value in a notice may be untrusted text (a justification, a comment, a user name): it is
rendered inert (:func:`sentinelgw.inert.visible`) and, for the webhook, Slack's control
characters ``& < >`` are escaped, so a justification cannot mention ``<!channel>`` or forge a
link. SNS goes through boto3 (``AWS_ENDPOINT_URL`` applies); the webhook is a JSON POST with
``text`` and ``blocks`` (Slack's incoming-webhook format, which many chat tools accept), over
https, or plain http to a loopback address only (checked when the document is loaded), with
redirects not followed.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sentinelgw.awsclients import error_code
from sentinelgw.inert import visible

ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the 2nd attempt; doubles each time
TIMEOUT = 5.0
MAX_TEXT = 3000
EVENTS = ("request", "approve", "deny", "cancel", "expire", "session_start")
# A break-glass grant's notices (always urgent): sentinelgw.service.grants.notify_grant.
BREAK_GLASS_EVENTS = tuple(f"break_glass_{e}" for e in ("open", "session_start", "close", "expire"))


@dataclass(frozen=True, slots=True)
class Notice:
    """What happened, for people: ``lines`` are ``(label, value)`` pairs, values untrusted."""

    event: str
    title: str
    lines: tuple[tuple[str, str], ...] = ()
    urgent: bool = False
    fields: dict[str, str] = field(default_factory=dict)  # machine-readable extras

    def plain(self) -> str:
        prefix = "[URGENT] " if self.urgent else ""
        body = "\n".join(f"{label}: {_clean(value)}" for label, value in self.lines)
        return f"{prefix}{_clean(self.title)}\n{body}".strip()[:MAX_TEXT]

    def slack(self) -> dict[str, Any]:
        """A Slack-compatible body: ``text`` (the fallback) and ``blocks``."""
        prefix = ":rotating_light: *URGENT* " if self.urgent else ""
        title = prefix + _slack(self.title)
        body = "\n".join(f"*{_slack(label)}:* {_slack(value)}" for label, value in self.lines)
        text = f"{title}\n{body}".strip()[:MAX_TEXT]
        return {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            "sentinel": {
                "event": self.event,
                "urgent": self.urgent,
                **{k: _clean(v)[:256] for k, v in self.fields.items()},
            },
        }


def _clean(value: object) -> str:
    return " ".join(visible(value).split())


def _slack(value: object) -> str:
    return _clean(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# (event, destination kind, why, the id the notice is about as a log field: access_request or
# breakglass)
OnFailure = Callable[[str, str, str, dict[str, str]], None]


@dataclass
class Notifier:
    """Delivers notices in the background; ``sns`` makes a boto3 SNS client for a region."""

    sns: Callable[[str], Any] | None = None
    on_failure: OnFailure | None = None
    attempts: int = ATTEMPTS
    backoff: float = BACKOFF
    timeout: float = TIMEOUT
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, config: Any, notice: Notice) -> None:
        """Queue ``notice`` for the destinations ``config`` (a NotifyConfig) names."""
        topic = getattr(config, "sns_topic_arn", None)
        url = getattr(config, "webhook_url", None)
        if not topic and not url:
            return
        thread = threading.Thread(
            target=self._deliver, args=(topic, url, notice), name="sentinel-notify", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for queued notices (tests, and a host about to stop)."""
        end = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))

    def _deliver(self, topic: str | None, url: str | None, notice: Notice) -> None:
        try:
            if topic:
                self._retry(notice, "sns", lambda: self._publish(topic, notice))
            if url:
                self._retry(notice, "webhook", lambda: self._post(url, notice))
        except Exception as exc:  # never let a notice thread die loudly
            self._failed(notice, "notify", type(exc).__name__)

    def _retry(self, notice: Notice, kind: str, call: Callable[[], None]) -> None:
        delay = self.backoff
        why = ""
        for attempt in range(self.attempts):
            try:
                call()
                return
            except Exception as exc:
                why = _why(exc)
            if attempt + 1 < self.attempts:
                time.sleep(delay)
                delay *= 2
        self._failed(notice, kind, f"{why} after {self.attempts} attempts")

    def _failed(self, notice: Notice, kind: str, why: str) -> None:
        if self.on_failure is not None:
            try:
                self.on_failure(notice.event, kind, why, about(notice))
            except Exception:  # noqa: S110 - a log failure must not reach the caller
                pass

    def _publish(self, topic: str, notice: Notice) -> None:
        if self.sns is None:
            raise RuntimeError("no SNS client")
        region = topic.split(":")[3]
        subject = "".join(c for c in _clean(notice.title) if 32 <= ord(c) < 127)[:99] or "Sentinel"
        self.sns(region).publish(
            TopicArn=topic,
            Subject=subject,
            Message=json.dumps({"default": notice.plain(), **notice.slack()["sentinel"]}),
        )

    def _post(self, url: str, notice: Notice) -> None:
        data = json.dumps(notice.slack()).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked when loaded
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        opener = urllib.request.build_opener(_NoRedirect())
        with opener.open(request, timeout=self.timeout) as resp:
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"HTTP {resp.status}")


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"

    code = error_code(exc)
    return code or type(exc).__name__


def about(notice: Notice) -> dict[str, str]:
    """The grant a notice is about, as the service log names it."""
    if notice.fields.get("breakglass_id"):
        return {"breakglass": notice.fields["breakglass_id"]}
    if notice.fields.get("request_id"):
        return {"access_request": notice.fields["request_id"]}
    return {}

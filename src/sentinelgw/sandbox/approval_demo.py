"""The access-request walkthrough of ``sentinel demo`` (issue 21), on the service sandbox.

``prod-approve`` is under ``require_approval`` with ``security`` as approver. Each step runs
the installed ``sentinel`` as alice or as security and is checked: refused without a request,
the request, self-approval refused, security approves, exec works under the request, the
approval's end revokes the running session, and the webhook receiver got the messages. Then
the break-glass walkthrough (:mod:`sentinelgw.sandbox.breakglass_demo`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sentinelgw.sandbox.breakglass_demo import run_breakglass_demo
from sentinelgw.sandbox.walk import PROFILE, Failed, Walk, record_field, record_status
from sentinelgw.sandbox.webhook import read_messages

DURATION = "15s"
WHO_AM_I = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"


class _Approval(Walk):
    """The access-request steps; ``state["id"]`` is the request's id."""

    def refused(self) -> str:
        r = self.run("exec", "--profile", PROFILE, "--", sys.executable, "-c", WHO_AM_I)
        if r.returncode != 1 or f"sentinel request --profile {PROFILE}" not in r.stderr:
            raise Failed(f"expected a refusal naming sentinel request, got exit {r.returncode}")
        return f"refused (exit 1), and the message names: sentinel request --profile {PROFILE}"

    def request(self) -> str:
        r = self.run(
            "request",
            "--profile",
            PROFILE,
            "--justification",
            "demo: fix incident INC-42 in production",
            "--duration",
            DURATION,
            "--format",
            "json",
        )
        if r.returncode != 0:
            raise Failed(f"the request failed: {r.stderr.strip()[:200]}")
        self.state["id"] = json.loads(r.stdout)["id"]
        return f"request {self.state['id']} is pending"

    def self_approval(self) -> str:
        r = self.run("approve", self.state["id"])
        if r.returncode != 1 or "SelfApproval" not in r.stderr:
            raise Failed(f"alice approved her own request (exit {r.returncode})")
        return "alice cannot approve her own request (SelfApproval, exit 1)"

    def approve(self) -> str:
        r = self.run(
            "approve", self.state["id"], "--comment", "approved for the demo", security=True
        )
        if r.returncode != 0:
            raise Failed(f"security could not approve: {r.stderr.strip()[:200]}")
        return r.stdout.strip()

    def exec_works(self) -> str:
        r = self.run("exec", "--profile", PROFILE, "--", sys.executable, "-c", WHO_AM_I)
        if r.returncode != 0 or "assumed-role/sentinel-prod-approve/" not in r.stdout:
            raise Failed(f"exec failed under the approval: {r.stderr.strip()[:200]}")
        return f"exec works: {r.stdout.strip()}"

    def expiry(self) -> str:
        args = ("exec", "--token-mode", "env", "--profile", PROFILE, "--")
        out, item = self.until_refused(args)
        if not out["seen"] or out["seen"][0] != "ok" or out["seen"][-1] == "ok":
            raise Failed(f"the session was not ended by the approval's end: {out['seen']}")
        # The demo's own check of the table (as security), no command of the walkthrough.
        status = record_status(item)
        if record_field(item, "request_id") != self.state["id"] or status != "revoked":
            raise Failed(f"session {out['session']} is {status}, not revoked")
        return (
            f"{len(out['seen']) - 1} credential fetches worked, then {out['seen'][-1]}; session "
            f"{out['session']} (request {self.state['id']}) was revoked when the approval ended"
        )

    def webhook(self, root: Path) -> str:
        events: set[str] = set()
        for _ in range(50):
            events = {
                m["body"]["sentinel"]["event"]
                for m in read_messages(root / "webhook.jsonl")
                if isinstance(m.get("body"), dict)
                and m["body"].get("sentinel", {}).get("request_id") == self.state["id"]
            }
            if {"request", "approve", "session_start", "expire"} <= events:
                break
            time.sleep(0.2)
        else:
            raise Failed(f"the webhook receiver got only {sorted(events)}")
        return f"webhook.jsonl got: {', '.join(sorted(events))}"


def run_approval_demo(
    env: dict[str, str], sentinel: list[str], root: Path, echo: Callable[[str], None]
) -> bool:
    """Walk the access-request flow, then break-glass (:mod:`sentinelgw.sandbox.breakglass_demo`),
    on a running service sandbox (``env`` points at it, as alice)."""
    w = _Approval(env, sentinel, echo)
    ok = w.steps(
        "approval",
        [
            ("exec on prod-approve without an approved request", w.refused),
            ("alice asks for access", w.request),
            ("alice tries to approve her own request", w.self_approval),
            ("security approves it", w.approve),
            ("alice runs a command on prod-approve", w.exec_works),
            ("the approval ends while a session runs", w.expiry),
            ("the notifications", lambda: w.webhook(root)),
        ],
    )
    echo("")
    echo("Break-glass: emergency access to prod-approve with nobody to approve, always loud")
    return run_breakglass_demo(env, sentinel, root, echo) and ok

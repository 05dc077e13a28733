"""The access-request walkthrough of ``sentinel demo`` (issue 21), on the service sandbox.

``prod-approve`` is under ``require_approval`` with ``security`` as approver. Each step runs
the installed ``sentinel`` as alice or as security and is checked: refused without a request,
the request, self-approval refused, security approves, exec works under the request, the
approval's end revokes the running session, and the webhook receiver got the messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentinelgw.sandbox.demo import WIDTH, command_lines
from sentinelgw.sandbox.webhook import read_messages

PROFILE = "prod-approve"
DURATION = "15s"
WHO_AM_I = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
# Fetches credentials afresh every second until refused, stays up 3 s more (so the service's
# sweep revokes the session while it runs), then prints what it saw.
UNTIL_REFUSED = r"""
import json, os, time, urllib.error, urllib.request
seen = []
for _ in range(60):
    req = urllib.request.Request(
        os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
    )
    try:
        with urllib.request.urlopen(req, timeout=30):
            seen.append("ok")
    except urllib.error.HTTPError as exc:
        seen.append(json.loads(exc.read()).get("Code"))
        time.sleep(3)
        break
    time.sleep(1)
print(json.dumps({"session": os.environ.get("AWS_SENTINEL_SESSION_ID"), "seen": seen}))
"""
STEPS = 7


class _Failed(Exception):
    pass


def run_approval_demo(
    env: dict[str, str], sentinel: list[str], root: Path, echo: Callable[[str], None]
) -> bool:
    """Walk the flow on a running service sandbox (``env`` points at it, as alice)."""

    def run(*args: str, security: bool = False) -> subprocess.CompletedProcess[str]:
        who = ["--aws-profile", "security"] if security else []
        for line in command_lines(["sentinel", *who, *(_shown(a) for a in args)]):
            echo(line)
        return subprocess.run(
            [*sentinel, *who, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    state: dict[str, Any] = {}

    def refused() -> str:
        r = run("exec", "--profile", PROFILE, "--", sys.executable, "-c", WHO_AM_I)
        if r.returncode != 1 or f"sentinel request --profile {PROFILE}" not in r.stderr:
            raise _Failed(f"expected a refusal naming sentinel request, got exit {r.returncode}")
        return f"refused (exit 1), and the message names: sentinel request --profile {PROFILE}"

    def request() -> str:
        r = run(
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
            raise _Failed(f"the request failed: {r.stderr.strip()[:200]}")
        state["id"] = json.loads(r.stdout)["id"]
        return f"request {state['id']} is pending"

    def self_approval() -> str:
        r = run("approve", state["id"])
        if r.returncode != 1 or "SelfApproval" not in r.stderr:
            raise _Failed(f"alice approved her own request (exit {r.returncode})")
        return "alice cannot approve her own request (SelfApproval, exit 1)"

    def approve() -> str:
        r = run("approve", state["id"], "--comment", "approved for the demo", security=True)
        if r.returncode != 0:
            raise _Failed(f"security could not approve: {r.stderr.strip()[:200]}")
        return r.stdout.strip()

    def exec_works() -> str:
        r = run("exec", "--profile", PROFILE, "--", sys.executable, "-c", WHO_AM_I)
        if r.returncode != 0 or "assumed-role/sentinel-prod-approve/" not in r.stdout:
            raise _Failed(f"exec failed under the approval: {r.stderr.strip()[:200]}")
        return f"exec works: {r.stdout.strip()}"

    def expiry() -> str:
        r = run(
            "exec",
            "--token-mode",
            "env",
            "--profile",
            PROFILE,
            "--",
            sys.executable,
            "-c",
            UNTIL_REFUSED,
        )
        lines = r.stdout.strip().splitlines()
        if not lines:
            raise _Failed(f"the long exec printed nothing: {r.stderr.strip()[:200]}")
        out = json.loads(lines[-1])
        if not out["seen"] or out["seen"][0] != "ok" or out["seen"][-1] == "ok":
            raise _Failed(f"the session was not ended by the approval's end: {out['seen']}")
        row: dict[str, Any] = {}
        for _ in range(20):
            rows = json.loads(run("sessions", "--format", "json").stdout or "[]")
            row = next((s for s in rows if s.get("id") == out["session"]), {})
            if row.get("status") == "revoked":
                break
            time.sleep(0.5)
        if row.get("request_id") != state["id"] or row.get("status") != "revoked":
            raise _Failed(f"session {out['session']} is {row.get('status')}, not revoked")
        return (
            f"{len(out['seen']) - 1} credential fetches worked, then {out['seen'][-1]}; session "
            f"{out['session']} (request {state['id']}) was revoked when the approval ended"
        )

    def webhook() -> str:
        events: set[str] = set()
        for _ in range(20):
            events = {
                m["body"]["sentinel"]["event"]
                for m in read_messages(root / "webhook.jsonl")
                if isinstance(m.get("body"), dict)
                and m["body"].get("sentinel", {}).get("request_id") == state["id"]
            }
            if {"request", "approve", "session_start", "expire"} <= events:
                break
            time.sleep(0.5)
        else:
            raise _Failed(f"the webhook receiver got only {sorted(events)}")
        return f"webhook.jsonl got: {', '.join(sorted(events))}"

    steps: list[tuple[str, Callable[[], str]]] = [
        ("exec on prod-approve without an approved request", refused),
        ("alice asks for access", request),
        ("alice tries to approve her own request", self_approval),
        ("security approves it", approve),
        ("alice runs a command on prod-approve", exec_works),
        ("the approval ends while a session runs", expiry),
        ("the notifications", webhook),
    ]
    ok = True
    for n, (title, step) in enumerate(steps, 1):
        echo(f"[approval {n}/{STEPS}] {title}")
        try:
            _say(echo, f"[approval {n}/{STEPS}] PASS: {step()}")
        except (_Failed, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
            _say(echo, f"[approval {n}/{STEPS}] FAIL: {exc}")
            ok = False
            break
    echo("approval walkthrough passed" if ok else "approval walkthrough FAILED: see the step above")
    return ok


def _shown(word: str) -> str:
    """A word as the demo prints it: the interpreter by name, a program by what it does."""
    if word == sys.executable:
        return "python"
    if "\n" in word:
        return "<a program that fetches credentials every second until refused>"
    return word


def _say(echo: Callable[[str], None], text: str) -> None:
    """``text`` wrapped between words to the demo's width (nothing cut)."""
    for line in textwrap.wrap(text, WIDTH, subsequent_indent="    ", break_on_hyphens=False):
        echo(line)

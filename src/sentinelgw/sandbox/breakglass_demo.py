"""The break-glass walkthrough of ``sentinel demo`` (issue 22), on the service sandbox.

The sandbox's service document allows alice break-glass on ``prod-approve`` with MFA through its
MFA role (10-minute cooldown). Each step runs the installed ``sentinel`` as alice or security and
is checked: without a code it is refused in one line; with her virtual device's code
(``--mfa-token``, made from the sandbox's seed) alice opens break-glass with nobody to approve;
a child's S3 and STS calls work under it, the webhook receiver got an urgent message, a second
one inside the cooldown is refused with the time, ``server-sessions`` marks the session,
closing the grant revokes a running session, and ``audit session-activity`` of the grant lists
what the child did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentinelgw.sandbox.mfa import current_code
from sentinelgw.sandbox.walk import (
    PROFILE,
    Failed,
    Walk,
    record_field,
    record_status,
    say,
    session_record,
)
from sentinelgw.sandbox.webhook import read_messages

WHY = "demo: INC-99 checkout is down at 3 a.m., nobody to approve"
WHY_CLOSE = "demo: rolled back"
CHILD = """
import os, boto3
print(os.environ["AWS_SENTINEL_SESSION_ID"])
s3 = boto3.client("s3")
s3.create_bucket(Bucket=os.environ["BUCKET"])
s3.list_buckets()
print(boto3.client("sts").get_caller_identity()["Arn"])
"""


class _BreakGlass(Walk):
    """The steps; ``state``: the grant's ``id``, the child's ``session``."""

    def no_code(self) -> str:
        args = ("--reason-code", "incident", "--justification", WHY)
        r = self.run("breakglass", "--profile", PROFILE, *args)
        if r.returncode != 1 or "--mfa-token" not in r.stderr:
            raise Failed(f"break-glass without MFA was not refused (exit {r.returncode})")
        return r.stderr.strip().split(": ", 1)[-1]

    def open(self, root: Path) -> str:
        args = ("--reason-code", "incident", "--justification", WHY, "--duration", "1h")
        code = ("--mfa-token", current_code(root))
        say(self.echo, f"    sentinel breakglass --profile {PROFILE} ... --mfa-token {code[1]}")
        r = self.run("breakglass", "--profile", PROFILE, *args, *code, "--format", "json")
        if r.returncode != 0:
            raise Failed(f"break-glass failed: {r.stderr.strip()[:200]}")
        grant = json.loads(r.stdout)
        self.state["id"] = grant["id"]
        return (
            f"grant {grant['id']} is {grant['status']} until {grant['ends_at']}, unapproved "
            f"(MFA: {grant.get('mfa')})"
        )

    def exec_works(self) -> str:
        env = {**self.env, "BUCKET": f"breakglass-{self.state['id']}"}
        r = self.run("exec", "--profile", PROFILE, "--", sys.executable, "-c", CHILD, env=env)
        if r.returncode != 0 or "assumed-role/sentinel-prod-approve/" not in r.stdout:
            raise Failed(f"exec failed under break-glass: {r.stderr.strip()[:200]}")
        self.state["session"] = r.stdout.split()[0]
        # The demo's own check of the table (as security), no command of the walkthrough.
        item = session_record(self.env, self.state["session"])
        if record_field(item, "breakglass_id") != self.state["id"]:
            raise Failed(f"session {self.state['session']} does not carry the grant's id")
        return f"the child's S3 and STS calls worked; session {self.state['session']} carries it"

    def urgent(self, root: Path) -> str:
        for _ in range(50):
            for m in read_messages(root / "webhook.jsonl"):
                body: Any = m.get("body")
                meta = body.get("sentinel", {}) if isinstance(body, dict) else {}
                if meta.get("breakglass_id") == self.state["id"] and meta.get("urgent"):
                    return f"webhook.jsonl got: {str(body.get('text', '')).splitlines()[0]}"
            time.sleep(0.2)
        raise Failed("the webhook receiver got no urgent message")

    def cooldown(self, root: Path) -> str:
        args = ("--reason-code", "other", "--justification", WHY, "--mfa-token", current_code(root))
        r = self.run("breakglass", "--profile", PROFILE, *args)
        if r.returncode != 1 or "BreakGlassCooldown" not in r.stderr:
            raise Failed(f"a second break-glass was not refused (exit {r.returncode})")
        return r.stderr.strip().split(": ", 1)[-1]

    def marked(self) -> str:
        r = self.run("server-sessions", "--since", "1h", "--format", "human", security=True)
        if f"BREAK-GLASS {self.state['id']}" not in r.stdout:
            raise Failed("server-sessions does not mark the session")
        return f"server-sessions shows session {self.state['session']} as BREAK-GLASS"

    def close(self) -> str:
        args = ("exec", "--token-mode", "env", "--profile", PROFILE, "--")
        closed: list[subprocess.CompletedProcess[str]] = []

        def close_grant() -> None:  # once the child holds the session's credentials
            closed.append(self.run("breakglass-close", self.state["id"], "--reason", WHY_CLOSE))

        done, item = self.until_refused(args, close_grant)
        seen = done.get("seen") or []
        r = closed[0] if closed else None
        if r is None or r.returncode != 0 or not seen or seen[-1] == "ok":
            raise Failed(f"closing did not stop the running session: {seen}")
        # The demo's own check of the table (as security), no command of the walkthrough.
        status = record_status(item)
        if status != "revoked" or record_field(item, "breakglass_id") != self.state["id"]:
            raise Failed(f"session {done['session']} is {status}, not revoked")
        return (
            f"{r.stdout.strip()}; the running child then got {seen[-1]}, and its session "
            f"{done['session']} is revoked"
        )

    def activity(self) -> str:
        r = self.run("audit", "session-activity", self.state["id"], security=True)
        wanted = ("s3:CreateBucket", "s3:ListBuckets", "sts:GetCallerIdentity")
        if r.returncode != 0 or not all(w in r.stdout for w in wanted):
            raise Failed(f"session-activity did not list the child's calls: {r.stderr[:200]}")
        for line in r.stdout.splitlines():
            if any(w in line for w in wanted):
                say(self.echo, "    " + line)
        return f"session-activity of grant {self.state['id']} lists the child's calls"


def run_breakglass_demo(
    env: dict[str, str], sentinel: list[str], root: Path, echo: Callable[[str], None]
) -> bool:
    w = _BreakGlass(env, sentinel, echo)
    return w.steps(
        "break-glass",
        [
            ("alice tries break-glass without an MFA code", w.no_code),
            ("alice opens break-glass on prod-approve with her MFA code", lambda: w.open(root)),
            ("alice runs a child on prod-approve", w.exec_works),
            ("the urgent notification", lambda: w.urgent(root)),
            ("alice tries a second one at once", lambda: w.cooldown(root)),
            ("security lists server sessions", w.marked),
            ("alice closes it while a child runs", w.close),
            ("security asks what the grant's sessions did", w.activity),
        ],
    )

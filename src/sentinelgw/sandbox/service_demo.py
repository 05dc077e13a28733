"""``sentinel demo --service``: each uncooperative move, in local mode and against the service.

Two sandboxes, one after the other in this process: first the local-mode sandbox (no IAM
enforcement, users may write the session table, as ``init sessions --generate-iam`` grants),
then the service sandbox (moto's IAM enforcement on, the credential service on loopback, alice
an ordinary user). Every move runs the installed ``sentinel`` and the AWS CLI as subprocesses
and says whether it reached its aim: ``WORKS`` (the attack succeeded) or ``FAILS`` (it was
stopped). A command that errors where the move needed it (a set-up step, a read of the
table) makes the move ``UNCLEAR``, never ``WORKS``. The demo passes when every move fails
against the service; the local-mode column shows what a cooperative client cannot stop (a
decoy table is refused locally too, because a rule without its own table accepts only the
configured one; a proof redirect has nothing to redirect in local mode, which sends no proof).
moto's enforcement is process-wide, so run this in its own process (``sentinel demo
--service`` does).
"""

from __future__ import annotations

import http.server
import json
import tempfile
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentinelgw.sandbox.approval_demo import run_approval_demo
from sentinelgw.sandbox.core import Sandbox
from sentinelgw.sandbox.service_side import (
    TABLE,
    MoveResult,
    Unclear,
    _Side,
    end,
)
from sentinelgw.sandbox.walk import WIDTH
from sentinelgw.sessions.schema import ensure_table

INTRO = (
    "Each move is an attack by alice, an ordinary user. WORKS: the attack reached its aim. "
    "FAILS: it was stopped. UNCLEAR: a command the move needed errored, so the demo cannot "
    "tell (never counted as WORKS). Under each command: its exit code and its decisive line."
)


def new_session_after_block(s: _Side) -> bool:
    admin = ["--aws-profile", "security"] if s.remote else []
    block = s.sentinel_run(
        "server-revoke", "--user", "alice", "--block", "--reason", "demo", *admin
    )
    if block.returncode != 0:
        raise Unclear("the security team's block did not take")
    s.aws_run(
        "dynamodb",
        "delete-item",
        "--table-name",
        TABLE,
        "--key",
        json.dumps({"id": {"S": "block#alice"}}),
    )  # alice removes her own block
    started = s.session() is not None
    s.sentinel_run("server-unblock", "--user", "alice", *admin)
    return started


def unrevoke_with_update_item(s: _Side) -> bool:
    child, session_id = s.live_session()
    try:
        return _flip(s, session_id)
    finally:
        end(child)


def _flip(s: _Side, session_id: str) -> bool:
    revoke = s.sentinel_run(
        "server-revoke",
        session_id,
        "--reason",
        "demo",
        *(["--aws-profile", "security"] if s.remote else []),
    )
    if revoke.returncode != 0 or (s.record(session_id) or {}).get("status") != {"S": "revoked"}:
        raise Unclear("the live session was not revoked")
    s.aws_run(
        "dynamodb",
        "update-item",
        "--table-name",
        TABLE,
        "--key",
        json.dumps({"id": {"S": session_id}}),
        "--update-expression",
        "SET #s = :a",
        "--expression-attribute-names",
        '{"#s": "status"}',
        "--expression-attribute-values",
        '{":a": {"S": "active"}}',
    )
    item = s.record(session_id) or {}
    return item.get("status") == {"S": "active"}


class _Fake(http.server.BaseHTTPRequestHandler):
    """A DynamoDB look-alike: no block for anyone, and every session item active."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.hits += 1  # type: ignore[attr-defined]
        asks_block = b'"block#' in raw
        body = b"{}" if asks_block else json.dumps({"Item": {"status": {"S": "active"}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def fake_dynamodb_endpoint(s: _Side) -> bool:
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    fake.hits = 0  # type: ignore[attr-defined]
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        env = {**s.env, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{fake.server_port}"}
        session_id = s.session(env=env)
    finally:
        fake.shutdown()
        fake.server_close()
    # The aim: credentials whose session the real table does not hold.
    return session_id is not None and s.record(session_id) is None


def client_policy_flag(s: _Side) -> bool:
    """The aim: prod credentials outside any session the table records."""
    allow = s.sb.root / "allow.yaml"
    allow.write_text("policies:\n  - name: everything\n    effect: allow\n", encoding="utf-8")
    # Relative to the sandbox folder, where every command runs: as a user would type it.
    proc = s.sentinel_run("credentials", "--policy", allow.name, "--profile", "prod")
    if proc.returncode != 0:
        return False
    doc = json.loads(proc.stdout)
    arn = _caller_arn(s, doc)
    s.echo("    the demo asks STS whose they are (GetCallerIdentity):")
    s.echo(f"      {arn}")
    session_id = arn.rsplit(".", 1)[-1]
    tracked = s.record(session_id) is not None
    s.echo(f"    the credentials' session {'is' if tracked else 'is not'} in the session table")
    return not tracked


def _caller_arn(s: _Side, doc: dict[str, Any]) -> str:
    """Who issued credentials are, asked in the demo's own process (a check, no command)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    sts = boto3.client(
        "sts",
        endpoint_url=s.env["AWS_ENDPOINT_URL"],
        region_name=s.sb.region,
        aws_access_key_id=doc["AccessKeyId"],
        aws_secret_access_key=doc["SecretAccessKey"],
        aws_session_token=doc.get("SessionToken") or None,
    )
    try:
        return str(sts.get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError):
        raise Unclear("the issued credentials could not be checked") from None


def profile_alias(s: _Side) -> bool:
    config = s.sb.root / "alias-config"
    config.write_text(
        f"[default]\nregion = {s.sb.region}\n[profile sentinel-source]\n"
        f"[profile dev]\nrole_arn = {s.sb.role_arns['prod']}\n"
        "source_profile = sentinel-source\n",
        encoding="utf-8",
    )
    env = {**s.env, "AWS_CONFIG_FILE": str(config)}
    proc = s.sentinel_run(
        *s.exec_args(
            "--profile", "dev", "--", *s.aws, "sts", "get-caller-identity", "--output", "json"
        ),
        env=env,
    )
    return proc.returncode == 0 and "sentinel-prod" in proc.stdout


def decoy_table(s: _Side) -> bool:
    if not s.remote:
        ensure_table(s.sb._client("dynamodb"), "decoy", plan=False, wait=True)
    env = {**s.env, "SENTINEL_SESSION_TABLE": "decoy"}
    session_id = s.session("--session-table", "decoy", env=env)
    return session_id is not None and s.record(session_id) is None


def assume_with_real_source_identity(s: _Side) -> bool:
    session_id = s.session()
    if session_id is None:
        raise Unclear("the real session to copy did not start")
    field = (s.record(session_id) or {}).get("source_identity")
    source = str(field.get("S", "")) if isinstance(field, dict) else ""
    if not source:
        raise Unclear("the real session has no SourceIdentity in the table")
    proc = s.aws_run(
        "sts",
        "assume-role",
        "--role-arn",
        s.sb.role_arns["prod"],
        "--role-session-name",
        source,
        "--source-identity",
        source,
        "--query",
        "AssumedRoleUser.Arn",
        "--output",
        "text",
    )
    return proc.returncode == 0


class _Relay(http.server.BaseHTTPRequestHandler):
    """A look-alike service: keeps each proof it is sent and replays it to the real service."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        import urllib.error
        import urllib.request

        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: Any = self.server
        server.proofs += 1
        status, body = 503, b'{"code":"ServiceUnavailable","message":"try again later"}'
        if server.target:
            req = urllib.request.Request(  # noqa: S310 - the sandbox's loopback service
                server.target + self.path,
                data=raw,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
                exc.close()
            except OSError:
                pass
        server.replayed_ok += status == 201
        # The victim sees only an outage, whatever the replay got.
        status, body = 503, b'{"code":"ServiceUnavailable","message":"try again later"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def proof_redirect(s: _Side) -> bool:
    """The aim: a colleague's proof, sent by a project file to a look-alike, replayed for prod."""
    relay = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
    server: Any = relay
    server.target, server.proofs, server.replayed_ok = s.sb.service_url, 0, 0
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    home = Path(s.env["HOME"])
    project = s.sb.root / "cloned-repo"
    project.mkdir(exist_ok=True)
    (project / "sentinel.yaml").write_text(
        f"defaults:\n  remote: http://127.0.0.1:{relay.server_port}\n"
        + (f"  remote_service_id: {s.sb.service_url}\n" if s.sb.service_url else ""),
        encoding="utf-8",
    )
    env = {k: v for k, v in s.env.items() if k != "SENTINEL_REMOTE"}
    if s.sb.service_url:
        # The colleague's own config names the real service.
        (home / ".sentinel").mkdir(mode=0o700, exist_ok=True)
        (home / ".sentinel" / "config.yaml").write_text(
            f"defaults:\n  remote: {s.sb.service_url}\n", encoding="utf-8"
        )
    victim = ["--aws-profile", "security"] if s.remote else []
    try:
        s.run(
            [*s.sentinel, "exec", *victim, "--profile", "prod", "--", "true"],
            env=env,
            cwd=project,
        )
    finally:
        relay.shutdown()
        relay.server_close()
        (home / ".sentinel" / "config.yaml").unlink(missing_ok=True)
    s.echo(f"    the look-alike received {server.proofs} proof(s); {server.replayed_ok} replayed")
    return bool(server.replayed_ok)


def block_escape(s: _Side) -> bool:
    """The aim: a prod session while blocked, as a role session of a role the user may assume."""
    admin = ["--aws-profile", "security"] if s.remote else []
    s.sentinel_run("server-revoke", "--user", "alice", "--block", "--reason", "demo", *admin)
    try:
        proc = s.aws_run(
            "sts",
            "assume-role",
            "--role-arn",
            s.sb.role_arns["dev"],
            "--role-session-name",
            "alice2",
            "--output",
            "json",
        )
        if proc.returncode != 0:
            return False
        c = json.loads(proc.stdout)["Credentials"]
        env = {
            **s.env,
            "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
            "AWS_SESSION_TOKEN": c["SessionToken"],
        }
        return s.session(env=env) is not None
    finally:
        s.sentinel_run("server-unblock", "--user", "alice", *admin)


MOVES: tuple[tuple[str, Callable[[_Side], bool]], ...] = (
    (
        "starts a new session right after a block (deleting the block first)",
        new_session_after_block,
    ),
    ("flips a revoked record back to active with UpdateItem", unrevoke_with_update_item),
    ("points AWS_ENDPOINT_URL_DYNAMODB at a fake that answers active", fake_dynamodb_endpoint),
    ("passes --policy allow.yaml", client_policy_flag),
    ("names the prod role_arn under [profile dev]", profile_alias),
    ("passes --session-table decoy", decoy_table),
    (
        "calls aws sts assume-role with a real session's SourceIdentity",
        assume_with_real_source_identity,
    ),
    (
        "commits a sentinel.yaml that sends a colleague's proof to a look-alike",
        proof_redirect,
    ),
    ("comes back after a block as a role session (sentinel-dev/alice2)", block_escape),
)


def _side(
    root: Path,
    remote: bool,
    echo: Callable[[str], None],
    approvals: list[bool] | None = None,
) -> list[bool | None]:
    """Each move's outcome on one sandbox: True WORKS, False FAILS, None UNCLEAR."""
    sb = Sandbox(root, enforce_iam=remote)
    try:
        sb.start()
        side = _Side(sb, remote, echo)
        if remote and approvals is not None:  # before the moves: one of them blocks alice
            echo("Access on request: prod-approve needs an approval by security")
            approvals.append(run_approval_demo(side.env, side.sentinel, sb.root, echo))
            echo("")
        results: list[bool | None] = []
        for title, move in MOVES:
            echo(f"- alice {title}")
            try:
                reached: bool | None = move(side)
            except Unclear as exc:
                reached = None
                echo(f"  => UNCLEAR: {exc}")
            else:
                verdict = "the attack reached its aim" if reached else "the attack was stopped"
                echo(f"  => {'WORKS' if reached else 'FAILS'}: {verdict}")
            results.append(reached)
        return results
    finally:
        sb.stop()


def run_service_demo(
    *,
    directory: Path | None = None,
    echo: Callable[[str], None] = print,
    approvals: list[bool] | None = None,
) -> tuple[MoveResult, ...]:
    """Run every move in local mode, then against the service; the results side by side.

    With ``approvals`` (a list), the service side first walks the access-request flow
    (:mod:`sentinelgw.sandbox.approval_demo`) and appends whether it passed."""
    root = Path(tempfile.mkdtemp(prefix="sentinel-demo-")) if directory is None else directory
    for line in textwrap.wrap(INTRO, WIDTH):
        echo(line)
    echo("")
    echo("Local mode (cooperative): alice's own process, credentials and table decide")
    local = _side(root / "local", False, echo)
    echo("")
    echo("The credential service: moto enforces IAM, the service decides")
    service = _side(root / "service", True, echo, approvals)
    results = tuple(
        MoveResult(
            title,
            bool(lo),
            bool(sv),
            frozenset(n for n, v in (("local", lo), ("service", sv)) if v is None),
        )
        for (title, _), lo, sv in zip(MOVES, local, service, strict=True)
    )
    echo("")
    width = min(max(len(r.title) for r in results), WIDTH - 20)
    echo(f"{'alice ... (WORKS: the attack reached its aim)':<{width}}  local    service")
    for r in results:
        outcomes = f"{r.outcome('local'):<7}  {r.outcome('service')}"
        if len(r.title) > width:  # a title is never cut: the outcomes go on their own line
            echo(r.title)
            echo(f"{'':<{width}}  {outcomes}")
        else:
            echo(f"{r.title:<{width}}  {outcomes}")
    ok = all(r.passed for r in results)
    echo(
        f"demo passed: every move fails against the service "
        f"({sum(r.local for r in results)} of {len(results)} still work in local mode)"
        if ok
        else "demo FAILED: see the moves above"
    )
    return results

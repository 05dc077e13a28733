"""Role chains: a session chained from a revoked one is denied on the role it chained into.

The child of a prod server session assumes a second role with the credentials it holds (STS
carries the SourceIdentity into the chained session). ``server-revoke`` finds that role in
CloudTrail (the sandbox's LookupEvents) and writes the same Deny there."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from subprocess import CompletedProcess
from typing import Any

from revocationhelpers import deny_put_proxy, iam_client, new_role, policy
from test_revocation_live import ask, held, line, session_of

from sentinelgw.audit.chains import MAX_CHAIN_DEPTH, find_chained_roles
from sentinelgw.audit.events import IssuanceEvent
from sentinelgw.sessions.revocation.deny_document import revoked_entries

Run = Callable[..., CompletedProcess[str]]
A = "sentinel.alice.aaaaaaaaaaaaaaaa"
ACCT = "123456789012"


def role(name: str, account: str = ACCT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def test_a_child_holding_chained_credentials_is_denied_when_the_session_is_revoked(
    run_sentinel: Run, sandbox_env: dict[str, str], sandbox: Any
) -> None:
    iam = iam_client(sandbox.endpoint_url)
    first, target = new_role(iam), new_role(iam)
    # prod -> first -> target: a chain of chains; the child holds the last credentials.
    with held(sandbox_env, "chain", first, target) as child:
        sid = session_of(child)
        assert line(child) == "CHAINED"
        assert ask(child) == "OK"
        proc = run_sentinel(["server-revoke", sid, "--reason", "chained away"])
        assert proc.returncode == 0, proc.stderr
        assert "role chains found in CloudTrail (LookupEvents)" in proc.stdout
        assert f"denied by IAM on chained role {first} (1 hop from" in proc.stdout
        assert f"denied by IAM on chained role {target} (2 hops from {first})" in proc.stdout
        # The deny is in place when the command returns (the sandbox applies it at once).
        assert ask(child).split()[:2] == ["DENIED", "AccessDenied"]
        # ... and the chained session cannot chain itself again either.
        assert child.stdin is not None
        child.stdin.write("rechain\n")
        child.stdin.flush()
        assert line(child).split()[:2] == ["DENIED", "AccessDenied"]
    shown = json.loads(run_sentinel(["server-session", sid, "--format", "json"]).stdout)
    denied = set().union(*revoked_entries(policy(iam, target)).values())
    assert shown["source_identity"] in denied


def test_a_chained_role_the_revoker_cannot_write_is_named_and_the_exit_code_says_incomplete(
    run_sentinel: Run, sandbox_env: dict[str, str], sandbox: Any
) -> None:
    iam = iam_client(sandbox.endpoint_url)
    target = new_role(iam)
    with held(sandbox_env, "chain", target) as child:
        sid = session_of(child)
        assert line(child) == "CHAINED"
        # The revoker may write the session's own role, not the chained one.
        with deny_put_proxy(sandbox.endpoint_url, only_role=target.rsplit("/", 1)[-1]) as url:
            env = dict(sandbox_env, AWS_ENDPOINT_URL_IAM=url)
            proc = run_sentinel(["server-revoke", sid, "--reason", "partial"], env=env)
        assert proc.returncode == 1, proc.stderr
        assert "denied by IAM: policy SentinelRevokedSessions on role" in proc.stdout
        assert f"NOT denied on chained role {target}" in proc.stderr
        assert "iam:PutRolePolicy" in proc.stderr
        error = proc.stderr.strip().splitlines()[-1]
        assert error.startswith("sentinel: error: revocation incomplete") and target in error
        assert "Traceback" not in proc.stderr
        assert ask(child) == "OK"  # what the exit code warns about


def test_a_role_in_another_account_without_a_role_to_act_through_is_reported() -> None:
    from sentinelgw.audit.chains import deny_chained
    from sentinelgw.errors import HardRevocationError

    far = role("far", "222233334444")
    within, _ = find_chained_roles([event(role("prod"), far)], {A: role("prod")})

    def iam_for(role_arn: str) -> Any:
        raise HardRevocationError(f"role {role_arn} is in account 222233334444, and no role")

    (outcome,) = deny_chained(within, iam_for, now=datetime.now(UTC))
    assert outcome.result is None and outcome.role.role_arn == far
    assert "222233334444" in str(outcome.error)


def event(caller_role: str, target: str, si: str | None = A, **kw: Any) -> IssuanceEvent:
    return IssuanceEvent(
        event_id=kw.get("event_id", target),
        event_name="AssumeRole",
        event_time=datetime(2026, 12, 1, tzinfo=UTC),
        dedup_key="e:" + target,
        role_arn=target,
        role_session_name="chained",
        source_identity=None,
        chained_source_identity=si,
        caller_role_arn=caller_role,
        caller_arn=None,
        caller_name=None,
        principal_id=None,
        principal_type="AssumedRole",
        invoked_by=None,
        source_ip=None,
        user_agent=None,
        region="us-east-1",
        accounts=(ACCT,),
        error_code=kw.get("error_code"),
    )


def test_chains_of_chains_are_followed_to_the_documented_depth() -> None:
    hops = [role("prod")] + [role(f"hop{i}") for i in range(1, MAX_CHAIN_DEPTH + 3)]
    events = [event(hops[i], hops[i + 1]) for i in range(len(hops) - 1)]
    events.append(event(role("prod"), role("other"), si="sentinel.bob.bbbbbbbbbbbbbbbb"))
    events.append(event(role("prod"), role("failed"), error_code="AccessDenied"))
    within, beyond = find_chained_roles(events, {A: role("prod")})
    assert [(r.role_arn, r.depth) for r in within] == [
        (hops[i], i) for i in range(1, MAX_CHAIN_DEPTH + 1)
    ]
    assert [r.depth for r in beyond] == [MAX_CHAIN_DEPTH + 1, MAX_CHAIN_DEPTH + 2]
    assert within[1].via == hops[1]


def test_a_role_whose_sessions_carry_the_source_identity_is_denied_even_unconnected() -> None:
    # The first hop happened before the search window: its target still carries the value.
    events = [event(role("elsewhere"), role("far", "222233334444"))]
    within, beyond = find_chained_roles(events, {A: role("prod")})
    assert [(r.role_arn, r.depth) for r in within] == [(role("far", "222233334444"), None)]
    assert beyond == []
    assert find_chained_roles([event(role("x"), "not an arn")], {A: role("prod")}) == ([], [])


def test_a_window_without_chains_finds_nothing() -> None:
    assert find_chained_roles([], {A: role("prod")}) == ([], [])
    # A chain of another session, or a failed call, is not this session's.
    other = event(role("prod"), role("x"), si="sentinel.bob.bbbbbbbbbbbbbbbb")
    failed = event(role("prod"), role("y"), error_code="AccessDenied")
    assert find_chained_roles([other, failed], {A: role("prod")}) == ([], [])

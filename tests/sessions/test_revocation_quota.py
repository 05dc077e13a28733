"""A full revocation policy never ends every session of a role on its own (issue 18, point 5).

A user who fills a role's inline-policy quota (by revoking their own sessions over and over)
must not make ``sentinel server-revoke`` fall back to AWS's ``AWSRevokeOlderSessions``, which
would deny every other user's live sessions of the role. Only the admin's explicit
``server-revoke --all-before`` writes it. Each CLI write also prunes the entries of sessions
whose credentials have all expired. All against the sandbox over HTTP, through the installed
``sentinel`` command.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from revocationhelpers import FAST, iam_client, live_session, new_role, pad_role, policy
from sessionhelpers import make_client, record, seed

from sentinelgw.sessions.revocation.deny_document import deny_statement, revoked_entries
from sentinelgw.sessions.revocation.role_deny import RoleQuotaFull, hard_revoke, hard_revoke_many
from sentinelgw.sessions.store import SessionStore

Run = Callable[..., CompletedProcess[str]]
OLDER = "AWSRevokeOlderSessions"


@pytest.fixture
def iam(endpoint_url: str) -> Any:
    return iam_client(endpoint_url)


def names(iam: Any, role_arn: str) -> list[str]:
    return sorted(iam.list_role_policies(RoleName=role_arn.rsplit("/", 1)[-1])["PolicyNames"])


def role_session(endpoint_url: str, role_arn: str, source_identity: str) -> Any:
    creds = make_client(endpoint_url, "sts").assume_role(
        RoleArn=role_arn, RoleSessionName="quota-test", SourceIdentity=source_identity
    )["Credentials"]
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def denied(call: Any) -> str | None:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def last_line(proc: CompletedProcess[str]) -> str:
    return proc.stderr.strip().splitlines()[-1]


# -- the core: a full quota writes nothing role-wide ---------------------------------------


def test_a_full_quota_never_falls_back_to_revoking_every_session_of_the_role(iam: Any) -> None:
    role = new_role(iam)
    now = datetime.now(UTC)
    hard_revoke(iam, role, "sentinel.alice.aaaaaaaaaaaaaaaa", now=now, **FAST)
    pad_role(iam, role, room=20)  # the next entry takes 32 characters
    before = policy(iam, role)
    with pytest.raises(RoleQuotaFull) as err:
        hard_revoke(iam, role, "sentinel.bob.bbbbbbbbbbbbbbbb", now=now, **FAST)
    assert err.value.role_arn == role and err.value.exit_code == 1
    assert "--all-before now --role " + role in str(err.value)
    assert names(iam, role) == ["SentinelRevokedSessions", "allow-all", "padding"]
    assert policy(iam, role) == before


def test_a_users_revocation_where_even_the_wildcard_does_not_fit_writes_nothing(
    iam: Any,
) -> None:
    role = new_role(iam)
    pad_role(iam, role, room=100)  # a wildcard statement takes about 250 characters
    with pytest.raises(RoleQuotaFull, match="even as user wildcard"):
        hard_revoke_many(
            iam,
            role,
            [f"sentinel.alice.{n:016x}" for n in range(5)],
            now=datetime.now(UTC),
            user="alice",
            **FAST,
        )
    assert names(iam, role) == ["allow-all", "padding"]


# -- the CLI: server-revoke ID and --user ----------------------------------------------------


def test_a_self_revoke_flood_no_longer_makes_server_revoke_end_every_session_of_the_role(
    run_sentinel: Run, sandbox_env: dict[str, str], store: SessionStore, iam: Any
) -> None:
    role = new_role(iam)
    victim = live_session(1, role, user="security")
    rec = live_session(2, role)
    seed(store.client, store.table, [victim, rec])
    pad_role(iam, role, room=20)
    proc = run_sentinel(
        ["server-revoke", rec.id, "--reason", "flood", "--table", store.table, "--no-chains"]
    )
    assert proc.returncode == 1, proc.stderr
    error = last_line(proc)
    assert error.startswith("sentinel: error: policy SentinelRevokedSessions is full on role ")
    assert role in error and f"--all-before now --role {role}" in error
    assert "Traceback" not in proc.stderr and OLDER not in names(iam, role)
    stored = store.get(rec.id)
    assert stored is not None and stored.status == "revoked"
    still = store.get(victim.id)
    assert still is not None and still.status == "active"


def test_a_users_revocation_on_a_full_role_reports_it_and_writes_nothing_role_wide(
    run_sentinel: Run, sandbox_env: dict[str, str], store: SessionStore, iam: Any
) -> None:
    role = new_role(iam)
    seed(store.client, store.table, [live_session(n, role) for n in range(3)])
    pad_role(iam, role, room=100)
    proc = run_sentinel(
        ["server-revoke", "--user", "alice", "--reason", "flood", "--table", store.table]
        + ["--no-chains"]
    )
    assert proc.returncode == 1, proc.stderr
    error = last_line(proc)
    assert f"is full on role {role}: 3 sessions NOT denied by IAM" in error
    assert f"--all-before now --role {role}" in error
    assert names(iam, role) == ["allow-all", "padding"]


# -- the CLI: --all-before, the admin's explicit role-wide step -------------------------------


def test_all_before_denies_older_credentials_of_the_role_and_spares_newer_sessions(
    run_sentinel: Run, sandbox_env: dict[str, str], endpoint_url: str, iam: Any
) -> None:
    role = new_role(iam)
    older = role_session(endpoint_url, role, "sentinel.bob.1111111111111111")
    assert denied(older.list_buckets) is None
    time.sleep(1.1)  # the bound has second precision
    proc = run_sentinel(
        ["server-revoke", "--all-before", "now", "--role", role, "--reason", "incident", "--yes"]
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote policy {OLDER} on role {role}: every credential issued before " in proc.stdout
    stamp = policy(iam, role, OLDER)["Statement"][0]["Condition"]["DateLessThan"][
        "aws:TokenIssueTime"
    ]
    assert stamp in proc.stdout
    time.sleep(1.1)
    newer = role_session(endpoint_url, role, "sentinel.bob.2222222222222222")
    assert denied(older.list_buckets) == "AccessDenied"
    assert denied(newer.list_buckets) is None


def test_all_before_without_a_terminal_or_yes_writes_nothing_and_names_the_flag(
    run_sentinel: Run, sandbox_env: dict[str, str], iam: Any
) -> None:
    role = new_role(iam)
    proc = run_sentinel(
        ["server-revoke", "--all-before", "now", "--role", role, "--reason", "incident"]
    )
    assert proc.returncode == 2
    assert "--yes" in last_line(proc) and "Traceback" not in proc.stderr
    assert names(iam, role) == ["allow-all"]


def test_all_before_on_a_terminal_asks_first_and_no_changes_nothing(
    sandbox_env: dict[str, str], iam: Any
) -> None:
    import os
    import pty
    import subprocess

    from tests.conftest import sentinel_command

    role = new_role(iam)
    primary, secondary = pty.openpty()
    try:
        os.write(primary, b"n\n")
        proc = subprocess.run(
            [*sentinel_command(), "server-revoke", "--all-before", "now", "--role", role]
            + ["--reason", "incident"],
            env=sandbox_env,
            stdin=secondary,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 0, proc.stderr
    assert "this denies EVERY credential of role" in proc.stdout
    assert "End every session of the role" in proc.stdout and "nothing changed" in proc.stdout
    assert names(iam, role) == ["allow-all"]


def test_all_before_never_shrinks_a_deny_already_in_place(
    run_sentinel: Run, sandbox_env: dict[str, str], iam: Any
) -> None:
    role = new_role(iam)
    args = ["server-revoke", "--role", role, "--reason", "incident", "--yes", "--all-before"]
    assert run_sentinel([*args, "now"]).returncode == 0
    held = policy(iam, role, OLDER)
    earlier = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    proc = run_sentinel([*args, earlier])
    assert proc.returncode == 0, proc.stderr
    assert "already denied" in proc.stdout
    assert policy(iam, role, OLDER) == held


def test_all_before_takes_a_profile_with_role_arn_for_the_role(
    run_sentinel: Run, sandbox_env: dict[str, str], iam: Any, tmp_path: Path
) -> None:
    role = new_role(iam)
    config = tmp_path / "config"
    original = Path(sandbox_env["AWS_CONFIG_FILE"]).read_text(encoding="utf-8")
    config.write_text(
        original + f"\n[profile wiped]\nrole_arn = {role}\nsource_profile = sentinel-source\n"
        "\n[profile plain]\nregion = us-east-1\n",
        encoding="utf-8",
    )
    env = dict(sandbox_env, AWS_CONFIG_FILE=str(config))
    args = ["server-revoke", "--all-before", "now", "--reason", "incident", "--yes", "--role"]
    plain = run_sentinel([*args, "plain"], env=env)
    assert plain.returncode == 2 and "has no role_arn" in last_line(plain)
    proc = run_sentinel([*args, "wiped"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote policy {OLDER} on role {role}" in proc.stdout
    assert names(iam, role) == [OLDER, "allow-all"]


def test_all_before_in_the_future_is_refused_as_it_would_deny_sessions_not_started(
    run_sentinel: Run, sandbox_env: dict[str, str], iam: Any
) -> None:
    role = new_role(iam)
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    proc = run_sentinel(
        ["server-revoke", "--all-before", later, "--role", role, "--reason", "x", "--yes"]
    )
    assert proc.returncode == 2 and "in the future" in last_line(proc)
    assert names(iam, role) == ["allow-all"]


def test_all_before_needs_a_role_and_stands_alone(run_sentinel: Run) -> None:
    alone = run_sentinel(["server-revoke", "--all-before", "now", "--reason", "x", "--yes"])
    assert alone.returncode == 2 and "--all-before and --role go together" in last_line(alone)
    mixed = run_sentinel(
        ["server-revoke", "--user", "alice", "--all-before", "now", "--role", "prod"]
        + ["--reason", "x", "--yes"]
    )
    assert mixed.returncode == 2 and "cannot be combined" in last_line(mixed)


# -- pruning on a CLI write -------------------------------------------------------------------


def test_a_cli_revoke_prunes_entries_of_sessions_whose_credentials_all_expired(
    run_sentinel: Run, sandbox_env: dict[str, str], store: SessionStore, iam: Any
) -> None:
    role = new_role(iam, max_session=43200)  # age alone would keep every entry for 12 hours
    now = datetime.now(UTC)
    ended = record(
        5,
        id="0000000000000005",
        source_identity="sentinel.alice.0000000000000005",
        started_at=now - timedelta(hours=3),
        expires_at=now - timedelta(hours=2),
        role_arn=role,
        status="revoked",
        revoked_at=now - timedelta(hours=2, minutes=30),
    )
    still = live_session(6, role)  # revoked earlier, credentials may still be live: kept
    unknown = "sentinel.alice.00000000000000ff"  # no record: kept, denying too long is safe
    target = live_session(7, role)
    seed(store.client, store.table, [ended, still, target])
    iam.put_role_policy(
        RoleName=role.rsplit("/", 1)[-1],
        PolicyName="SentinelRevokedSessions",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    deny_statement(
                        "SentinelRevoked" + (now - timedelta(hours=2)).strftime("%Y%m%d%H"),
                        {ended.source_identity, still.source_identity, unknown},
                    )
                ],
            }
        ),
    )
    proc = run_sentinel(
        ["server-revoke", target.id, "--reason", "done", "--table", store.table, "--no-chains"]
    )
    assert proc.returncode == 0, proc.stderr
    entries = set().union(*revoked_entries(policy(iam, role)).values())
    assert entries == {still.source_identity, unknown, target.source_identity}

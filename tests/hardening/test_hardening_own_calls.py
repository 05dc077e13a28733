"""Sentinel's own AWS calls never create the bypass events its audit reports.

The attack (by accident): ``AWS_PROFILE=prod sentinel server-sessions`` made botocore assume the
prod role with no SourceIdentity, and the next compliance report flagged a gap. Sentinel's own
calls ignore ``AWS_PROFILE`` and use ``--aws-profile`` or the default chain; a role profile is
assumed by Sentinel itself, with a SourceIdentity.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

Run = Callable[..., CompletedProcess[str]]


def assume_role_events(sandbox: Any, role_arn: str) -> list[dict[str, Any]]:
    return [
        e
        for e in sandbox.recorder.events()
        if e.get("eventName") == "AssumeRole"
        and (e.get("requestParameters") or {}).get("roleArn") == role_arn
    ]


def list_sessions(run: Run, env: dict[str, str], *extra: str) -> CompletedProcess[str]:
    return run([*extra, "server-sessions", "--format", "json", "--limit", "1"], env=env)


def test_aws_profile_does_not_make_sentinel_assume_a_role(
    run_sentinel: Run, sandbox: Any, sandbox_env: dict[str, str]
) -> None:
    prod = sandbox.role_arns["prod"]
    before = len(assume_role_events(sandbox, prod))
    proc = list_sessions(run_sentinel, {**sandbox_env, "AWS_PROFILE": "prod"})
    assert proc.returncode == 0, proc.stderr
    assert len(assume_role_events(sandbox, prod)) == before


def test_aws_default_profile_is_ignored_too(
    run_sentinel: Run, sandbox: Any, sandbox_env: dict[str, str]
) -> None:
    prod = sandbox.role_arns["prod"]
    before = len(assume_role_events(sandbox, prod))
    env = {**sandbox_env, "AWS_DEFAULT_PROFILE": "prod", "AWS_PROFILE": "prod"}
    proc = run_sentinel(["server-revoke", "0123456789abcdef", "--reason", "test"], env=env)
    assert proc.returncode != 0 and "unknown session" in proc.stderr  # it did reach the table
    assert len(assume_role_events(sandbox, prod)) == before


def test_aws_profile_role_is_assumed_with_a_source_identity(
    run_sentinel: Run, sandbox: Any, sandbox_env: dict[str, str]
) -> None:
    prod = sandbox.role_arns["prod"]
    before = len(assume_role_events(sandbox, prod))
    proc = list_sessions(run_sentinel, sandbox_env, "--aws-profile", "prod")
    assert proc.returncode == 0, proc.stderr
    new = assume_role_events(sandbox, prod)[before:]
    assert len(new) == 1
    sid = new[0]["requestParameters"].get("sourceIdentity") or ""
    assert sid.startswith("sentinel.alice.")


def test_default_profile_with_a_role_is_assumed_with_a_source_identity(
    run_sentinel: Run, sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    prod = sandbox.role_arns["prod"]
    config = tmp_path / "aws-config"
    text = (
        Path(sandbox.aws_config_file)
        .read_text()
        .replace(
            "[default]\n", f"[default]\nrole_arn = {prod}\nsource_profile = sentinel-source\n", 1
        )
    )
    config.write_text(text)
    env = {**sandbox_env, "AWS_CONFIG_FILE": str(config)}
    before = len(assume_role_events(sandbox, prod))
    proc = list_sessions(run_sentinel, env)
    assert proc.returncode == 0, proc.stderr
    new = assume_role_events(sandbox, prod)[before:]
    assert [(e["requestParameters"].get("sourceIdentity") or "")[:15] for e in new] == [
        "sentinel.alice."
    ]


def test_chained_source_role_is_assumed_with_the_same_source_identity(
    run_sentinel: Run, sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """A role whose source_profile is itself a role: botocore would assume the inner role with
    no SourceIdentity (a gap); Sentinel assumes both hops, with one SourceIdentity, as STS
    requires of a chain."""
    dev, prod = sandbox.role_arns["dev"], sandbox.role_arns["prod"]
    config = tmp_path / "aws-config"
    config.write_text(
        Path(sandbox.aws_config_file).read_text()
        + f"\n[profile hop]\nrole_arn = {dev}\nsource_profile = sentinel-source\n"
        + f"\n[profile chained]\nrole_arn = {prod}\nsource_profile = hop\n"
    )
    env = {**sandbox_env, "AWS_CONFIG_FILE": str(config)}
    before_dev = len(assume_role_events(sandbox, dev))
    before_prod = len(assume_role_events(sandbox, prod))
    proc = list_sessions(run_sentinel, env, "--aws-profile", "chained")
    assert proc.returncode == 0, proc.stderr
    inner = assume_role_events(sandbox, dev)[before_dev:]
    outer = assume_role_events(sandbox, prod)[before_prod:]
    assert len(inner) == 1 and len(outer) == 1
    inner_sid = inner[0]["requestParameters"].get("sourceIdentity") or ""
    assert inner_sid.startswith("sentinel.alice.")
    assert outer[0]["requestParameters"].get("sourceIdentity") == inner_sid

"""Helpers for the everyday-use tests: an AWS config with extra profiles, a permissive policy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

PY = sys.executable

EXTRA_PROFILES = """
[profile dev-eu]
role_arn = {dev}
source_profile = {source}
region = eu-central-1

[profile dev-mfa]
role_arn = {dev}
source_profile = {source}
mfa_serial = arn:aws:iam::123456789012:mfa/alice
"""

POLICY = """policies:
  - name: prod-tracked
    match: {profile: [prod]}
    effect: require_server_session
  - name: dev-anything
    match: {profile: [dev, dev-eu, dev-mfa]}
    effect: allow
"""


def ux_env(sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The sandbox environment with dev-eu / dev-mfa profiles, no AWS_REGION, the policy."""
    from sentinelgw.sandbox.provision import SOURCE_PROFILE

    config = tmp_path / "aws-config"
    config.write_text(
        sandbox.aws_config_file.read_text()
        + EXTRA_PROFILES.format(dev=sandbox.role_arns["dev"], source=SOURCE_PROFILE)
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {k: v for k, v in sandbox_env.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env["AWS_CONFIG_FILE"] = str(config)
    env["UX_POLICY"] = str(policy)
    return env


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sentinel: error: "), stderr
    return lines[0]


def sandbox_client(sandbox: Any, service: str) -> Any:
    """A boto3 client for the sandbox with its bootstrap keys (test set-up only)."""
    import boto3

    return boto3.client(
        service,
        region_name=sandbox.region,
        endpoint_url=sandbox.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

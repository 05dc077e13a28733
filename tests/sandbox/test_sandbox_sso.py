"""The sandbox SSO portal: GetRoleCredentials for the cached token only, until it expires."""

from __future__ import annotations

import json
import shutil

import pytest
from botocore.exceptions import ClientError
from sandboxhelpers import role_client

SSO_ROLE = "AWSReservedSSO_SandboxAdmin_0123456789abcdef"


def _sso(sandbox):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    return boto3.client(
        "sso",
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )


def _cache(sandbox) -> dict:
    (path,) = list(sandbox.sso_cache_dir.iterdir())
    return json.loads(path.read_text())


def test_cache_file_is_in_botocore_format_for_the_sso_session(sandbox):
    import hashlib

    (path,) = list(sandbox.sso_cache_dir.iterdir())
    assert path.name == hashlib.sha1(b"sandbox").hexdigest() + ".json"
    doc = _cache(sandbox)
    assert set(doc) >= {"startUrl", "region", "accessToken", "expiresAt"}
    assert doc["expiresAt"].endswith("Z")
    assert path.stat().st_mode & 0o077 == 0


def test_get_role_credentials_returns_a_moto_session_of_the_sso_role(sandbox, trail):
    creds = _sso(sandbox).get_role_credentials(
        roleName="SandboxAdmin",
        accountId=sandbox.account_id,
        accessToken=_cache(sandbox)["accessToken"],
    )["roleCredentials"]
    assert creds["expiration"] > 10**12  # epoch milliseconds
    ident = role_client(
        sandbox,
        {
            "AccessKeyId": creds["accessKeyId"],
            "SecretAccessKey": creds["secretAccessKey"],
            "SessionToken": creds["sessionToken"],
        },
    ).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{sandbox.account_id}:assumed-role/{SSO_ROLE}/alice"
    # A real Identity Center sign-in is not an AssumeRole in the account trail.
    assert trail.events() == []


def test_sessions_made_from_sso_credentials_are_attributed_to_the_sso_role(sandbox, trail):
    creds = _sso(sandbox).get_role_credentials(
        roleName="SandboxAdmin",
        accountId=sandbox.account_id,
        accessToken=_cache(sandbox)["accessToken"],
    )["roleCredentials"]
    sts = role_client(
        sandbox,
        {
            "AccessKeyId": creds["accessKeyId"],
            "SecretAccessKey": creds["secretAccessKey"],
            "SessionToken": creds["sessionToken"],
        },
    )
    sts.assume_role(RoleArn=sandbox.role_arns["prod"], RoleSessionName="via-sso")
    (ev,) = trail.events()
    assert ev["userIdentity"]["type"] == "AssumedRole"
    assert ev["userIdentity"]["arn"].endswith(f"assumed-role/{SSO_ROLE}/alice")


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_bad_token_is_unauthorized(sandbox, token):
    with pytest.raises(ClientError) as exc:
        _sso(sandbox).get_role_credentials(
            roleName="SandboxAdmin", accountId=sandbox.account_id, accessToken=token
        )
    assert exc.value.response["Error"]["Code"] == "UnauthorizedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert "Session token not found or invalid" in str(exc.value)


def test_unknown_role_is_forbidden(sandbox):
    with pytest.raises(ClientError) as exc:
        _sso(sandbox).get_role_credentials(
            roleName="Other",
            accountId=sandbox.account_id,
            accessToken=_cache(sandbox)["accessToken"],
        )
    assert exc.value.response["Error"]["Code"] == "ForbiddenException"


def test_expired_token_is_unauthorized_until_renewed(sandbox):
    sandbox.expire_sso_token()
    try:
        doc = _cache(sandbox)
        from sentinelgw.timeutil import utcnow

        assert doc["expiresAt"] < utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        with pytest.raises(ClientError) as exc:
            _sso(sandbox).get_role_credentials(
                roleName="SandboxAdmin",
                accountId=sandbox.account_id,
                accessToken=doc["accessToken"],
            )
        assert exc.value.response["Error"]["Code"] == "UnauthorizedException"
    finally:
        sandbox.renew_sso_token()
    creds = _sso(sandbox).get_role_credentials(
        roleName="SandboxAdmin",
        accountId=sandbox.account_id,
        accessToken=_cache(sandbox)["accessToken"],
    )
    assert creds["roleCredentials"]["accessKeyId"]


def test_aws_cli_sso_profile_works_end_to_end(sandbox, sandbox_env):
    """botocore's own SSO provider (in the real AWS CLI) reads the token and calls the portal.

    botocore fixes its SSO cache folder (~/.aws/sso/cache) at import time, so this runs in a
    subprocess whose HOME holds a copy of the sandbox cache.
    """
    import subprocess
    from pathlib import Path

    cache = Path(sandbox_env["HOME"]) / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    for path in sandbox.sso_cache_dir.iterdir():
        shutil.copy(path, cache / path.name)
    proc = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--profile", "sso-admin", "--output", "json"],
        env=sandbox_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Arn"].endswith(f"assumed-role/{SSO_ROLE}/alice")

"""The child's environment in each mode: Sentinel's credentials, and nothing that outranks them.

botocore's credential chain puts environment keys, ``AWS_PROFILE``, the shared credentials
file, keys in the config file, ``BOTO_CONFIG`` and ``AWS_CREDENTIAL_FILE`` before the
container provider, so server mode removes or neutralises each of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.fsutil import atomic_write
from sentinelgw.timeutil import iso

if TYPE_CHECKING:
    from sentinelgw.context import Context

# Variables that would outrank or confuse the credentials we hand to the child.
CONFLICTING = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CREDENTIAL_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ACCOUNT_ID",
    "AWS_VAULT",
    "AWS_SENTINEL_SESSION_ID",
)


def scrubbed_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in CONFLICTING}


def child_region(
    region_flag: str | None,
    env: Mapping[str, str],
    profile_region: str | None,
    default_region: str | None,
) -> str | None:
    """The child's region: ``--region``, then ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, then the
    profile's ``region``, then ``defaults.region`` (which is otherwise for Sentinel's own calls).
    """
    for value in (region_flag, env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION")):
        if value:
            return value
    return profile_region or default_region or None


def child_region_for(ctx: Context, profile_region: str | None) -> str | None:
    """:func:`child_region` with the flag, environment and ``defaults.region`` of ``ctx``."""
    default = ctx.config().defaults.get("region")
    return child_region(
        ctx.region_flag, ctx.env, profile_region, None if default is None else str(default.value)
    )


def _set_region(env: dict[str, str], region: str | None) -> None:
    if region:
        env["AWS_REGION"] = region
        env["AWS_DEFAULT_REGION"] = region


def cli_mode_env(
    env: Mapping[str, str], creds: AwsCredentials, region: str | None, profile: str
) -> dict[str, str]:
    """CLI mode: the keys themselves, in the variables every AWS SDK reads first."""
    out = scrubbed_env(env)
    out["AWS_ACCESS_KEY_ID"] = creds.access_key_id
    out["AWS_SECRET_ACCESS_KEY"] = creds.secret_access_key
    if creds.session_token:
        out["AWS_SESSION_TOKEN"] = creds.session_token
    if creds.expiration:
        out["AWS_CREDENTIAL_EXPIRATION"] = iso(creds.expiration) or ""
    _set_region(out, region)
    out["AWS_SENTINEL"] = profile
    return out


def server_mode_env(
    env: Mapping[str, str],
    *,
    profile: str,
    url: str,
    token: str,
    token_mode: str,
    workdir: Path,
    region: str | None,
    session_id: str | None,
) -> dict[str, str]:
    """Server mode: the container endpoint, its token (0600 file or variable), and a private
    AWS config holding only the region."""
    out = scrubbed_env(env)
    config = workdir / "config"
    lines = ["[default]"]
    if region:
        lines.append(f"region = {region}")
    atomic_write(config, "\n".join(lines) + "\n")
    out["AWS_CONFIG_FILE"] = str(config)
    out["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    out["BOTO_CONFIG"] = os.devnull
    out["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = url
    if token_mode == "env":
        out["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
    else:
        token_file = workdir / "token"
        atomic_write(token_file, token)  # no trailing newline: botocore sends it verbatim
        out["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(token_file)
    _set_region(out, region)
    out["AWS_SENTINEL"] = profile
    if session_id:
        out["AWS_SENTINEL_SESSION_ID"] = session_id
    return out

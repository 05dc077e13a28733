"""IAM Identity Center (SSO) profiles.

Sentinel reads the token that ``aws sso login`` cached (same file name scheme as botocore: the
SHA-1 of the sso-session name, or of the start URL for legacy profiles) and calls
``sso:GetRoleCredentials`` through boto3. The cache folder is ``~/.aws/sso/cache`` unless
``SENTINEL_SSO_CACHE_DIR`` or ``defaults.sso_cache_dir`` names another (the sandbox uses this
so it never writes into the user's ~/.aws).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelgw.awsclients import error_code, make_session, new_session, translate
from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.credentials.profiles import Profile, sso_session_settings
from sentinelgw.errors import ConfigError, SSOTokenExpired
from sentinelgw.fsutil import home_dir

if TYPE_CHECKING:
    import boto3

    from sentinelgw.context import Context


def cache_dir(ctx: Context) -> Path:
    explicit = ctx.env.get("SENTINEL_SSO_CACHE_DIR") or ctx.config().default("sso_cache_dir")
    if explicit:
        return Path(str(explicit)).expanduser()
    return home_dir(ctx.env) / ".aws" / "sso" / "cache"


def _sso_target(profile: Profile) -> tuple[str, str, str | None, dict[str, Any]]:
    """(cache key source, sso region, sso-session name, settings)."""
    session = profile.get("sso_session")
    if session:
        settings = sso_session_settings(session)
        region = settings.get("sso_region")
        if not region:
            raise ConfigError(f"[sso-session {session}] has no sso_region")
        return session, str(region), session, settings
    start_url, region = profile.get("sso_start_url"), profile.get("sso_region")
    if not start_url or not region:
        raise ConfigError(f"SSO profile {profile.name!r} needs sso_start_url and sso_region")
    return start_url, region, None, dict(profile.settings)


def _login_hint(profile: Profile, session: str | None) -> str:
    if session:
        return f"Run: aws sso login --sso-session {session}"
    return f"Run: aws sso login --profile {profile.name}"


def load_token(ctx: Context, profile: Profile, now: datetime) -> tuple[str, str]:
    """(access token, sso region) from the SSO cache, or SSOTokenExpired saying how to log in."""
    key_source, region, session, _ = _sso_target(profile)
    name = hashlib.sha1(key_source.encode("utf-8"), usedforsecurity=False).hexdigest()
    path = cache_dir(ctx) / f"{name}.json"
    hint = _login_hint(profile, session)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        token = str(data["accessToken"])
        expires = datetime.fromisoformat(str(data["expiresAt"]).replace("Z", "+00:00"))
    except FileNotFoundError:
        raise SSOTokenExpired(
            f"no SSO login found for profile {profile.name!r}", hint=hint
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise SSOTokenExpired(
            f"the SSO token cache for profile {profile.name!r} is unreadable", hint=hint
        ) from None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if expires <= now:
        raise SSOTokenExpired(f"the SSO token for profile {profile.name!r} has expired", hint=hint)
    return token, region


def sso_credentials(ctx: Context, profile: Profile, now: datetime) -> AwsCredentials:
    token, region = load_token(ctx, profile, now)
    account, role = profile.get("sso_account_id"), profile.get("sso_role_name")
    if not account or not role:
        raise ConfigError(f"SSO profile {profile.name!r} needs sso_account_id and sso_role_name")
    from botocore import UNSIGNED
    from botocore.config import Config

    sso = make_session(None, region).client(
        "sso", region_name=region, config=Config(signature_version=UNSIGNED)
    )
    try:
        resp = sso.get_role_credentials(roleName=role, accountId=account, accessToken=token)
    except Exception as exc:
        if error_code(exc) == "UnauthorizedException":
            _, _, session, _ = _sso_target(profile)
            raise SSOTokenExpired(
                f"the SSO token for profile {profile.name!r} was refused (expired or revoked)",
                hint=_login_hint(profile, session),
            ) from None
        raise translate(exc, "sso", "GetRoleCredentials", f"{account}/{role}") from exc
    rc = resp["roleCredentials"]
    return AwsCredentials(
        access_key_id=rc["accessKeyId"],
        secret_access_key=rc["secretAccessKey"],
        session_token=rc.get("sessionToken"),
        expiration=datetime.fromtimestamp(int(rc["expiration"]) / 1000, UTC),
    )


def session_from_credentials(creds: AwsCredentials, region: str | None) -> boto3.Session:

    return new_session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name=region,
    )


def sso_boto3_session(ctx: Context, profile: Profile, region: str | None) -> boto3.Session:
    """A boto3 session whose credentials come from the SSO profile ``profile``."""
    return session_from_credentials(sso_credentials(ctx, profile, ctx.now()), region)

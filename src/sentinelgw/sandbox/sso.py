"""A minimal IAM Identity Center portal: ``sso:GetRoleCredentials`` for one sandbox session.

Moto has no portal API, so the sandbox answers ``GET /federation/credentials`` itself. It
accepts only the access token it wrote into the sandbox's SSO cache, and only until that token
expires. The credentials are a real moto STS session of the sandbox's ``AWSReservedSSO_*`` role,
made by an internal AssumeRole that is not recorded: a real Identity Center sign-in does not
appear as an AssumeRole in the account's trail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sentinelgw.fsutil import atomic_write
from sentinelgw.timeutil import iso

SESSION_NAME = "sandbox"
PERMISSION_SET = "SandboxAdmin"
ROLE_NAME = "AWSReservedSSO_SandboxAdmin_0123456789abcdef"
SSO_USER = "alice"
TOKEN_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class RoleCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


def cache_file_name(session_name: str = SESSION_NAME) -> str:
    """botocore's SSO token cache key for an ``sso-session``: sha1 of the session name."""
    return hashlib.sha1(session_name.encode(), usedforsecurity=False).hexdigest() + ".json"


class SSOPortal:
    """Issues one bearer token (into the cache file) and serves GetRoleCredentials for it."""

    def __init__(
        self,
        *,
        cache_dir: Path,
        start_url: str,
        region: str,
        account_id: str,
        assume: Callable[[], RoleCredentials],
    ) -> None:
        self.cache_dir = cache_dir
        self.start_url = start_url
        self.region = region
        self.account_id = account_id
        self._assume = assume
        self._lock = threading.Lock()
        self._token = secrets.token_urlsafe(32)
        self._expires_at = datetime.now(UTC).replace(microsecond=0) + TOKEN_LIFETIME

    @property
    def cache_path(self) -> Path:
        return self.cache_dir / cache_file_name()

    def write_cache(self) -> None:
        """Write the token where botocore's SSO token provider looks for it (0600)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            doc = {
                "startUrl": self.start_url,
                "region": self.region,
                "accessToken": self._token,
                "expiresAt": iso(self._expires_at),
            }
        atomic_write(self.cache_path, json.dumps(doc, indent=2) + "\n")

    def expire_token(self) -> None:
        """Make the issued token expired, in the cache file and for the portal (tests)."""
        with self._lock:
            self._expires_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        self.write_cache()

    def renew_token(self) -> None:
        """A new token valid for TOKEN_LIFETIME, written to the cache file."""
        with self._lock:
            self._token = secrets.token_urlsafe(32)
            self._expires_at = datetime.now(UTC).replace(microsecond=0) + TOKEN_LIFETIME
        self.write_cache()

    def get_role_credentials(
        self, token: str | None, role_name: str | None, account_id: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, extra headers, JSON body) for one GetRoleCredentials request."""
        with self._lock:
            valid = (
                bool(token)
                and hmac.compare_digest(str(token).encode(), self._token.encode())
                and datetime.now(UTC) < self._expires_at
            )
        if not valid:
            return (
                401,
                {"x-amzn-errortype": "UnauthorizedException"},
                {"message": "Session token not found or invalid"},
            )
        if role_name != PERMISSION_SET or account_id != self.account_id:
            return 403, {"x-amzn-errortype": "ForbiddenException"}, {"message": "No access"}
        creds = self._assume()
        return (
            200,
            {},
            {
                "roleCredentials": {
                    "accessKeyId": creds.access_key_id,
                    "secretAccessKey": creds.secret_access_key,
                    "sessionToken": creds.session_token,
                    "expiration": int(creds.expiration.timestamp() * 1000),
                }
            },
        )

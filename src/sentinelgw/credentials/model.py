"""Credential values. Their ``repr`` never shows a secret, so a stray log line cannot leak one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentinelgw.timeutil import iso


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: datetime | None = None

    def process_json(self) -> dict[str, Any]:
        """The credential_process Version 1 document (Version is the integer 1)."""
        out: dict[str, Any] = {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
        }
        if self.session_token:
            out["SessionToken"] = self.session_token
        if self.expiration is not None:
            out["Expiration"] = iso(self.expiration)
        return out

    def container_json(self) -> dict[str, Any]:
        """The container-credentials document: note ``Token``, not ``SessionToken``."""
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token or "",
            "Expiration": iso(self.expiration) if self.expiration else None,
        }


@dataclass(frozen=True)
class CallerIdentity:
    """The AWS identity behind some credentials (sts:GetCallerIdentity)."""

    arn: str
    account: str
    user_id: str
    user: str  # the name policies match: IAM user name or role session name


@dataclass(frozen=True)
class Issued:
    credentials: AwsCredentials
    profile: str
    user: str
    identity_arn: str
    role_arn: str | None
    source_identity: str | None
    request_id: str
    region: str | None

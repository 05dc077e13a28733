"""SourceIdentity and RoleSessionName values that STS accepts and the audit can parse back.

STS constraints on SourceIdentity and RoleSessionName: characters ``[\\w+=,.@-]`` only,
2 to 64 characters, no colon, not starting with ``aws:``. botocore does not check the pattern
or the maximum, and moto does not either, so we do it here.

Format: ``sentinel.<user>.<id>`` where ``<id>`` is 16 lowercase hex characters (the server
session id, or a request id for CLI and credential_process requests). The user part is
sanitised and truncated so the whole value fits 64 characters; parsing works from the right
because the id has a fixed shape, so a user name containing dots still parses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

PREFIX = "sentinel"
MAX_LEN = 64
ID_LEN = 16
_ALLOWED = re.compile(r"[^\w+=,.@-]", re.ASCII)
_VALID = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
_PARSE = re.compile(r"^sentinel\.(?P<user>[\w+=,.@-]+)\.(?P<id>[0-9a-f]{16})$", re.ASCII)
_USER_MAX = MAX_LEN - len(PREFIX) - 2 - ID_LEN


@dataclass(frozen=True, slots=True)
class ParsedSourceIdentity:
    user: str
    id: str


def new_id() -> str:
    """A fresh 16-hex id for a session or a request."""
    # os.urandom is the CSPRNG behind secrets; importing secrets costs start-up time.
    return os.urandom(ID_LEN // 2).hex()


def sanitize_user(user: str) -> str:
    cleaned = _ALLOWED.sub("-", user) or "unknown"
    return cleaned[:_USER_MAX]


def format_source_identity(user: str, ident: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{16}", ident):
        raise ValueError("id must be 16 lowercase hex characters")
    value = f"{PREFIX}.{sanitize_user(user)}.{ident}"
    assert is_valid_sts_value(value), value
    return value


def role_session_name(user: str, ident: str) -> str:
    """The RoleSessionName: same shape as the SourceIdentity, so CloudTrail shows it twice."""
    return format_source_identity(user, ident)


def parse_source_identity(value: str | None) -> ParsedSourceIdentity | None:
    """Parse a Sentinel SourceIdentity; None when it is not in Sentinel's format."""
    if not value:
        return None
    m = _PARSE.match(value)
    if not m:
        return None
    return ParsedSourceIdentity(user=m.group("user"), id=m.group("id"))


def is_sentinel_format(value: str | None) -> bool:
    return parse_source_identity(value) is not None


def is_valid_sts_value(value: str) -> bool:
    """True when STS would accept ``value`` as a SourceIdentity or RoleSessionName."""
    return bool(_VALID.match(value)) and not value.lower().startswith("aws:")

"""The policy ``user`` of a verified caller, derived from the ARN STS returned.

- An IAM user is its user name (the path is dropped).
- An IAM Identity Center session (role ``AWSReservedSSO_*``) is its session name, which
  Identity Center sets to the user's name.
- Any other assumed role is ``<role>/<session>``: the caller chose the session name, so it can
  never pass for a bare user name. A rule for such callers names both (``ci-role/*``).

Root, federated users and any other ARN shape are refused: a person should use the service
through an IAM user or a role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentinelgw.service.proof import ProofError, VerifiedCaller

_USER = re.compile(r"^arn:aws[a-z-]*:iam::(?P<acct>\d{12}):user/(?:[^/]+/)*(?P<name>[\w+=,.@-]+)$")
_ASSUMED = re.compile(
    r"^arn:aws[a-z-]*:sts::(?P<acct>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)"
    r"/(?P<session>[\w+=,.@-]+)$"
)
SSO_ROLE_PREFIX = "AWSReservedSSO_"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: ``user`` is what policies match, ``arn`` what sessions are bound to."""

    user: str
    arn: str
    account: str
    kind: str  # "iam-user", "identity-center" or "assumed-role"


def caller_from_arn(verified: VerifiedCaller) -> Caller:
    """The :class:`Caller` for a verified ARN; raises :class:`ProofError` for other shapes."""
    arn = verified.arn
    m = _USER.match(arn)
    if m:
        return Caller(user=m.group("name"), arn=arn, account=m.group("acct"), kind="iam-user")
    m = _ASSUMED.match(arn)
    if m:
        role, session = m.group("role"), m.group("session")
        if role.startswith(SSO_ROLE_PREFIX):
            return Caller(user=session, arn=arn, account=m.group("acct"), kind="identity-center")
        return Caller(
            user=f"{role}/{session}", arn=arn, account=m.group("acct"), kind="assumed-role"
        )
    raise ProofError(
        "CallerNotAllowed",
        "the service accepts IAM users and role sessions only (not root or federated users)",
        status=403,
    )

"""Who the caller is, from the ARN that sts:GetCallerIdentity returns.

Never the operating-system user: anyone can change that. A policy's ``user:`` names a person,
so only names that the caller cannot choose freely are bare user names:

- an IAM user is its user name (the path is dropped);
- an IAM Identity Center session (role ``AWSReservedSSO_*``) is its session name, which
  Identity Center sets to the user's name;
- any other assumed role is ``<role>/<session>``: whoever assumes a role picks the session
  name (a source profile chained through a role with ``role_session_name = ci-bot``), so it
  can never pass for a bare user name. A rule for such callers names both (``ci-role/*``);
- a federated user is ``federated-user/<name>``, the name being chosen by the IAM user who
  called GetFederationToken.
"""

from __future__ import annotations

import re

_USER = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:user/(?:.*/)?(?P<name>[^/]+)$")
_ASSUMED = re.compile(
    r"^arn:aws[\w-]*:sts::\d{12}:assumed-role/(?P<role>[^/]+)/(?P<session>[^/]+)$"
)
_FEDERATED = re.compile(r"^arn:aws[\w-]*:sts::\d{12}:federated-user/(?P<name>[^/]+)$")
# moto answers GetCallerIdentity for keys it does not know with this shape, which AWS never
# returns; accept it too.
_STS_USER = re.compile(r"^arn:aws[\w-]*:sts::\d{12}:user/(?P<name>[^/]+)$")
_ROOT = re.compile(r"^arn:aws[\w-]*:iam::(?P<acct>\d{12}):root$")
SSO_ROLE_PREFIX = "AWSReservedSSO_"


def user_from_arn(arn: str) -> str:
    """The policy ``user`` for a caller ARN (see the module docstring)."""
    m = _ASSUMED.match(arn)
    if m:
        role, session = m.group("role"), m.group("session")
        return session if role.startswith(SSO_ROLE_PREFIX) else f"{role}/{session}"
    m = _FEDERATED.match(arn)
    if m:
        return f"federated-user/{m.group('name')}"
    for pattern in (_USER, _STS_USER):
        m = pattern.match(arn)
        if m:
            return m.group("name")
    if _ROOT.match(arn):
        return "root"
    return arn.rsplit("/", 1)[-1] or arn

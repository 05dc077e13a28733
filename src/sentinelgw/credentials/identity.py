"""Who the caller is, from the ARN that sts:GetCallerIdentity returns.

Never the operating-system user: anyone can change that.
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


def user_from_arn(arn: str) -> str:
    """IAM user name, or the session name of an assumed role / Identity Center session."""
    for pattern, group in (
        (_USER, "name"),
        (_ASSUMED, "session"),
        (_FEDERATED, "name"),
        (_STS_USER, "name"),
    ):
        m = pattern.match(arn)
        if m:
            return m.group(group)
    if _ROOT.match(arn):
        return "root"
    return arn.rsplit("/", 1)[-1] or arn

"""The IAM calls of hard revocation (:mod:`sentinelgw.sessions.revocation.role_deny`), each
through the AWS error boundary (:func:`~sentinelgw.awserrors.aws_call`): a failure is a
:class:`HardRevocationError` naming the role and the permission the revoker lacks.

Permissions the revoker needs on the role: ``iam:GetRole``, ``iam:ListRolePolicies``,
``iam:GetRolePolicy`` and ``iam:PutRolePolicy`` (``iam:DeleteRolePolicy`` only for
``server-revoke --all-before``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sentinelgw.awserrors import aws_call
from sentinelgw.errors import HardRevocationError
from sentinelgw.sessions.revocation.deny_document import as_document, compact, document_size


def on_role(operation: str, name: str) -> AbstractContextManager[None]:
    """:func:`~sentinelgw.awserrors.aws_call` for one IAM call on role ``name``."""
    return aws_call(
        "iam",
        operation,
        f"role {name}",
        raises=HardRevocationError,
        missing="Check the session's role_arn",
    )


def max_session_seconds(iam: Any, name: str) -> int:
    with on_role("GetRole", name):
        role = iam.get_role(RoleName=name)["Role"]
    return int(role.get("MaxSessionDuration") or 3600)


def get_policy(iam: Any, name: str, policy: str) -> dict[str, Any] | None:
    """The role's inline policy ``policy``, or None when it has none of that name."""
    try:
        with on_role("GetRolePolicy", name):
            resp = iam.get_role_policy(RoleName=name, PolicyName=policy)
    except HardRevocationError as exc:
        if exc.aws_code == "NoSuchEntity":
            return None
        raise
    return as_document(resp.get("PolicyDocument"))


def other_policy_chars(iam: Any, name: str, *exclude: str) -> int:
    """The size of the role's inline policies but ``exclude`` (they share one quota)."""
    total = 0
    for policy in list_policies(iam, name):
        if policy not in exclude:
            total += document_size(get_policy(iam, name, policy))
    return total


def list_policies(iam: Any, name: str) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {"RoleName": name}
    while True:
        with on_role("ListRolePolicies", name):
            resp = iam.list_role_policies(**kwargs)
        names.extend(str(n) for n in resp.get("PolicyNames", []))
        if not resp.get("IsTruncated") or not resp.get("Marker"):
            return names
        kwargs["Marker"] = resp["Marker"]


def put_policy(iam: Any, name: str, policy: str, document: dict[str, Any]) -> None:
    with on_role("PutRolePolicy", name):
        iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=compact(document))


def delete_policy(iam: Any, name: str, policy: str) -> None:
    """Delete the role's inline policy ``policy``; one already gone is fine."""
    try:
        with on_role("DeleteRolePolicy", name):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
    except HardRevocationError as exc:
        if exc.aws_code != "NoSuchEntity":
            raise

"""IAM documents for the Sentinel credential service, as pure builders.

Who holds what:

- the service's execution role is the only principal a protected role trusts, and it may assume
  a protected role only with a SourceIdentity starting ``sentinel.``
  (:func:`protected_role_trust_policy`);
- the execution role gets exactly what the service does (:func:`service_role_policy`): assume
  the protected roles with a SourceIdentity and a session tag, read and write session records,
  read the policy parameter, manage the ``SentinelRevokedSessions`` inline policy on protected
  roles for hard revocation, read Identity Center roles (``iam:GetRole`` on their reserved
  path, to tell them from look-alikes) and write its own logs; and, only when the service
  document configures them, publish to the one notification topic (``sns:Publish`` on that
  topic ARN) and read the one Identity Center identity store that group approvers live in
  (``identitystore:GetUserId``, ``GetGroupId``, ``IsMemberInGroups``), and read the one
  break-glass MFA role (``iam:GetRole`` on the document's ``breakglass.mfa_role``, to confirm
  that its trust policy requires MFA);
- users get only the right to call the service (:func:`user_invoke_policy`): no table access,
  no ``sts:AssumeRole`` on protected roles.

Every builder returns a fresh ``dict`` ready for ``json.dumps``; none does I/O.
"""

from __future__ import annotations

import re
from typing import Any

Policy = dict[str, Any]

VERSION = "2012-10-17"
SOURCE_IDENTITY_PATTERN = "sentinel.*"
REVOKED_SESSIONS_POLICY = "SentinelRevokedSessions"
ASSUME_ACTIONS = ("sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession")
# The service creates, reads and updates session and block records, and queries the indexes
# (a user's sessions, for a block). It never scans, and never touches the table's definition
# beyond DescribeTable, which the health check uses.
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
)
REVOCATION_ACTIONS = (
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    # No iam:DeleteRolePolicy: the service's revokes never fall back on AWSRevokeOlderSessions
    # (that is only an admin's server-revoke --all-before), so it never deletes a policy, and
    # a compromised service cannot lift a revocation by deleting one.
)
# The service confirms an Identity Center caller's role by reading it (its path and RoleId);
# granted on that path only, so a look-alike role elsewhere reads as AccessDenied.
IDENTITY_CENTER_ROLES = "role/aws-reserved/sso.amazonaws.com/*"
# Identity Center group approvers: look up the user and the group, then ask membership.
IDENTITY_STORE_ACTIONS = (
    "identitystore:GetUserId",
    "identitystore:GetGroupId",
    "identitystore:IsMemberInGroups",
)
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
# Since October 2025 AWS requires both actions to call a new AWS_IAM Function URL. Direct
# invocation gives a caller nothing more: the service verifies the caller's signed proof on
# every request, whichever way the event arrives.
INVOKE_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")


def protected_role_trust_policy(service_role_arn: str) -> Policy:
    """The trust policy of a protected role: only the service's role, only as Sentinel.

    ``sts:SetSourceIdentity`` and ``sts:TagSession`` must be allowed for the service to pass
    ``SourceIdentity`` and the ``SentinelSessionId`` tag; the condition refuses an
    ``AssumeRole`` whose SourceIdentity is not one Sentinel sets.
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "SentinelServiceOnly",
                "Effect": "Allow",
                "Principal": {"AWS": service_role_arn},
                "Action": list(ASSUME_ACTIONS),
                "Condition": {"StringLike": {"sts:SourceIdentity": SOURCE_IDENTITY_PATTERN}},
            }
        ],
    }


def service_role_policy(
    protected_role_arns: list[str] | tuple[str, ...],
    table_arn: str,
    parameter_arn: str,
    *,
    log_group_arn: str | None = None,
    sns_topic_arn: str | None = None,
    identity_store_id: str | None = None,
    mfa_role_arn: str | None = None,
) -> Policy:
    """The execution role's permissions: least privilege for what the service does.

    With no protected roles the STS and IAM statements are left out (an empty ``Resource`` is
    not a valid statement). ``log_group_arn`` defaults to the Lambda log groups of the table's
    region and account whose function name starts with ``sentinel``. ``sns_topic_arn`` and
    ``identity_store_id`` (the document's ``notifications.sns_topic_arn`` and
    ``approvals.identity_store_id``) add a statement each, and so does ``mfa_role_arn`` (the
    document's ``breakglass.mfa_role``); without them there is none.
    """
    roles = sorted(set(protected_role_arns))
    statements: list[dict[str, Any]] = []
    if roles:
        statements.append(_allow("SentinelAssumeProtectedRoles", ASSUME_ACTIONS, roles))
    statements.append(
        _allow("SentinelSessionTable", TABLE_ACTIONS, [table_arn, f"{table_arn}/index/*"])
    )
    statements.append(_allow("SentinelPolicyParameter", ("ssm:GetParameter",), [parameter_arn]))
    if roles:
        statements.append(_allow("SentinelHardRevocation", REVOCATION_ACTIONS, roles))
        statements.append(
            _allow(
                "SentinelIdentityCenterRoles",
                ("iam:GetRole",),
                [f"{_iam_prefix(table_arn)}:{IDENTITY_CENTER_ROLES}"],
            )
        )
    statements += optional_statements(table_arn, sns_topic_arn, identity_store_id)
    if mfa_role_arn:
        statements.append(_allow("SentinelBreakGlassMfaRole", ("iam:GetRole",), [mfa_role_arn]))
    logs = log_group_arn or _default_log_group(table_arn)
    statements.append(_allow("SentinelLambdaLogs", LOG_ACTIONS, [logs, f"{logs}:*"]))
    return {"Version": VERSION, "Statement": statements}


def optional_statements(
    table_arn: str, sns_topic_arn: str | None, identity_store_id: str | None
) -> list[dict[str, Any]]:
    """Publishing to exactly the configured topic; reading exactly the configured identity
    store (its users and groups: ``IsMemberInGroups`` needs all three resource types)."""
    out = []
    if sns_topic_arn:
        out.append(_allow("SentinelNotifications", ("sns:Publish",), [sns_topic_arn]))
    if identity_store_id:
        partition = _iam_prefix(table_arn).split(":iam::", 1)[0]
        store = f"{partition}:identitystore::*:identitystore/{identity_store_id}"
        out.append(
            _allow(
                "SentinelApproverGroups",
                IDENTITY_STORE_ACTIONS,
                [
                    store,
                    f"{partition}:identitystore:::user/*",
                    f"{partition}:identitystore:::group/*",
                ],
            )
        )
    return out


def user_invoke_policy(function_arn: str) -> Policy:
    """What a user needs: calling the service's Function URL, and nothing else."""
    return {
        "Version": VERSION,
        "Statement": [_allow("SentinelInvokeService", INVOKE_ACTIONS, [function_arn])],
    }


def _allow(sid: str, actions: tuple[str, ...], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


# arn:<partition>:dynamodb:<region>:<account>:table/..., where each part may also be a
# CloudFormation ${...} variable (which holds colons).
_TABLE_ARN = re.compile(
    r"^(?P<arn>arn:(?:\$\{[^}]*\}|[^:]+)):dynamodb:(?:\$\{[^}]*\}|[^:]*)"
    r":(?P<account>\$\{[^}]*\}|[^:]*):table/"
)


def _iam_prefix(table_arn: str) -> str:
    """``arn:<partition>:iam::<account>`` of the table's partition and account."""
    m = _TABLE_ARN.match(table_arn)
    if m is None or not m.group("account"):
        return "arn:aws:iam::*"
    return f"{m.group('arn')}:iam::{m.group('account')}"


def _default_log_group(table_arn: str) -> str:
    parts = table_arn.split(":")
    region, account = (parts[3], parts[4]) if len(parts) > 5 else ("*", "*")
    return f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/sentinel*"

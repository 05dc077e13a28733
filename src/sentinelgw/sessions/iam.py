"""Least-privilege IAM policies for the session table (``sentinel init sessions --generate-iam``).

Three documents, one per kind of caller:

- ``sentinel-users``: engineers running ``sentinel exec --server``. The server creates, reads
  and updates its own record (PutItem, GetItem, UpdateItem) and assumes roles with a
  SourceIdentity; it never lists or scans the table.
- ``security-team``: lists, exports and revokes sessions (Query on the indexes, GetItem,
  BatchGetItem, UpdateItem, and Scan on the status index only), blocks users (UpdateItem,
  through TransactWriteItems), denies revoked sessions in IAM (the ``SentinelRevokedSessions``
  inline policy on the roles), and runs the audit (CloudTrail LookupEvents, the trail's log
  files in S3, the central policy parameter).
- ``table-admin``: whoever runs ``sentinel init sessions``.

``sts:GetCallerIdentity`` needs no permission, so it appears nowhere.
"""

from __future__ import annotations

from typing import Any

Policy = dict[str, Any]


def table_arn(table: str, region: str = "*", account: str = "*") -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}"


def generate_iam(
    table: str,
    region: str | None = "*",
    account: str = "*",
    *,
    role_arns: list[str] | None = None,
    policy_parameter: str = "/sentinel/*",
    trail_bucket: str = "*",
) -> dict[str, Policy]:
    """The three policy documents, keyed ``sentinel-users``, ``security-team``, ``table-admin``.

    ``role_arns`` are the roles Sentinel profiles assume (default: every role in ``account``);
    narrow them before attaching the policy.
    """
    region = region or "*"
    arn = table_arn(table, region, account)
    roles = role_arns or [f"arn:aws:iam::{account}:role/*"]
    param_arn = f"arn:aws:ssm:{region}:{account}:parameter{_leading_slash(policy_parameter)}"
    return {
        "sentinel-users": _users_policy(arn, roles, param_arn),
        "security-team": _security_policy(arn, roles, param_arn, trail_bucket),
        "table-admin": _admin_policy(arn),
    }


def _users_policy(arn: str, roles: list[str], param_arn: str) -> Policy:
    """Everyone running Sentinel: their session records, the roles, the central policy."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SentinelSessionRecord",
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                "Resource": [arn],
            },
            {
                "Sid": "SentinelAssumeRoleWithSourceIdentity",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Resource": roles,
            },
            {
                "Sid": "SentinelCentralPolicy",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": [param_arn],
            },
        ],
    }


def _security_policy(arn: str, roles: list[str], param_arn: str, trail_bucket: str) -> Policy:
    """The security team: list and revoke sessions, hard revocation, the audits."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SentinelSessionsReadRevoke",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:Query",
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DescribeTable",
                ],
                "Resource": [arn, f"{arn}/index/*"],
            },
            # An unfiltered listing also scans the status index for statuses Sentinel does not
            # know, so a record cannot hide by its status. That index only: never the table.
            {
                "Sid": "SentinelSessionsUnknownStatuses",
                "Effect": "Allow",
                "Action": ["dynamodb:Scan"],
                "Resource": [f"{arn}/index/status-index"],
            },
            # Hard revocation: read the role's limit and inline policies, write the Deny
            # (DeleteRolePolicy only for server-revoke --all-before, to make room).
            {
                "Sid": "SentinelHardRevocation",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole",
                    "iam:ListRolePolicies",
                    "iam:GetRolePolicy",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                ],
                "Resource": roles,
            },
            # LookupEvents does not support resource-level permissions.
            {
                "Sid": "SentinelAuditCloudTrail",
                "Effect": "Allow",
                "Action": ["cloudtrail:LookupEvents"],
                "Resource": ["*"],
            },
            {
                "Sid": "SentinelAuditTrailBucketList",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{trail_bucket}"],
            },
            {
                "Sid": "SentinelAuditTrailBucketRead",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{trail_bucket}/*AWSLogs/*"],
            },
            {
                "Sid": "SentinelCentralPolicy",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": [param_arn],
            },
        ],
    }


def _admin_policy(arn: str) -> Policy:
    """Whoever provisions the session table."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SentinelProvisionSessionTable",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:CreateTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTimeToLive",
                    "dynamodb:DescribeTimeToLive",
                ],
                "Resource": [arn],
            },
        ],
    }


def _leading_slash(name: str) -> str:
    return name if name.startswith("/") else f"/{name}"

"""The generated IAM policies are least-privilege and name the right resources."""

from __future__ import annotations

from typing import Any

from sentinelgw.sessions.iam import generate_iam


def actions(doc: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        for action in stmt["Action"]:
            out.setdefault(action, []).extend(stmt["Resource"])
    return out


def test_users_can_only_write_their_record_and_assume_roles() -> None:
    users = actions(generate_iam("sess", "eu-west-1", "111122223333")["sentinel-users"])
    table = "arn:aws:dynamodb:eu-west-1:111122223333:table/sess"
    assert users["dynamodb:PutItem"] == [table]
    assert users["dynamodb:UpdateItem"] == [table]
    assert set(users) == {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "sts:AssumeRole",
        "sts:SetSourceIdentity",
        "ssm:GetParameter",
    }
    assert users["sts:AssumeRole"] == ["arn:aws:iam::111122223333:role/*"]


def test_security_team_queries_indexes_and_reads_cloudtrail() -> None:
    sec = actions(generate_iam("sess", "eu-west-1", trail_bucket="trail")["security-team"])
    assert "arn:aws:dynamodb:eu-west-1:*:table/sess/index/*" in sec["dynamodb:Query"]
    # Scan only on the status index (statuses Sentinel does not know), never on the table.
    assert sec["dynamodb:Scan"] == ["arn:aws:dynamodb:eu-west-1:*:table/sess/index/status-index"]
    assert "dynamodb:DeleteItem" not in sec
    assert sec["cloudtrail:LookupEvents"] == ["*"]
    assert sec["s3:ListBucket"] == ["arn:aws:s3:::trail"]
    assert sec["s3:GetObject"] == ["arn:aws:s3:::trail/*AWSLogs/*"]


def test_table_admin_and_unknown_region() -> None:
    admin = actions(generate_iam("sess", None)["table-admin"])
    assert set(admin) == {
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeTimeToLive",
    }
    assert admin["dynamodb:CreateTable"] == ["arn:aws:dynamodb:*:*:table/sess"]


def test_security_team_can_write_the_revocation_policy_on_the_roles_only() -> None:
    roles = ["arn:aws:iam::111122223333:role/prod"]
    sec = actions(generate_iam("sess", "eu-west-1", role_arns=roles)["security-team"])
    for action in (
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ):
        assert sec[action] == roles
    assert "dynamodb:PutItem" not in sec  # blocks are written with UpdateItem

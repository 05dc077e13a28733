"""The sandbox front's revocation policies: stored outside moto, evaluated per session."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sandboxhelpers import client, role_client

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            }
        ],
    }
)
ALLOW = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def deny(*identities: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "SentinelRevoked2026120114",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceIdentity": list(identities)}},
                }
            ],
        }
    )


@pytest.fixture
def role(sandbox: Any) -> tuple[str, str]:
    iam = client(sandbox, "iam")
    name = f"front-{uuid.uuid4().hex[:10]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="allow", PolicyDocument=ALLOW)
    return name, str(arn)


def session(sandbox: Any, arn: str, source_identity: str | None) -> dict[str, Any]:
    kw = {"SourceIdentity": source_identity} if source_identity else {}
    return client(sandbox, "sts").assume_role(RoleArn=arn, RoleSessionName="front-test", **kw)[
        "Credentials"
    ]


def denied(call: Any) -> str | None:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def test_only_the_named_session_is_denied_in_every_protocol(
    sandbox: Any, role: tuple[str, str]
) -> None:
    name, arn = role
    revoked = session(sandbox, arn, "sentinel.alice.1111111111111111")
    other = session(sandbox, arn, "sentinel.alice.2222222222222222")
    plain = session(sandbox, arn, None)
    client(sandbox, "iam").put_role_policy(
        RoleName=name,
        PolicyName="SentinelRevokedSessions",
        PolicyDocument=deny("sentinel.alice.1111111111111111"),
    )
    s3, ddb = role_client(sandbox, revoked, "s3"), role_client(sandbox, revoked, "dynamodb")
    assert denied(s3.list_buckets) == "AccessDenied"
    assert denied(ddb.list_tables) == "AccessDeniedException"
    assert denied(lambda: role_client(sandbox, revoked, "iam").list_roles()) == "AccessDenied"
    # IAM never denies GetCallerIdentity.
    assert role_client(sandbox, revoked, "sts").get_caller_identity()["Arn"].endswith("/front-test")
    for creds in (other, plain):
        assert denied(role_client(sandbox, creds, "s3").list_buckets) is None
        assert denied(role_client(sandbox, creds, "dynamodb").list_tables) is None


def test_kept_policies_answer_like_iam(sandbox: Any, role: tuple[str, str]) -> None:
    name, _arn = role
    iam = client(sandbox, "iam")
    missing = denied(
        lambda: iam.get_role_policy(RoleName=name, PolicyName="SentinelRevokedSessions")
    )
    assert missing == "NoSuchEntity"
    no_role = denied(
        lambda: iam.put_role_policy(
            RoleName="no-such-role-x",
            PolicyName="SentinelRevokedSessions",
            PolicyDocument=deny("sentinel.a.b"),
        )
    )
    assert no_role == "NoSuchEntity"
    iam.put_role_policy(
        RoleName=name, PolicyName="SentinelRevokedSessions", PolicyDocument=deny("sentinel.a.b")
    )
    got = iam.get_role_policy(RoleName=name, PolicyName="SentinelRevokedSessions")
    assert got["PolicyDocument"] == json.loads(deny("sentinel.a.b"))
    assert sorted(iam.list_role_policies(RoleName=name)["PolicyNames"]) == [
        "SentinelRevokedSessions",
        "allow",
    ]
    too_big = deny(*[f"sentinel.user.{n:016x}" for n in range(400)])
    assert (
        denied(
            lambda: iam.put_role_policy(
                RoleName=name, PolicyName="SentinelRevokedSessions", PolicyDocument=too_big
            )
        )
        == "LimitExceeded"
    )
    iam.delete_role_policy(RoleName=name, PolicyName="SentinelRevokedSessions")
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["allow"]


def test_revoke_older_sessions_spares_sessions_issued_afterwards(
    sandbox: Any, role: tuple[str, str]
) -> None:
    name, arn = role
    before = session(sandbox, arn, "sentinel.bob.3333333333333333")
    time.sleep(1.1)  # the policy's time has second precision, as in the IAM console's
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    after = session(sandbox, arn, "sentinel.bob.3333333333333333")
    client(sandbox, "iam").put_role_policy(
        RoleName=name,
        PolicyName="AWSRevokeOlderSessions",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Action": ["*"],
                        "Resource": ["*"],
                        "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
                    }
                ],
            }
        ),
    )
    assert denied(role_client(sandbox, before, "s3").list_buckets) == "AccessDenied"
    assert denied(role_client(sandbox, after, "s3").list_buckets) is None

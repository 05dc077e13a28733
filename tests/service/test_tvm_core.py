"""Core behaviour that needs a clock or a broken table: request counting and failing closed."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config
from tvmhelpers import client

from sentinelgw.service.refusal import Refusal
from sentinelgw.service.table import ServiceTable


def test_credential_requests_are_counted_in_the_record(enforced, alice, security):
    grant = client(enforced, alice).start("dev")
    for _ in range(3):
        client(enforced, alice).credentials(grant.session_id)
    time.sleep(2.2)  # the counter writes at most every 2 s, on the next request
    client(enforced, alice).credentials(grant.session_id)
    ddb = security.client("dynamodb")
    count = 0
    for _ in range(50):
        item = ddb.get_item(
            TableName="sentinel-sessions", Key={"id": {"S": grant.session_id}}, ConsistentRead=True
        )["Item"]
        count = int(item["request_count"]["N"])
        if count == 4:
            break
        time.sleep(0.1)
    assert count == 4


@pytest.fixture
def dead_table():
    ddb = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    return ServiceTable(ddb, "sentinel-sessions")


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.read("0123456789abcdef", "alice", datetime.now(UTC)),
        lambda t: t.block("alice", datetime.now(UTC)),
        lambda t: t.get("0123456789abcdef"),
    ],
)
def test_any_table_error_refuses_with_503(dead_table, call):
    with pytest.raises(Refusal) as err:
        call(dead_table)
    assert (err.value.status, err.value.code) == (503, "SessionTableUnavailable")
    assert dead_table.reachable() is False


def test_table_access_denied_refuses_with_503(on_enforced, alice):
    # alice's own keys cannot read the table: the service would refuse, not serve.
    table = ServiceTable(alice.client("dynamodb"), "sentinel-sessions")
    with pytest.raises(Refusal) as err:
        table.read("0123456789abcdef", "alice", datetime.now(UTC))
    assert err.value.status == 503 and "denied" in err.value.message.lower()


def test_identity_center_roles_are_confirmed_by_path_and_role_id(sandbox):
    from sentinelgw.service.caller import IdentityCenterRoles

    iam = sandbox._client("iam")
    trust = '{"Version":"2012-10-17","Statement":[]}'
    suffix = str(int(time.time() * 1000))[-8:]
    real = iam.create_role(
        RoleName=f"AWSReservedSSO_Real_{suffix}",
        Path="/aws-reserved/sso.amazonaws.com/eu-west-1/",
        AssumeRolePolicyDocument=trust,
    )["Role"]
    fake = iam.create_role(
        RoleName=f"AWSReservedSSO_Lookalike_{suffix}", AssumeRolePolicyDocument=trust
    )["Role"]
    roles = IdentityCenterRoles(iam)
    assert roles(real["RoleName"], real["RoleId"], "123456789012") is True
    assert roles(fake["RoleName"], fake["RoleId"], "123456789012") is False
    # Another role's id under the real name (a role re-created, or another account's): refused.
    assert roles(real["RoleName"], fake["RoleId"], "123456789012") is False
    assert roles(f"AWSReservedSSO_Gone_{suffix}", "AROAGONE", "123456789012") is False

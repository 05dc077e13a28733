"""Creating the session table on moto: schema, idempotence, plan, differences."""

from __future__ import annotations

from typing import Any

import pytest

from sentinelgw.errors import SessionStoreError
from sentinelgw.sessions.schema import SPEC, ensure_table, table_differences


def test_creates_the_table_with_every_index_and_ttl(ddb: Any, table_name: str) -> None:
    report = ensure_table(ddb, table_name)
    assert report.created and not report.differences
    desc = ddb.describe_table(TableName=table_name)["Table"]
    assert desc["TableStatus"] == "ACTIVE"
    assert desc["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
    assert set(indexes) == {
        "user-index",
        "status-index",
        "profile-index",
        "server-instance-index",
        "source-identity-index",
    }
    assert indexes["user-index"]["KeySchema"] == [
        {"AttributeName": "user", "KeyType": "HASH"},
        {"AttributeName": "started_at", "KeyType": "RANGE"},
    ]
    assert indexes["source-identity-index"]["KeySchema"] == [
        {"AttributeName": "source_identity", "KeyType": "HASH"}
    ]
    assert all(g["Projection"]["ProjectionType"] == "ALL" for g in indexes.values())
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    assert types["started_at"] == "N" and types["id"] == "S"
    ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl" and ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert table_differences(desc) == []


def test_second_run_does_nothing(ddb: Any, table_name: str) -> None:
    ensure_table(ddb, table_name)
    again = ensure_table(ddb, table_name)
    assert again.exists and not again.created
    assert again.actions == [] and again.differences == []
    assert again.up_to_date


def test_plan_changes_nothing(ddb: Any, table_name: str) -> None:
    report = ensure_table(ddb, table_name, plan=True)
    assert not report.exists and not report.created
    assert any("create table" in a for a in report.actions)
    assert any("TTL" in a for a in report.actions)
    assert table_name not in ddb.list_tables()["TableNames"]


def test_existing_table_with_ttl_missing_gets_ttl_only(ddb: Any, table_name: str) -> None:
    ddb.create_table(**SPEC.create_request(table_name))
    plan = ensure_table(ddb, table_name, plan=True)
    assert plan.actions == ["enable TTL on attribute 'ttl'"]
    done = ensure_table(ddb, table_name)
    assert not done.created and done.actions == plan.actions
    assert ensure_table(ddb, table_name).up_to_date


def test_table_with_another_schema_is_reported_not_changed(ddb: Any, table_name: str) -> None:
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "user", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "user-index",
                "KeySchema": [{"AttributeName": "user", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            }
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    before = ddb.describe_table(TableName=table_name)["Table"]
    report = ensure_table(ddb, table_name)
    text = "\n".join(report.differences)
    assert report.exists and not report.created and report.actions == []
    assert "key schema is pk HASH, expected id HASH" in text
    assert "index user-index has keys user HASH, expected user HASH, started_at RANGE" in text
    assert "index user-index projects KEYS_ONLY, expected ALL" in text
    assert "missing index status-index" in text
    assert "billing mode is PROVISIONED, expected PAY_PER_REQUEST" in text
    after = ddb.describe_table(TableName=table_name)["Table"]
    assert after["KeySchema"] == before["KeySchema"]
    assert len(after["GlobalSecondaryIndexes"]) == 1
    ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_ttl_on_another_attribute_is_a_difference(ddb: Any, table_name: str) -> None:
    ddb.create_table(**SPEC.create_request(table_name))
    ddb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    report = ensure_table(ddb, table_name)
    assert report.differences == ["TTL attribute is 'expires', expected 'ttl'"]


def test_unreachable_endpoint_is_a_store_error(table_name: str) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(SessionStoreError, match="DescribeTable.*could not reach"):
        ensure_table(client, table_name)

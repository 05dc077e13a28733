"""The recorder records every call signed with a key the sandbox issued, not only AssumeRole."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sandboxhelpers import client, role_client

from sentinelgw.sandbox.calls import rest_operation


def _session(sandbox: Any) -> dict[str, Any]:
    si = f"sentinel.alice.{secrets.token_hex(8)}"
    resp = client(sandbox, "sts").assume_role(
        RoleArn=sandbox.role_arns["prod"], RoleSessionName=si, SourceIdentity=si
    )
    return {**resp["Credentials"], "si": si}


def test_calls_with_issued_keys_are_recorded_as_cloudtrail_events(sandbox, trail) -> None:
    creds = _session(sandbox)
    s3 = role_client(sandbox, creds, "s3")
    bucket = f"activity-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"x")
    s3.get_object(Bucket=bucket, Key="a/b.txt")
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="missing")
    s3.list_objects_v2(Bucket=bucket)
    role_client(sandbox, creds).get_caller_identity()
    events = [e for e in trail.events() if e["eventName"] != "AssumeRole"]
    names = [(e["eventSource"], e["eventName"], e.get("errorCode")) for e in events]
    assert names == [
        ("s3.amazonaws.com", "CreateBucket", None),
        ("s3.amazonaws.com", "PutObject", None),
        ("s3.amazonaws.com", "GetObject", None),
        ("s3.amazonaws.com", "GetObject", "NoSuchKey"),
        ("s3.amazonaws.com", "ListObjectsV2", None),
        ("sts.amazonaws.com", "GetCallerIdentity", None),
    ]
    put = events[1]
    assert [r["ARN"] for r in put["resources"]] == [
        f"arn:aws:s3:::{bucket}/a/b.txt",
        f"arn:aws:s3:::{bucket}",
    ]
    assert put["requestParameters"] == {"bucketName": bucket, "key": "a/b.txt"}
    ui = put["userIdentity"]
    assert ui["accessKeyId"] == creds["AccessKeyId"] and ui["type"] == "AssumedRole"
    assert ui["sessionContext"]["sourceIdentity"] == creds["si"]
    assert "Botocore" in put["userAgent"] and put["sourceIPAddress"] == "127.0.0.1"
    # No secret of the session ends up in the trail.
    text = json.dumps(trail.events())
    assert creds["SecretAccessKey"] not in text and creds["SessionToken"] not in text


def test_recorded_calls_are_found_by_access_key_in_lookup_events(sandbox, trail) -> None:
    creds = _session(sandbox)
    role_client(sandbox, creds, "s3").list_buckets()
    ct = client(sandbox, "cloudtrail")
    found = ct.lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": creds["AccessKeyId"]}]
    )["Events"]
    assert [e["EventName"] for e in found] == ["ListBuckets"]


def test_calls_with_the_users_own_keys_are_not_recorded(sandbox, trail) -> None:
    client(sandbox, "s3").list_buckets()
    assert trail.events() == []


def test_chained_session_calls_carry_the_first_sessions_source_identity(sandbox, trail) -> None:
    creds = _session(sandbox)
    hop = role_client(sandbox, creds).assume_role(
        RoleArn=sandbox.role_arns["dev"], RoleSessionName="hop"
    )["Credentials"]
    role_client(sandbox, hop, "s3").list_buckets()
    last = trail.events()[-1]
    assert last["eventName"] == "ListBuckets"
    assert last["userIdentity"]["accessKeyId"] == hop["AccessKeyId"]
    assert last["userIdentity"]["sessionContext"]["sourceIdentity"] == creds["si"]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "want"),
    [
        ("GET", "/", set(), set(), "ListBuckets"),
        ("GET", "/b", {"list-type"}, set(), "ListObjectsV2"),
        ("GET", "/b", set(), set(), "ListObjects"),
        ("PUT", "/b/k", set(), set(), "PutObject"),
        ("PUT", "/b/k", set(), {"x-amz-copy-source"}, "CopyObject"),
        ("GET", "/b/k", {"acl"}, set(), "GetObjectAcl"),
        ("DELETE", "/b/k/deep", set(), set(), "DeleteObject"),
        ("HEAD", "/b", set(), set(), "HeadBucket"),
    ],
)
def test_rest_operation_names_the_s3_call(method, path, query, headers, want) -> None:
    assert rest_operation("s3", method, path, query, headers) == want

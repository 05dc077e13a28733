"""LookupEvents served by the recorder: paging, time window, attributes, errors, throttling."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from sandboxhelpers import client, synthetic

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _ct(sandbox):
    import boto3
    from botocore.config import Config

    # No retries, so that a throttled call surfaces instead of being retried.
    sess = boto3.Session(
        aws_access_key_id="AKIATEST", aws_secret_access_key="test", region_name=sandbox.region
    )
    return sess.client(
        "cloudtrail",
        endpoint_url=sandbox.endpoint_url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def _seed(trail, n: int) -> list[dict]:
    return [trail.add_event(synthetic(T0 + timedelta(seconds=i))) for i in range(n)]


def test_paginator_returns_every_event_exactly_once_newest_first(sandbox, trail):
    seeded = _seed(trail, 120)
    pages = list(
        _ct(sandbox)
        .get_paginator("lookup_events")
        .paginate(StartTime=T0 - timedelta(minutes=1), PaginationConfig={"PageSize": 50})
    )
    assert [len(p["Events"]) for p in pages] == [50, 50, 20]
    ids = [e["EventId"] for p in pages for e in p["Events"]]
    assert ids == [e["eventID"] for e in reversed(seeded)]
    assert trail.lookup_calls == 3


def test_event_fields_and_cloudtrail_event_json(sandbox, trail):
    client(sandbox, "sts").assume_role(RoleArn=sandbox.role_arns["prod"], RoleSessionName="bypass")
    (event,) = _ct(sandbox).lookup_events()["Events"]
    assert event["EventName"] == "AssumeRole" and event["EventSource"] == "sts.amazonaws.com"
    assert event["ReadOnly"] == "false" and event["Username"] == "alice"
    assert event["AccessKeyId"].startswith("AKIA")
    assert isinstance(event["EventTime"], datetime)
    assert event["Resources"] == [
        {"ResourceType": "AWS::IAM::Role", "ResourceName": sandbox.role_arns["prod"]}
    ]
    inner = json.loads(event["CloudTrailEvent"])
    assert inner["eventID"] == event["EventId"]
    assert inner["requestParameters"]["roleSessionName"] == "bypass"


def test_window_edges_are_inclusive(sandbox, trail):
    seeded = _seed(trail, 10)
    resp = _ct(sandbox).lookup_events(
        StartTime=T0 + timedelta(seconds=3), EndTime=T0 + timedelta(seconds=6)
    )
    assert [e["EventId"] for e in resp["Events"]] == [e["eventID"] for e in seeded[6:2:-1]]


def test_default_lookback_is_ninety_days(sandbox, trail):
    old = trail.add_event(synthetic(datetime.now(UTC) - timedelta(days=91)))
    recent = trail.add_event(synthetic(datetime.now(UTC) - timedelta(days=89)))
    ids = [e["EventId"] for e in _ct(sandbox).lookup_events()["Events"]]
    assert ids == [recent["eventID"]]
    assert old["eventID"] not in ids


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("EventName", "ConsoleLogin", 1),
        ("EventSource", "signin.amazonaws.com", 1),
        ("Username", "bob", 1),
        ("ReadOnly", "true", 1),
        ("AccessKeyId", "AKIABOB", 1),
        ("ResourceName", "arn:aws:iam::123456789012:role/other", 1),
        ("ResourceType", "AWS::IAM::Role", 3),
    ],
)
def test_lookup_attributes_filter(sandbox, trail, key, value, expected):
    _seed(trail, 2)
    trail.add_event(
        synthetic(
            T0,
            name="ConsoleLogin",
            eventSource="signin.amazonaws.com",
            readOnly=True,
            userIdentity={"type": "IAMUser", "userName": "bob", "accessKeyId": "AKIABOB"},
            resources=[{"type": "AWS::IAM::Role", "ARN": "arn:aws:iam::123456789012:role/other"}],
        )
    )
    resp = _ct(sandbox).lookup_events(
        LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}]
    )
    assert len(resp["Events"]) == expected


def test_lookup_by_event_id(sandbox, trail):
    seeded = _seed(trail, 5)
    resp = _ct(sandbox).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": seeded[2]["eventID"]}]
    )
    assert [e["EventId"] for e in resp["Events"]] == [seeded[2]["eventID"]]


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_more_than_one_lookup_attribute_is_rejected(sandbox, trail):
    with pytest.raises(ClientError) as exc:
        _ct(sandbox).lookup_events(
            LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "AssumeRole"},
                {"AttributeKey": "Username", "AttributeValue": "alice"},
            ]
        )
    assert _code(exc) == "InvalidLookupAttributesException"


@pytest.mark.parametrize("n", [0, 51])
def test_max_results_out_of_range_is_rejected(sandbox, trail, n):
    # botocore validates the minimum itself, so 0 is sent raw to reach the server.
    from sentinelgw.sandbox.lookup import handle_lookup

    status, payload = handle_lookup(trail, json.dumps({"MaxResults": n}).encode())
    assert (status, payload["__type"]) == (400, "InvalidMaxResultsException")
    if n == 51:
        with pytest.raises(ClientError) as exc:
            _ct(sandbox).lookup_events(MaxResults=n)
        assert _code(exc) == "InvalidMaxResultsException"


def test_start_after_end_is_rejected(sandbox, trail):
    with pytest.raises(ClientError) as exc:
        _ct(sandbox).lookup_events(StartTime=T0, EndTime=T0 - timedelta(seconds=1))
    assert _code(exc) == "InvalidTimeRangeException"


def test_next_token_with_different_parameters_is_rejected(sandbox, trail):
    _seed(trail, 5)
    ct = _ct(sandbox)
    token = ct.lookup_events(MaxResults=2, StartTime=T0 - timedelta(minutes=1))["NextToken"]
    assert (
        len(
            ct.lookup_events(MaxResults=2, StartTime=T0 - timedelta(minutes=1), NextToken=token)[
                "Events"
            ]
        )
        == 2
    )
    with pytest.raises(ClientError) as exc:
        ct.lookup_events(MaxResults=2, StartTime=T0, NextToken=token)
    assert _code(exc) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as exc:
        ct.lookup_events(NextToken="not-a-token")
    assert _code(exc) == "InvalidNextTokenException"


def test_events_recorded_while_paging_do_not_shift_pages(sandbox, trail):
    seeded = _seed(trail, 4)
    ct = _ct(sandbox)
    first = ct.lookup_events(MaxResults=2, StartTime=T0 - timedelta(minutes=1))
    trail.add_event(synthetic(T0 + timedelta(seconds=30)))  # newer than everything
    second = ct.lookup_events(
        MaxResults=2, StartTime=T0 - timedelta(minutes=1), NextToken=first["NextToken"]
    )
    ids = [e["EventId"] for e in first["Events"] + second["Events"]]
    assert ids == [e["eventID"] for e in reversed(seeded)]
    assert "NextToken" not in second


def test_throttle_next_returns_throttling_exception_then_recovers(sandbox, trail):
    trail.throttle_next(2)
    ct = _ct(sandbox)
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            ct.lookup_events()
        assert _code(exc) == "ThrottlingException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ct.lookup_events()["Events"] == []
    assert trail.lookup_calls == 3


def test_other_cloudtrail_actions_pass_through_to_moto(sandbox, trail):
    assert "trailList" in _ct(sandbox).describe_trails()


def test_aws_cli_lookup_events_pages_through_the_recorder(sandbox, trail, sandbox_env):
    seeded = _seed(trail, 60)
    proc = subprocess.run(
        [
            "aws",
            "cloudtrail",
            "lookup-events",
            "--page-size",
            "50",
            "--output",
            "json",
            "--start-time",
            (T0 - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ],
        env=sandbox_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    events = json.loads(proc.stdout)["Events"]
    assert [e["EventId"] for e in events] == [e["eventID"] for e in reversed(seeded)]
    assert trail.lookup_calls == 2

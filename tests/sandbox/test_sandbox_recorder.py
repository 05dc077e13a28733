"""The CloudTrail recorder: AssumeRole through the sandbox becomes a documented-shape event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sandboxhelpers import client, role_client

from sentinelgw.sourceidentity import new_id

# A session id of this run only: the shared sandbox's roles carry other tests' revocations,
# and a fixed id (say 0123456789abcdef, which docs and other tests use) may be denied there.
SI = f"sentinel.alice.{new_id()}"


def _only_event(trail: Any) -> dict[str, Any]:
    events = trail.events()
    assert len(events) == 1, events
    return events[0]


def test_assume_role_with_source_identity_is_recorded_in_cloudtrail_shape(sandbox, trail):
    sts = client(sandbox, "sts")
    resp = sts.assume_role(
        RoleArn=sandbox.role_arns["prod"],
        RoleSessionName=SI,
        SourceIdentity=SI,
        DurationSeconds=900,
        ExternalId="ext-1",
    )
    ev = _only_event(trail)

    assert ev["eventVersion"] and ev["eventType"] == "AwsApiCall"
    assert ev["eventSource"] == "sts.amazonaws.com" and ev["eventName"] == "AssumeRole"
    assert ev["eventTime"].endswith("Z") and ev["awsRegion"] == sandbox.region
    assert ev["readOnly"] is False and ev["recipientAccountId"] == sandbox.account_id
    assert ev["sourceIPAddress"] == "127.0.0.1" and "Botocore" in ev["userAgent"]
    assert ev["requestParameters"] == {
        "roleArn": sandbox.role_arns["prod"],
        "roleSessionName": SI,
        "durationSeconds": 900,
        "sourceIdentity": SI,
        "externalId": "ext-1",
    }
    out = ev["responseElements"]
    assert out["sourceIdentity"] == SI
    assert out["assumedRoleUser"] == {
        "assumedRoleId": resp["AssumedRoleUser"]["AssumedRoleId"],
        "arn": resp["AssumedRoleUser"]["Arn"],
    }
    assert out["credentials"]["accessKeyId"] == resp["Credentials"]["AccessKeyId"]
    assert out["credentials"]["expiration"]

    ui = ev["userIdentity"]
    assert ui["type"] == "IAMUser" and ui["userName"] == "alice"
    assert ui["arn"] == f"arn:aws:iam::{sandbox.account_id}:user/alice"
    assert ui["accountId"] == sandbox.account_id and ui["principalId"]
    assert ui["accessKeyId"].startswith("AKIA")


def test_recorded_event_never_holds_the_session_token_or_secret(sandbox, trail):
    resp = client(sandbox, "sts").assume_role(
        RoleArn=sandbox.role_arns["dev"], RoleSessionName="plain"
    )
    text = json.dumps(trail.events())
    assert resp["Credentials"]["SessionToken"] not in text
    assert resp["Credentials"]["SecretAccessKey"] not in text
    assert "sessionToken" not in text


def test_assume_role_without_source_identity_has_no_source_identity_fields(sandbox, trail):
    client(sandbox, "sts").assume_role(RoleArn=sandbox.role_arns["prod"], RoleSessionName="bypass")
    ev = _only_event(trail)
    assert "sourceIdentity" not in ev["requestParameters"]
    assert "externalId" not in ev["requestParameters"]
    assert ev["requestParameters"]["durationSeconds"] == 3600
    assert "sourceIdentity" not in ev["responseElements"]


def test_chained_session_is_attributed_to_the_recorded_session(sandbox, trail):
    first = client(sandbox, "sts").assume_role(
        RoleArn=sandbox.role_arns["prod"], RoleSessionName=SI, SourceIdentity=SI
    )
    chained = role_client(sandbox, first["Credentials"])
    chained.assume_role(RoleArn=sandbox.role_arns["dev"], RoleSessionName="hop")
    second = trail.events()[-1]
    ui = second["userIdentity"]
    assert ui["type"] == "AssumedRole"
    assert ui["arn"] == first["AssumedRoleUser"]["Arn"]
    assert ui["accessKeyId"] == first["Credentials"]["AccessKeyId"]
    assert ui["sessionContext"]["sourceIdentity"] == SI
    assert ui["sessionContext"]["sessionIssuer"]["arn"] == sandbox.role_arns["prod"]
    # The source identity persists through chaining even though the hop did not set it.
    assert "sourceIdentity" not in second["requestParameters"]
    assert second["responseElements"]["sourceIdentity"] == SI


def test_failed_assume_role_is_not_recorded(sandbox, trail):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        client(sandbox, "sts").assume_role(
            RoleArn=sandbox.role_arns["prod"], RoleSessionName="x" * 65
        )
    assert trail.events() == []


def test_other_sts_calls_are_not_recorded_and_source_user_is_alice(sandbox, trail):
    ident = client(sandbox, "sts").get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{sandbox.account_id}:user/alice"
    assert trail.events() == []


def test_add_event_fills_id_and_clear_empties(trail):
    ev = trail.add_event({"eventName": "AssumeRole", "eventTime": "2026-01-24T09:00:00Z"})
    assert ev["eventID"]
    assert trail.events()[0]["eventID"] == ev["eventID"]
    trail.clear()
    assert trail.events() == []


def test_provisioned_files_are_private_and_inside_root(sandbox):
    for path in (sandbox.credentials_file, *sandbox.sso_cache_dir.iterdir()):
        assert path.stat().st_mode & 0o077 == 0, path
        assert sandbox.root in path.parents
    config = sandbox.aws_config_file.read_text()
    for section in (
        "[profile sentinel-source]",
        "[profile dev]",
        "[profile prod]",
        "[profile prod-sso]",
        "[profile sso-admin]",
        "[sso-session sandbox]",
    ):
        assert section in config
    assert "aws_secret_access_key" not in config


def test_roles_trust_policy_requires_a_sentinel_source_identity(sandbox):
    iam = client(sandbox, "iam")
    role = iam.get_role(RoleName="sentinel-prod")["Role"]
    doc = role["AssumeRolePolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    stmt = doc["Statement"][0]
    assert set(stmt["Action"]) == {"sts:AssumeRole", "sts:SetSourceIdentity"}
    assert stmt["Condition"] == {"StringLike": {"sts:SourceIdentity": "sentinel*"}}


def test_session_table_exists(sandbox):
    ddb = client(sandbox, "dynamodb")
    assert ddb.describe_table(TableName=sandbox.table)["Table"]["TableStatus"] == "ACTIVE"


def test_sentinel_config_names_table_region_and_policy(sandbox):
    from sentinelgw.config import load_config

    cfg = load_config(str(sandbox.sentinel_config), env={"HOME": str(sandbox.root / "nohome")})
    assert cfg.default("session_table") == sandbox.table
    assert cfg.default("region") == sandbox.region
    assert cfg.default("sso_cache_dir") == str(sandbox.sso_cache_dir)
    assert cfg.inline_policy is not None
    from sentinelgw.policy import policy_from_doc

    policy = policy_from_doc(cfg.inline_policy)
    names = [r.name for r in policy.rules]
    assert names == ["prod-tracked", "dev-open", "sso-admin"]

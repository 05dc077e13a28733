"""Helpers for the sandbox tests: boto3 clients on the shared sandbox, synthetic events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def session(sandbox: Any, profile: str = "sentinel-source") -> Any:
    """A boto3 session that reads the sandbox's own AWS files (no environment needed)."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    core.set_config_variable("config_file", str(sandbox.aws_config_file))
    core.set_config_variable("credentials_file", str(sandbox.credentials_file))
    core.set_config_variable("profile", profile)
    return boto3.Session(botocore_session=core, region_name=sandbox.region)


def client(sandbox: Any, service: str, profile: str = "sentinel-source") -> Any:
    return session(sandbox, profile).client(service, endpoint_url=sandbox.endpoint_url)


def role_client(sandbox: Any, creds: dict[str, Any], service: str = "sts") -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def synthetic(at: datetime, name: str = "AssumeRole", **extra: Any) -> dict[str, Any]:
    """A minimal CloudTrail event at ``at`` (second precision, Z)."""
    ev: dict[str, Any] = {
        "eventID": str(uuid.uuid4()),
        "eventTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com",
        "eventName": name,
        "readOnly": False,
        "userIdentity": {
            "type": "IAMUser",
            "userName": "alice",
            "arn": "arn:aws:iam::123456789012:user/alice",
            "accessKeyId": "AKIASYNTHETIC0000000",
        },
        "resources": [
            {"type": "AWS::IAM::Role", "ARN": "arn:aws:iam::123456789012:role/sentinel-prod"}
        ],
    }
    ev.update(extra)
    return ev

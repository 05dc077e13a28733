"""Builders for CloudTrail AssumeRole records, log files in the delivery layout, and sessions."""

from __future__ import annotations

import gzip
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sentinelgw.sessions.model import SessionRecord
from sentinelgw.timeutil import iso

ACCOUNT = "123456789012"
REGION = "us-east-1"
# A fixed window well away from "now", so events other tests record never fall into it.
# Two days ago at noon: inside CloudTrail LookupEvents' 90-day window, so no test sees the
# warning about older windows, and far enough back that no other test's records fall near it.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
PROD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sentinel-prod"
DEV_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sentinel-dev"


def new_id() -> str:
    return secrets.token_hex(8)


def assume_role(
    *,
    at: datetime = T0,
    role_arn: str = PROD_ROLE,
    source_identity: str | None = None,
    chained: str | None = None,
    echo_only: bool = False,
    event_id: str | None = None,
    source_ip: str = "192.0.2.10",
    user_agent: str = "aws-cli/2.15.0",
    principal_id: str = "AIDAEXAMPLEALICE",
) -> dict[str, Any]:
    """A CloudTrail AssumeRole record in the documented shape.

    ``source_identity`` goes in requestParameters (or only in responseElements with
    ``echo_only``); ``chained`` is the caller's session SourceIdentity.
    """
    session_name = source_identity or f"botocore-session-{int(at.timestamp())}"
    params: dict[str, Any] = {
        "roleArn": role_arn,
        "roleSessionName": session_name,
        "durationSeconds": 3600,
    }
    response: dict[str, Any] = {
        "credentials": {"accessKeyId": "ASIAEXAMPLE", "expiration": "Nov 3, 2025 1:00:00 PM"},
        "assumedRoleUser": {
            "assumedRoleId": f"AROAEXAMPLE:{session_name}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/x/{session_name}",
        },
    }
    if source_identity and not echo_only:
        params["sourceIdentity"] = source_identity
    if source_identity or chained:
        response["sourceIdentity"] = source_identity or chained
    caller: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": principal_id,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "accountId": ACCOUNT,
        "userName": "alice",
    }
    if chained:
        caller = {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLECALLER:s",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/hop/s",
            "accountId": ACCOUNT,
            "sessionContext": {
                "sourceIdentity": chained,
                "sessionIssuer": {"type": "Role", "arn": DEV_ROLE},
            },
        }
    return {
        "eventVersion": "1.08",
        "userIdentity": caller,
        "eventTime": iso(at),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": REGION,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": params,
        "responseElements": response,
        "eventID": event_id or str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }


def other_event(at: datetime = T0) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": iso(at),
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "eventID": str(uuid.uuid4()),
        "awsRegion": REGION,
    }


def log_key(
    at: datetime,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    org: str | None = None,
    prefix: str = "",
) -> str:
    """The S3 key CloudTrail would deliver a file under."""
    head = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    org_part = f"{org}/" if org else ""
    name = f"{account}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{secrets.token_hex(8)}.json.gz"
    return f"{head}AWSLogs/{org_part}{account}/CloudTrail/{region}/{at:%Y/%m/%d}/{name}"


def gz_records(records: list[Any]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def write_log(root: Path, records: list[Any], at: datetime | None = None, **kw: Any) -> Path:
    """Write one gzip log file under ``root`` in the delivery layout; returns its path."""
    when = at or T0
    path = root / log_key(when, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gz_records(records))
    return path


def session(
    store: Any,
    *,
    user: str = "alice",
    profile: str = "prod",
    role_arn: str = PROD_ROLE,
    at: datetime = T0,
) -> str:
    """Create a server-session record; returns its SourceIdentity."""
    ident = new_id()
    sid = f"sentinel.{user}.{ident}"
    store.create(
        SessionRecord.new(
            id=ident,
            user=user,
            profile=profile,
            role_arn=role_arn,
            started_at=at,
            expires_at=at + timedelta(hours=1),
            server_instance_id="srv-test",
            source_identity=sid,
            host="laptop",
        )
    )
    return sid


# --- real-shaped records of the other issuing calls, failures and AWS services -------------
# Shapes follow published CloudTrail records (AWS documentation examples, detection fixtures).

OTHER_ACCOUNT = "210987654321"
SSO_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
    "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
)
OIDC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/github-deploy"


def failed(
    record: dict[str, Any], code: str = "AccessDenied", *, keep_params: bool = False
) -> dict[str, Any]:
    """The record as a refused call: errorCode/errorMessage, usually null parameters."""
    rec = dict(record)
    rec["errorCode"] = code
    rec["errorMessage"] = (
        f"User: {rec['userIdentity'].get('arn')} is not authorized to perform: sts:AssumeRole"
    )
    if not keep_params:
        rec["requestParameters"] = None
    rec["responseElements"] = None
    return rec


def by_service(
    service: str = "lambda.amazonaws.com",
    *,
    at: datetime = T0,
    role_arn: str = f"arn:aws:iam::{ACCOUNT}:role/service-role/fn-role",
    session_name: str = "fn",
) -> dict[str, Any]:
    rec = assume_role(at=at, role_arn=role_arn)
    rec["userIdentity"] = {"type": "AWSService", "invokedBy": service}
    rec["sourceIPAddress"] = service
    rec["userAgent"] = service
    rec["requestParameters"] = {"roleArn": role_arn, "roleSessionName": session_name}
    return rec


def saml(
    *,
    at: datetime = T0,
    role_arn: str = SSO_ROLE,
    source_identity: str | None = None,
    user: str = "alice@example.com",
) -> dict[str, Any]:
    """AssumeRoleWithSAML as IAM Identity Center or a SAML IdP records it."""
    rec = assume_role(at=at, role_arn=role_arn)
    rec["eventName"] = "AssumeRoleWithSAML"
    rec["userIdentity"] = {
        "type": "SAMLUser",
        "principalId": f"SampleIdPId:{user}",
        "userName": user,
        "identityProvider": "SampleIdPId",
    }
    params: dict[str, Any] = {
        "sAMLAssertionID": "_c0046cEXAMPLE",
        "roleSessionName": user,
        "durationSeconds": 3600,
        "roleArn": role_arn,
        "principalArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/idp",
    }
    response: dict[str, Any] = {
        "subjectType": "persistent",
        "issuer": "https://idp.example.com/saml",
        "credentials": {"accessKeyId": "ASIAEXAMPLE", "expiration": "Nov 3, 2025 1:00:00 PM"},
        "assumedRoleUser": {
            "assumedRoleId": f"AROAEXAMPLE:{user}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/x/{user}",
        },
        "subject": user,
        "audience": "https://signin.aws.amazon.com/saml",
    }
    if source_identity:
        params["sourceIdentity"] = source_identity
        response["sourceIdentity"] = source_identity
    rec["requestParameters"], rec["responseElements"] = params, response
    return rec


def web_identity(
    *, at: datetime = T0, role_arn: str = OIDC_ROLE, source_identity: str | None = None
) -> dict[str, Any]:
    """AssumeRoleWithWebIdentity from GitHub Actions' OIDC provider."""
    rec = saml(at=at, role_arn=role_arn, source_identity=source_identity)
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    subject = "repo:example/app:ref:refs/heads/main"
    rec["eventName"] = "AssumeRoleWithWebIdentity"
    rec["userIdentity"] = {
        "type": "WebIdentityUser",
        "principalId": f"{provider}:sts.amazonaws.com:{subject}",
        "userName": subject,
        "identityProvider": provider,
    }
    rec["requestParameters"] = {
        k: v
        for k, v in rec["requestParameters"].items()
        if k not in ("sAMLAssertionID", "principalArn")
    }
    rec["requestParameters"]["roleSessionName"] = "GitHubActions"
    return rec


def session_token(*, at: datetime = T0) -> dict[str, Any]:
    """GetSessionToken, aws-vault's default, by an IAM user with MFA."""
    rec = assume_role(at=at)
    rec["eventName"] = "GetSessionToken"
    rec["requestParameters"] = {
        "durationSeconds": 43200,
        "serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/alice",
    }
    rec["responseElements"] = {
        "credentials": {"accessKeyId": "ASIAEXAMPLE", "expiration": "Nov 4, 2025 12:00:00 AM"}
    }
    return rec


def federation_token(*, at: datetime = T0, name: str = "bob") -> dict[str, Any]:
    rec = assume_role(at=at)
    rec["eventName"] = "GetFederationToken"
    rec["requestParameters"] = {"name": name, "durationSeconds": 3600, "policy": "{}"}
    rec["responseElements"] = {
        "credentials": {"accessKeyId": "ASIAEXAMPLE", "expiration": "Nov 3, 2025 1:00:00 PM"},
        "federatedUser": {
            "federatedUserId": f"{ACCOUNT}:{name}",
            "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/{name}",
        },
        "packedPolicySize": 6,
    }
    return rec


def cross_account_pair(
    *, at: datetime = T0, source_identity: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One cross-account AssumeRole as an organisation trail delivers it: twice."""
    caller_copy = assume_role(
        at=at, source_identity=source_identity, role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/audit"
    )
    shared = str(uuid.uuid4())
    caller_copy["sharedEventID"] = shared
    role_copy = dict(caller_copy)
    caller_copy["recipientAccountId"] = ACCOUNT
    role_copy["recipientAccountId"] = OTHER_ACCOUNT
    return caller_copy, role_copy


def revoke(store: Any, source_identity: str, at: datetime) -> None:
    store.revoke(source_identity.rsplit(".", 1)[1], "security", "test", at)


# A child for `exec`: S3 and STS calls, then an S3 call through a role it chains into
# (HOP_ROLE), so a session's activity has direct and chained calls; prints its session id.
ACTIVITY_CHILD = """
import os, boto3
print(os.environ["AWS_SENTINEL_SESSION_ID"])
s3 = boto3.client("s3")
s3.create_bucket(Bucket=os.environ["BUCKET"])
s3.list_buckets()
sts = boto3.client("sts")
sts.get_caller_identity()
hop = sts.assume_role(RoleArn=os.environ["HOP_ROLE"], RoleSessionName="hop")["Credentials"]
boto3.client(
    "s3",
    aws_access_key_id=hop["AccessKeyId"],
    aws_secret_access_key=hop["SecretAccessKey"],
    aws_session_token=hop["SessionToken"],
).list_objects_v2(Bucket=os.environ["BUCKET"])
"""

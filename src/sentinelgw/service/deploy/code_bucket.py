"""The function code in S3: a content-addressed key in a private bucket, uploaded once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sentinelgw.awsclients import error_code, translate
from sentinelgw.awserrors import aws_call
from sentinelgw.service.deploy import spec as s
from sentinelgw.service.deploy.package import LambdaPackage
from sentinelgw.service.deploy.stack_plan import CodeLocation

CODE_PREFIX = "sentinel-tvm/"


def default_bucket(spec: s.DeploySpec) -> str:
    return f"sentinel-tvm-code-{spec.account}-{spec.region}"


def code_key(package: LambdaPackage) -> str:
    """The content-addressed key of the function zip: the same code, the same key."""
    return f"{CODE_PREFIX}{hashlib.sha256(package.data).hexdigest()}.zip"


def fetch_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        got: dict[str, Any] = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None

        raise translate(exc, "s3", "HeadObject", f"s3://{bucket}/{key}") from exc
    return got


def locate_code(s3: Any, bucket: str, key: str) -> tuple[CodeLocation, list[str]]:
    """Whether the code bucket and the zip exist; a problem when the bucket is not ours."""
    try:
        s3.head_bucket(Bucket=bucket)
        bucket_exists = True
    except Exception as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            bucket_exists = False
        elif code in ("403", "AccessDenied", "Forbidden"):
            return CodeLocation(bucket, key, True, False), [
                f"code bucket {bucket} exists but this caller may not use it: "
                "name one it may write with --code-bucket"
            ]
        else:
            raise translate(exc, "s3", "HeadBucket", bucket) from exc
    object_exists = bucket_exists and (fetch_object(s3, bucket, key) is not None)
    return CodeLocation(bucket, key, bucket_exists, object_exists), []


def upload_code(
    s3: Any, region: str, code: CodeLocation, data: bytes, on_step: Callable[[str], None]
) -> None:
    """Create the code bucket if needed and upload the zip if it is not there yet."""
    if not code.bucket_exists:
        extra = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        with aws_call("s3", "CreateBucket", code.bucket):
            s3.create_bucket(Bucket=code.bucket, **extra)
        with aws_call("s3", "PutPublicAccessBlock", code.bucket):
            s3.put_public_access_block(
                Bucket=code.bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        on_step(f"created code bucket {code.bucket}")
    if not code.object_exists:
        with aws_call("s3", "PutObject", f"s3://{code.bucket}/{code.key}"):
            s3.put_object(
                Bucket=code.bucket,
                Key=code.key,
                Body=data,
                ContentType="application/zip",
            )
        on_step(f"uploaded function code s3://{code.bucket}/{code.key}")

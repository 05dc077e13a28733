"""A child for ``sentinel exec --server`` that holds its credentials (the demo's step 6, the
hard revocation benchmark and tests run it as ``python -m sentinelgw.sandbox.held_child``).

It builds ONE boto3 S3 client, so botocore fetches credentials from the server once and keeps
them (the server is started with a lifetime long enough that no refresh happens). It prints
``SESSION <id>``, then:

- ``loop SECONDS [INTERVAL]``: calls ListBuckets every INTERVAL seconds (default 0.05);
  prints ``OK`` after the first success, and
  at the first failure ``DENIED <error code> <time.monotonic()>`` and exits 0; ``TIMEOUT`` and
  exit 3 if no failure came within SECONDS;
- ``ask``: one call per line read from stdin, answering ``OK`` or ``DENIED <error code>``;
- ``chain ROLE_ARN [ROLE_ARN...]``: first assumes each role in turn, each with the previous
  session's credentials (a role chain: every session inherits the SourceIdentity), prints
  ``CHAINED``, then answers like ``ask`` with the last credentials; the line ``rechain`` makes
  the last session assume the last role again instead of calling ListBuckets.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def call(s3: Any) -> str:
    """``OK``, or ``DENIED <error code>`` for the first refused ListBuckets."""
    try:
        s3.list_buckets()
    except Exception as exc:  # the caller reads the code
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return f"DENIED {code}"
    return "OK"


def chained(role_arns: list[str]) -> int:
    import boto3

    def assume(sts: Any, role_arn: str) -> Any:
        c = sts.assume_role(RoleArn=role_arn, RoleSessionName="chained")["Credentials"]
        return boto3.Session(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )

    session: Any = None
    for role_arn in role_arns:
        session = assume(session.client("sts") if session else boto3.client("sts"), role_arn)
    s3, sts = session.client("s3"), session.client("sts")
    print("CHAINED", flush=True)
    for line in sys.stdin:
        if line.strip() == "rechain":
            try:
                assume(sts, role_arns[-1])
            except Exception as exc:  # the caller reads the code
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "?")
                print(f"DENIED {code}", flush=True)
                continue
            print("OK", flush=True)
        else:
            print(call(s3), flush=True)
    return 0


def main(argv: list[str]) -> int:
    import boto3

    s3 = boto3.client("s3")
    print("SESSION", os.environ.get("AWS_SENTINEL_SESSION_ID", "-"), flush=True)
    if argv[0] == "ask":
        for _line in sys.stdin:
            print(call(s3), flush=True)
        return 0
    if argv[0] == "chain":
        return chained(argv[1:])
    deadline = time.monotonic() + float(argv[1])
    interval = float(argv[2]) if len(argv) > 2 else 0.05
    ok = False
    while time.monotonic() < deadline:
        answer = call(s3)
        if answer != "OK":
            print(answer, time.monotonic(), flush=True)
            return 0
        if not ok:
            ok = True
            print("OK", flush=True)
        time.sleep(interval)
    print("TIMEOUT", flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

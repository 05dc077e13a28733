"""A child for ``sentinel exec --server`` that holds its credentials.

It builds ONE boto3 S3 client, so botocore fetches credentials from the server once and keeps
them (the server is started with a lifetime long enough that no refresh happens). It prints
``SESSION <id>``, then:

- ``loop SECONDS``: calls ListBuckets every 50 ms; prints ``OK`` after the first success, and
  at the first failure ``DENIED <error code> <time.monotonic()>`` and exits 0; ``TIMEOUT`` and
  exit 3 if no failure came within SECONDS;
- ``ask``: one call per line read from stdin, answering ``OK`` or ``DENIED <error code>``.
"""

import os
import sys
import time

import boto3

s3 = boto3.client("s3")
print("SESSION", os.environ.get("AWS_SENTINEL_SESSION_ID", "-"), flush=True)


def call() -> str:
    try:
        s3.list_buckets()
    except Exception as exc:  # the test reads the code
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return f"DENIED {code}"
    return "OK"


if sys.argv[1] == "ask":
    for _line in sys.stdin:
        print(call(), flush=True)
else:
    deadline = time.monotonic() + float(sys.argv[2])
    ok = False
    while time.monotonic() < deadline:
        answer = call()
        if answer != "OK":
            print(answer, time.monotonic(), flush=True)
            sys.exit(0)
        if not ok:
            ok = True
            print("OK", flush=True)
        time.sleep(0.05)
    print("TIMEOUT", flush=True)
    sys.exit(3)

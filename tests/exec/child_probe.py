"""A child for ``sentinel exec --server`` tests: one credential fetch per line on stdin.

It prints ``SESSION <id>`` first, then for every input line ``OK <arn>`` or ``DENIED <error>``.
Each fetch uses a fresh botocore session, so it really goes to the credential endpoint.
"""

import os
import sys

import botocore.session

print("SESSION", os.environ.get("AWS_SENTINEL_SESSION_ID", "-"), flush=True)
for _line in sys.stdin:
    try:
        sts = botocore.session.Session().create_client("sts")
        print("OK", sts.get_caller_identity()["Arn"], flush=True)
    except Exception as exc:  # the test reads the message
        print("DENIED", " ".join(str(exc).split()), flush=True)

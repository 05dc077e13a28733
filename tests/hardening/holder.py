"""A child for ``sentinel exec --server`` hardening tests.

It announces its credential endpoint as one JSON line, then for every line on stdin makes one
GET to the endpoint (urllib, no SDK retries) and prints ``{"status": N, "code": C}``. It exits
0 at end of input. It makes no request of its own, so the session's request counter holds only
what the test sent.

With a path argument it writes the announcement (which holds the token) and every response
body (which holds credentials) to that file instead of stdout, so the secret-leak test can
learn them without them passing through anything it greps.
"""

import json
import os
import stat
import sys
import urllib.error
import urllib.request

url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
token_file = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
if token_file:
    with open(token_file, encoding="utf-8") as fh:
        token = fh.read()
    token_mode = stat.S_IMODE(os.stat(token_file).st_mode)
else:
    token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    token_mode = None
capture = sys.argv[1] if len(sys.argv) > 1 else None
hello = {
    "url": url,
    "token": token,
    "session": os.environ.get("AWS_SENTINEL_SESSION_ID"),
    "pid": os.getpid(),
    "token_file_mode": token_mode,
}


def keep(entry: dict) -> None:
    assert capture is not None
    with open(capture, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


if capture:
    keep({"hello": hello})
    print(json.dumps({"session": hello["session"]}), flush=True)
else:
    print(json.dumps(hello), flush=True)

for _line in sys.stdin:
    req = urllib.request.Request(url, headers={"Authorization": token})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 - loopback only
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    if capture:
        keep({"body": doc})
    print(json.dumps({"status": status, "code": doc.get("Code")}), flush=True)

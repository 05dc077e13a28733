"""``sentinel login`` on the sandbox: its emulated federation endpoint returns a sign-in URL,
and the URL opens a page naming the role session; long-term keys and unknown tokens are
refused, as by AWS."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest


def test_login_returns_a_url_that_signs_in_to_the_sandbox(run_sentinel: Any, sandbox) -> None:
    out = run_sentinel(["login", "--profile", "dev"])
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    assert url.startswith(f"{sandbox.endpoint_url}/federation?Action=login&")
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - the sandbox
        page = resp.read().decode()
    assert "assumed-role/sentinel-dev/sentinel.alice." in page


def test_federation_endpoint_refuses_long_term_keys_and_unknown_tokens(sandbox) -> None:
    import configparser

    parser = configparser.RawConfigParser()
    parser.read(sandbox.credentials_file)
    keys = parser["sentinel-source"]
    session = json.dumps(
        {
            "sessionId": keys["aws_access_key_id"],
            "sessionKey": keys["aws_secret_access_key"],
            "sessionToken": "",
        }
    )
    base = f"{sandbox.endpoint_url}/federation?"
    for query in (
        {"Action": "getSigninToken", "Session": session},
        {"Action": "login", "SigninToken": "forged"},
        {"Action": "getSigninToken", "Session": "<xml/>"},
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + urllib.parse.urlencode(query), timeout=30)  # noqa: S310
        assert err.value.code == 400

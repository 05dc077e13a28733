"""A service that answers with a page instead of an AWS error (a proxy's 500 HTML, XML sent to
a JSON service) gives one line naming the call and the status: the body never reaches the
terminal (``--debug`` shows it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faults import canned_http
from hardeninghelpers import PY, one_error_line

HTML_500 = "<!doctype html><html><head><title>500 Internal Server Error</title></head></html>"
XML_403 = (
    '<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Code>AccessDenied</Code>'
    "<Message>not authorized</Message></Error></ErrorResponse>"
)
RAW = ("<?xml", "<!doctype", "<html")


@pytest.mark.parametrize(
    "args",
    [
        ["exec", "--local", "--profile", "sso-admin", "--"],
        ["credentials", "--profile", "sso-admin"],
    ],
    ids=["exec-local", "credentials"],
)
def test_sso_portal_500_html_is_one_line_without_the_page(
    run_sentinel: Any, sandbox_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    marker = tmp_path / "ran"
    cmd = [*args, PY, "-c", f"open({str(marker)!r}, 'w')"] if args[0] == "exec" else args
    with canned_http(500, HTML_500) as (url, seen):
        out = run_sentinel(
            [*cmd, "--no-cache"] if args[0] == "credentials" else cmd,
            env={**sandbox_env, "AWS_ENDPOINT_URL_SSO": url},
        )
    assert seen, "the portal was not called"
    assert out.returncode == 2 and out.stdout == "" and not marker.exists()
    line = one_error_line(out.stderr)
    assert line == (
        "sentinel: error: sso:GetRoleCredentials on 123456789012/SandboxAdmin failed: the "
        "endpoint answered HTTP 500. Try again later; --debug shows its answer"
    )


def test_xml_403_from_the_table_endpoint_is_access_denied_and_debug_shows_the_body(
    run_sentinel: Any, sandbox_env: dict[str, str]
) -> None:
    with canned_http(403, XML_403, "text/xml") as (url, _):
        env = {**sandbox_env, "AWS_ENDPOINT_URL_DYNAMODB": url}
        out = run_sentinel(["server-sessions"], env=env)
        debug = run_sentinel(["--debug", "server-sessions"], env=env)
    assert out.returncode == 2
    line = one_error_line(out.stderr)
    assert "dynamodb:Query on session table" in line and "was denied (AccessDenied)" in line
    assert "--aws-profile" not in line  # this sandbox's config sets no security_profile
    assert not any(m in out.stderr.lower() for m in RAW)
    assert "sentinel: debug: AWS answered: <?xml" in debug.stderr

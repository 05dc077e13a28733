"""A console sign-in URL for temporary credentials, through the AWS federation endpoint.

The endpoint turns temporary credentials into a sign-in token (``Action=getSigninToken``);
the login URL (``Action=login``) carries that token to the console. The token is valid for
15 minutes and signs its holder in as the credentials' identity, so the URL is shown only to
the person who asked for it and never written to a log. Long-term keys cannot be turned into
a token; the endpoint needs a session token.

``SENTINEL_FEDERATION_ENDPOINT`` replaces the public endpoint (another partition, or a test).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from sentinelgw.credentials.model import AwsCredentials
from sentinelgw.errors import AWSError, CredentialError

FEDERATION_ENDPOINT = "https://signin.aws.amazon.com/federation"
ENDPOINT_VARIABLE = "SENTINEL_FEDERATION_ENDPOINT"
ISSUER = "sentinel"
TIMEOUT_SECONDS = 10.0


def federation_endpoint(env: Mapping[str, str]) -> str:
    return env.get(ENDPOINT_VARIABLE) or FEDERATION_ENDPOINT


def console_destination(region: str | None) -> str:
    base = "https://console.aws.amazon.com/console/home"
    return f"{base}?region={urllib.parse.quote(region)}" if region else base


def signin_token(creds: AwsCredentials, endpoint: str, timeout: float = TIMEOUT_SECONDS) -> str:
    """Exchange temporary credentials for a sign-in token at ``endpoint``."""
    if not creds.session_token:
        raise CredentialError(
            "a console sign-in needs temporary credentials, and this profile has long-term keys",
            hint="Use a role or SSO profile with sentinel login",
        )
    session = json.dumps(
        {
            "sessionId": creds.access_key_id,
            "sessionKey": creds.secret_access_key,
            "sessionToken": creds.session_token,
        }
    )
    query = urllib.parse.urlencode({"Action": "getSigninToken", "Session": session})
    try:
        with urllib.request.urlopen(f"{endpoint}?{query}", timeout=timeout) as resp:  # noqa: S310
            body = resp.read(65536)
    except urllib.error.HTTPError as exc:
        raise AWSError(
            f"the federation endpoint refused the sign-in token request (HTTP {exc.code})",
            hint="Check that the role allows console sign-in and the credentials are valid",
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AWSError(
            f"cannot reach the federation endpoint {_host(endpoint)} ({reason})",
            hint=f"Check the network, or {ENDPOINT_VARIABLE}",
        ) from None
    try:
        token = json.loads(body)["SigninToken"]
    except (ValueError, KeyError, TypeError):
        raise AWSError("the federation endpoint answered without a SigninToken") from None
    if not isinstance(token, str) or not token:
        raise AWSError("the federation endpoint answered with an empty SigninToken")
    return token


def login_url(token: str, endpoint: str, destination: str) -> str:
    query = urllib.parse.urlencode(
        {"Action": "login", "Issuer": ISSUER, "Destination": destination, "SigninToken": token}
    )
    return f"{endpoint}?{query}"


def _host(endpoint: str) -> str:
    return urllib.parse.urlsplit(endpoint).netloc or endpoint

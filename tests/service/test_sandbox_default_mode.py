"""The default (enforced) sandbox: ``sentinel login`` through the credential service returns
a sign-in URL, and the Identity Center profiles, which that mode cannot serve, are absent."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import sentinel_command


def test_login_through_the_service_returns_a_url(alice_env: dict[str, str]) -> None:
    out = subprocess.run(
        [*sentinel_command(), "login", "--profile", "dev"],
        env=alice_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(alice_env["SENTINEL_FEDERATION_ENDPOINT"] + "?Action=login&")


def test_default_mode_has_no_identity_center_profiles(alice_env: dict[str, str]) -> None:
    config = Path(alice_env["AWS_CONFIG_FILE"]).read_text()
    assert "sso-admin" not in config and "prod-sso" not in config
    assert "[profile dev]" in config

"""What a fresh sandbox contains: IAM user and roles in moto, and the files under its root.

Everything is written inside the sandbox root, never in ``~/.aws`` or ``~/.sentinel``. Files
holding secrets (the credentials file, the SSO token cache) are created 0600.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinelgw.errors import SandboxError
from sentinelgw.fsutil import atomic_write, private_dir
from sentinelgw.sandbox.sso import PERMISSION_SET, ROLE_NAME, SESSION_NAME

SOURCE_PROFILE = "sentinel-source"
SOURCE_USER = "alice"
ROLE_NAMES = {"dev": "sentinel-dev", "prod": "sentinel-prod"}
SSO_ROLE_PATH_TEMPLATE = "/aws-reserved/sso.amazonaws.com/{region}/"


@dataclass(frozen=True)
class SourceUser:
    """The IAM user behind ``sentinel-source``; the secret stays in the credentials file."""

    user_name: str
    user_id: str
    arn: str
    access_key_id: str


def trust_policy(account_id: str) -> str:
    """Trust policy: the account's principals may assume the role (``sts:AssumeRole`` and
    ``sts:SetSourceIdentity``) only with a SourceIdentity that starts with ``sentinel``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    "Condition": {"StringLike": {"sts:SourceIdentity": "sentinel*"}},
                }
            ],
        }
    )


def provision_iam(
    iam: Any, account_id: str, region: str
) -> tuple[SourceUser, str, dict[str, str], str]:
    """Create alice, her key, the dev/prod roles and the SSO role.

    Returns (user, secret access key, role ARNs by profile, SSO role ARN).
    """
    user = iam.create_user(UserName=SOURCE_USER)["User"]
    key = iam.create_access_key(UserName=SOURCE_USER)["AccessKey"]
    admin = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    )
    arns: dict[str, str] = {}
    for profile, name in ROLE_NAMES.items():
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=trust_policy(account_id),
            Description=f"Sentinel sandbox role for profile {profile}",
            MaxSessionDuration=43200,
        )["Role"]
        iam.put_role_policy(RoleName=name, PolicyName="sandbox-admin", PolicyDocument=admin)
        arns[profile] = str(role["Arn"])
    sso_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "Federated": f"arn:aws:iam::{account_id}:saml-provider/"
                        "AWSSSO_sandbox_DO_NOT_DELETE"
                    },
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                }
            ],
        }
    )
    sso_role = iam.create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=sso_trust,
        Path=SSO_ROLE_PATH_TEMPLATE.format(region=region),
    )["Role"]
    src = SourceUser(
        user_name=SOURCE_USER,
        user_id=str(user["UserId"]),
        arn=str(user["Arn"]),
        access_key_id=str(key["AccessKeyId"]),
    )
    return src, str(key["SecretAccessKey"]), arns, str(sso_role["Arn"])


def aws_config_text(
    *,
    region: str,
    account_id: str,
    role_arns: dict[str, str],
    start_url: str,
    sso: bool = True,
) -> str:
    """The sandbox's AWS config; ``sso=False`` (the enforced sandbox, where moto checks the
    portal's own STS calls too) leaves out the IAM Identity Center profiles."""
    lines = [
        "# Sentinel sandbox AWS config: NOT FOR PRODUCTION (all accounts are emulated)",
        "[default]",
        f"region = {region}",
        "",
        f"[profile {SOURCE_PROFILE}]",
        f"region = {region}",
        "",
        "[profile dev]",
        f"role_arn = {role_arns['dev']}",
        f"source_profile = {SOURCE_PROFILE}",
        f"region = {region}",
        "",
        "[profile prod]",
        f"role_arn = {role_arns['prod']}",
        f"source_profile = {SOURCE_PROFILE}",
        f"region = {region}",
        "",
    ]
    if sso:
        lines += [
            "# role_arn with no source: for "
            "'sentinel --aws-profile sso-admin ... --profile prod-sso'",
            "[profile prod-sso]",
            f"role_arn = {role_arns['prod']}",
            f"region = {region}",
            "",
            "[profile sso-admin]",
            f"sso_session = {SESSION_NAME}",
            f"sso_account_id = {account_id}",
            f"sso_role_name = {PERMISSION_SET}",
            f"region = {region}",
            "",
            f"[sso-session {SESSION_NAME}]",
            f"sso_start_url = {start_url}",
            f"sso_region = {region}",
            "sso_registration_scopes = sso:account:access",
            "",
        ]
    return "\n".join(lines)


def credentials_text(access_key_id: str, secret: str) -> str:
    # [default] holds the same keys so that Sentinel's own calls (server-sessions, audit) and
    # a plain 'aws ...' work after eval "$(sentinel dev)" with no --aws-profile.
    keys = f"aws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n"
    return f"[{SOURCE_PROFILE}]\n{keys}\n[default]\n{keys}"


def sentinel_config_text(
    *, table: str, region: str, sso_cache_dir: Path, security_profile: str | None = None
) -> str:
    # Strings are written as JSON scalars, which are valid YAML whatever the path contains.
    q = json.dumps
    # The enforced sandbox's security team: access-denied messages name its profile.
    security = [f"  security_profile: {q(security_profile)}"] if security_profile else []
    return "\n".join(
        [
            "# Sentinel sandbox config: NOT FOR PRODUCTION",
            "defaults:",
            f"  session_table: {q(table)}",
            f"  region: {q(region)}",
            f"  sso_cache_dir: {q(str(sso_cache_dir))}",
            *security,
            "policies:",
            "  - name: prod-tracked",
            "    match:",
            "      profile: [prod, prod-*]",
            "    effect: require_server_session",
            "    reason: Production needs tracked, revocable sessions",
            "  - name: dev-open",
            "    match:",
            "      profile: dev",
            "    effect: allow",
            "    reason: Development is open",
            "  - name: sso-admin",
            "    match:",
            "      profile: sso-admin",
            "    effect: allow",
            "    reason: The sandbox SSO administrator",
            "",
        ]
    )


def write_file(path: Path, text: str, *, private: bool = False) -> None:
    private_dir(path.parent)
    atomic_write(path, text, mode=0o600 if private else 0o644)


def refuse_home_dirs(root: Path) -> None:
    """The sandbox must never write into the user's real AWS or Sentinel folders."""
    home = Path.home().resolve()
    for protected in (home / ".aws", home / ".sentinel"):
        if root == protected or protected in root.parents:
            raise SandboxError(
                f"refusing to create a sandbox inside {protected}",
                hint="Choose another folder with --dir",
            )


def check_port(port: int, busy: SandboxError) -> None:
    """Raise ``busy`` if 127.0.0.1:``port`` cannot be bound (werkzeug would print and exit)."""
    import socket

    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise busy from None

"""Break-glass MFA in the sandbox: alice's virtual MFA device, the MFA role, and what STS checks.

moto keeps virtual MFA devices (``CreateVirtualMFADevice``, ``EnableMFADevice``) but never checks
a code, and when it evaluates a trust policy it matches principals literally and skips the
``Bool`` condition and policy variables. So the sandbox front does, for ``sts:AssumeRole`` of a
role whose trust policy names ``aws:MultiFactorAuthPresent`` (:func:`assume_refusal`), what STS
does: ``SerialNumber`` must be an MFA device enabled for the calling IAM user and ``TokenCode``
its current TOTP code (one 30-second step either side), and where the trust policy pins
``sts:RoleSessionName`` to ``${aws:username}`` the session name must be the user's name;
anything else is ``AccessDenied`` (403, STS's XML). MFA sessions from ``GetSessionToken`` are
not tracked: in the sandbox only a code passed to ``AssumeRole`` counts as MFA.

The device's seed is written to ``mfa/alice.seed`` under the sandbox root (0600), so tests and
``sentinel demo`` can make codes (:func:`current_code`); it is a test value, as every sandbox
key is.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

import pyotp

from sentinelgw.fsutil import atomic_write, private_dir
from sentinelgw.sandbox.recorder import Identity

MFA_ROLE = "sentinel-breakglass-mfa"
DEVICE_NAME = "alice"
SEED_FILE = Path("mfa") / "alice.seed"
IDENTITY_POLICY = "sandbox-identity"
_MFA_KEY, _SESSION_KEY = "aws:multifactorauthpresent", "sts:rolesessionname"


def mfa_role_trust(account: str, principals: list[str]) -> dict[str, Any]:
    """The MFA role's trust policy, as the docs give it. moto matches principals literally
    (the account's root does not stand for its users there), so the sandbox lists them too."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SentinelBreakGlassMfa",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{account}:root", *principals]},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "Bool": {"aws:MultiFactorAuthPresent": "true"},
                    "StringEquals": {"sts:RoleSessionName": "${aws:username}"},
                },
            }
        ],
    }


def provision_mfa(iam: Any, root: Path, account: str, user: str, user_arn: str) -> tuple[str, str]:
    """Alice's virtual MFA device (enabled, its seed in ``root``/mfa) and the MFA role.

    Returns (MFA role ARN, device serial). The role has no permissions but
    ``sts:GetCallerIdentity``, which AWS needs none for and moto asks one for.
    """
    from moto.iam.models import iam_backends

    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=DEVICE_NAME)["VirtualMFADevice"]
    # The seed as moto keeps it (the sandbox runs moto in this process).
    seed = str(
        iam_backends[account]["aws"].virtual_mfa_devices[device["SerialNumber"]].base32_string_seed
    )
    totp = pyotp.TOTP(seed)
    now = time.time()
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1=totp.at(now - 30),
        AuthenticationCode2=totp.at(now),
    )
    path = root / SEED_FILE
    private_dir(path.parent)
    atomic_write(path, seed + "\n", mode=0o600)
    role_arn = create_mfa_role(iam, account, user_arn)
    return role_arn, str(device["SerialNumber"])


def create_mfa_role(
    iam: Any, account: str, user_arn: str, *, path: str = "/", trust: dict[str, Any] | None = None
) -> str:
    """The MFA role (``trust``: another trust policy than the docs' one, for tests)."""
    role = iam.create_role(
        RoleName=MFA_ROLE,
        Path=path,
        AssumeRolePolicyDocument=json.dumps(trust or mfa_role_trust(account, [user_arn])),
        Description="Sentinel sandbox break-glass MFA role: its sessions show MFA",
        MaxSessionDuration=3600,
    )["Role"]
    identity = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName=MFA_ROLE, PolicyName=IDENTITY_POLICY, PolicyDocument=json.dumps(identity)
    )
    return str(role["Arn"])


def current_code(root: Path, at: float | None = None) -> str:
    """The TOTP code of alice's sandbox MFA device now (or at ``at``)."""
    seed = (root / SEED_FILE).read_text(encoding="utf-8").strip()
    return str(pyotp.TOTP(seed).at(time.time() if at is None else at))


def assume_refusal(form: dict[str, str], who: Callable[[], Identity], account: str) -> str | None:
    """Why STS refuses this AssumeRole on a role whose trust requires MFA (None: it does not
    refuse here; moto decides the rest). ``who`` names the caller, asked only for such a role."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    try:
        role = backend.get_role_by_arn(form.get("RoleArn", ""))
    except Exception:  # no such role: moto answers as it does
        return None
    conditions = _conditions(role.assume_role_policy_document)
    if not any(_MFA_KEY in keys for keys in conditions):
        return None
    caller = who()
    user = caller.user_name if caller.type == "IAMUser" else None
    if not user:
        return "only an IAM user can show MFA here"
    device = backend.virtual_mfa_devices.get(form.get("SerialNumber", ""))
    try:
        enabled = form.get("SerialNumber", "") in backend.get_user(user).mfa_devices
    except Exception:
        enabled = False
    if device is None or not enabled:
        return "no MFA device of the caller's was given"
    code = form.get("TokenCode", "")
    if not pyotp.TOTP(device.base32_string_seed).verify(code, valid_window=1):
        return "the MFA code is not valid"
    pinned = any(keys.get(_SESSION_KEY) == "${aws:username}" for keys in conditions)
    if pinned and form.get("RoleSessionName") != user:
        return "the session name is not the user's name"
    return None


def _conditions(document: Any) -> list[dict[str, Any]]:
    """Per Allow statement, its condition keys (lower case) and their (first) values."""
    if isinstance(document, str):
        try:
            document = json.loads(unquote(document) if document.startswith("%") else document)
        except ValueError:
            return []
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    out = []
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        keys: dict[str, Any] = {}
        for block in (st.get("Condition") or {}).values():
            for key, value in block.items() if isinstance(block, dict) else ():
                keys[str(key).lower()] = value[0] if isinstance(value, list) and value else value
        out.append(keys)
    return out


def access_denied(caller: Identity, role_arn: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """STS's AccessDenied answer for an AssumeRole it refuses (status, headers, XML body)."""
    who = caller.arn or "anonymous"
    message = f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    headers = [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    return "403 Forbidden", headers, body

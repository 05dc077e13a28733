"""Break-glass through the credential service: ``sentinel breakglass``, ``breakglass-list``,
``breakglass-show`` and ``breakglass-close``.

None of them needs access to the session table: each call carries a proof of the caller's
identity, and the service decides (its document's ``breakglass:``). Where it requires MFA, its
refusal (``MfaRequired``) names the document's MFA role: ``sentinel breakglass`` then assumes
that role as the user (session name = IAM user name, ``--mfa-token`` passed as ``TokenCode``)
and sends an MFA proof signed with that session; the service verifies it
(:mod:`sentinelgw.service.mfa_role`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from sentinelgw.awsclients import error_code, translate
from sentinelgw.cli.common import App, common_options, format_option, pass_app
from sentinelgw.cli.listing import Listing, show_listing
from sentinelgw.cli.self_cmd import _client, _remote_option
from sentinelgw.cli.tables import Column
from sentinelgw.errors import PolicyDenied, UsageError
from sentinelgw.inert import visible
from sentinelgw.service.breakglass_rules import ROLE_ARN
from sentinelgw.service.client import ServiceClient, ServiceRefused, ServiceUnavailable
from sentinelgw.sessions.model import is_session_id
from sentinelgw.timeutil import parse_duration

REASON_CODES = ("incident", "maintenance", "security", "recovery", "other")
STATUSES = ("active", "closed", "expired")
MIN_JUSTIFICATION, MAX_JUSTIFICATION = 20, 1000
MAX_HOURS = 4
_IAM_USER = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:user/(?:[^/]+/)*([\w+=,.@-]+)$")
CSV_FIELDS = (
    "id",
    "user",
    "profile",
    "status",
    "reason_code",
    "duration_seconds",
    "opened_at",
    "ends_at",
    "mfa",
    "justification",
    "sessions",
    "closed_by",
    "end_reason",
)


GRANTS = Listing(
    key="grants",
    noun="break-glass grants for",
    columns=(
        Column("id", key=True),
        Column("user", key=True),
        Column("profile", key=True),
        Column("status", key=True),
        Column("reason_code", "reason", key=True),
        Column("ends_at", "until"),
        Column("justification"),
        Column("sessions"),
    ),
    csv_fields=CSV_FIELDS,
    prepare=lambda r: {**r, "sessions": " ".join(map(str, r.get("sessions") or []))},
)


def _check_id(grant_id: str) -> None:
    if not is_session_id(grant_id):
        raise UsageError(
            f"invalid break-glass id {visible(grant_id)!r} (BadBreakGlassId)",
            hint="Ids are 16 hex characters; list them with: sentinel breakglass-list",
        )


def _summary(row: dict[str, Any]) -> str:
    text = (
        f"break-glass {visible(row.get('id'))} on profile {visible(row.get('profile'))}: "
        f"{visible(row.get('status'))}"
    )
    if row.get("status") == "active" and row.get("ends_at"):
        text += f" until {visible(row.get('ends_at'))}"
    elif row.get("end_reason"):
        text += f" ({visible(row.get('end_reason'))})"
    return text


def _open(
    client: ServiceClient,
    app: App,
    args: tuple[str, str, str, int | None],
    code: str | None,
    serial: str | None,
) -> dict[str, Any]:
    """Open the grant; where the service requires MFA, once more with an MFA proof."""
    try:
        return dict(client.open_breakglass(*args))
    except ServiceRefused as exc:
        role = exc.fields.get("mfa_role")
        if exc.code != "MfaRequired" or not role:
            raise
    if not ROLE_ARN.match(role):
        raise ServiceUnavailable("the Sentinel service named an MFA role that is not a role ARN")
    creds = _mfa_credentials(app, client.region, role, args[0], code, serial)
    return dict(client.open_breakglass(*args, mfa_credentials=creds))


def _mfa_credentials(
    app: App, region: str, role: str, profile: str, code: str | None, serial: str | None
) -> Any:
    """A 15-minute session of the MFA role, named after the caller's IAM user, made with the
    MFA code (without one: only credentials that already carry MFA can make it)."""
    from botocore.credentials import ReadOnlyCredentials

    session = app.aws_session(region)
    sts = session.client("sts", region_name=region)
    try:
        arn = str(sts.get_caller_identity()["Arn"])
    except Exception as exc:
        raise translate(exc, "sts", "GetCallerIdentity") from None
    m = _IAM_USER.match(arn)
    if m is None:
        raise PolicyDenied(
            f"break-glass on {profile} requires MFA, shown with an IAM user: call with your IAM "
            "user's credentials and --mfa-token CODE (MfaRequired)"
        )
    ask: dict[str, Any] = {"RoleArn": role, "RoleSessionName": m.group(1), "DurationSeconds": 900}
    if code:
        ask.update(SerialNumber=serial or _mfa_serial(session, m.group(1)), TokenCode=code)
    try:
        got = sts.assume_role(**ask)
    except Exception as exc:
        if error_code(exc) != "AccessDenied":
            raise translate(exc, "sts", "AssumeRole") from None
        if not code:
            raise PolicyDenied(
                f"break-glass on {profile} requires MFA: pass --mfa-token CODE (MfaRequired)"
            ) from None
        raise PolicyDenied(
            f"AWS refused the MFA code for break-glass on {profile} (AccessDenied on "
            f"sts:AssumeRole of {role}): check the code and --mfa-serial, then try again "
            "(MfaRequired)"
        ) from None
    c = got["Credentials"]
    return ReadOnlyCredentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def _mfa_serial(session: Any, user: str) -> str:
    """The profile's ``mfa_serial``, else the caller's only MFA device (iam:ListMFADevices)."""

    configured = session._session.get_scoped_config().get("mfa_serial")
    if configured:
        return str(configured)
    try:
        devices = session.client("iam").list_mfa_devices(UserName=user).get("MFADevices") or []
    except Exception as exc:
        raise translate(exc, "iam", "ListMFADevices") from None
    if len(devices) != 1:
        raise UsageError(
            f"you have {len(devices)} MFA devices, so Sentinel cannot pick one",
            hint="Pass --mfa-serial ARN, or set mfa_serial in your AWS profile",
        )
    return str(devices[0]["SerialNumber"])


@click.command("breakglass")
@click.option("--profile", required=True, help="The profile to open emergency access to.")
@click.option(
    "--reason-code", required=True, type=click.Choice(REASON_CODES), help="Why, in a word."
)
@click.option("--justification", required=True, help="What is on fire (20 to 1000 characters).")
@click.option("--duration", default=None, help="How long (e.g. 1h; at most 4h, or the policy's).")
@click.option("--mfa-token", default=None, metavar="CODE", help="Your MFA device's code.")
@click.option("--mfa-serial", default=None, metavar="ARN", help="The MFA device (if several).")
@format_option("human", "json")
@_remote_option
@common_options
@pass_app
def breakglass(
    app: App,
    profile: str,
    reason_code: str,
    justification: str,
    duration: str | None,
    mfa_token: str | None,
    mfa_serial: str | None,
    fmt: str,
    remote: str | None,
) -> int:
    """Open emergency access to a profile without approval (loud: everyone is told)."""

    if not MIN_JUSTIFICATION <= len(justification.strip()) <= MAX_JUSTIFICATION:
        raise UsageError(
            f"the justification must be {MIN_JUSTIFICATION} to {MAX_JUSTIFICATION} characters "
            "(BadJustification)",
            hint='Say what is broken, e.g. --justification "INC-1234: checkout is down"',
        )
    seconds = None
    if duration is not None:
        seconds = int(parse_duration(duration, what="--duration").total_seconds())
        if not 0 < seconds <= MAX_HOURS * 3600:
            raise UsageError(f"--duration is at most {MAX_HOURS}h for break-glass (BadDuration)")
    if mfa_token is not None and not (mfa_token.isdigit() and len(mfa_token) == 6):
        raise UsageError("--mfa-token takes the 6-digit code of your MFA device (BadMfaToken)")
    args = (profile, reason_code, justification, seconds)
    answer = _open(_client(app, remote), app, args, mfa_token, mfa_serial)
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2))
        return 0

    click.echo(_summary(answer))
    click.echo(f"run: sentinel exec --profile {visible(answer.get('profile'))} -- ...")
    click.echo(visible(answer.get("id")))
    return 0


@click.command("breakglass-list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@format_option("human", "json", "csv")
@_remote_option
@common_options
@pass_app
def breakglass_list(app: App, status: str | None, fmt: str, remote: str | None) -> int:
    """List your break-glass grants (every grant, for the service's admins)."""
    show_listing(_client(app, remote).breakglass_grants(status), GRANTS, fmt)
    return 0


@click.command("breakglass-show")
@click.argument("grant_id", metavar="ID")
@format_option("human", "json")
@_remote_option
@common_options
@pass_app
def breakglass_show(app: App, grant_id: str, fmt: str, remote: str | None) -> int:
    """Show one break-glass grant (yours, or any for the service's admins)."""

    _check_id(grant_id)
    row = _client(app, remote).breakglass_grant(grant_id)
    if fmt == "json":
        click.echo(json.dumps(row, indent=2))
        return 0
    fields = [f for f in CSV_FIELDS if f != "sessions"] + ["sessions"]
    width = max(len(f) for f in fields)
    for name in fields:
        value = row.get(name)
        if isinstance(value, list):
            value = " ".join(map(str, value))
        click.echo(f"{name:<{width}}  {'-' if value in (None, '') else visible(value)}")
    return 0


@click.command("breakglass-close")
@click.argument("grant_id", metavar="ID")
@click.option("--reason", required=True, help="Why it is closed (recorded and announced).")
@_remote_option
@common_options
@pass_app
def breakglass_close(app: App, grant_id: str, reason: str, remote: str | None) -> int:
    """Close a break-glass grant: its sessions are revoked (yours, or any for admins)."""

    _check_id(grant_id)
    if not reason.strip() or len(reason) > 500:
        raise UsageError("--reason is 1 to 500 characters (BadReason)")
    answer = _client(app, remote).close_breakglass(grant_id, reason)
    click.echo(_summary(answer))
    return 0

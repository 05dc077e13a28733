"""Verified MFA for break-glass: the document's ``mfa_role`` and the MFA proof signed with it.

``sts:GetCallerIdentity`` does not say whether a caller used MFA, and AWS has no call that lets
a third party ask. IAM does evaluate ``aws:MultiFactorAuthPresent`` when it decides an
``sts:AssumeRole``. So MFA is shown with a role (the document's ``breakglass: mfa_role``) whose
trust policy, in every statement that allows ``sts:AssumeRole`` (or ``AssumeRoleWithSAML`` or
``AssumeRoleWithWebIdentity``, whose sessions look the same):

- requires ``Bool: {aws:MultiFactorAuthPresent: "true"}``, so only a caller with MFA (a code
  passed to AssumeRole, or an MFA session) gets a session of it, and
- requires ``StringEquals: {sts:RoleSessionName: "${aws:username}"}``, so the session is named
  after the IAM user who made it and nobody else's name;
- trusts principals of its own account only (no ``*``, no Federated or Service principal).

The client sends, next to its usual proof (signed with the user's own credentials, which says
who is calling), an **MFA proof** signed with a session of that role. The service verifies it
with STS like any proof, then requires: the signer is ``assumed-role/<mfa role>/<session>`` in
the caller's account, the session name is the caller's IAM user name, the role (read with
``iam:GetRole``: :class:`MfaRoleTrust`) is exactly the document's ARN (path and account
included) with the RoleId in the proof's ``UserId``, and its trust policy has the conditions
above. The service never takes the client's word for the role or its trust. A role it cannot
read refuses the request (fail closed).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import unquote

from sentinelgw.awsclients import error_code
from sentinelgw.inert import visible
from sentinelgw.service.breakglass_rules import BreakGlassPolicy
from sentinelgw.service.caller import IAM_USER, Caller
from sentinelgw.service.proof import VerifiedCaller
from sentinelgw.service.refusal import Refusal

_ASSUMED = re.compile(
    r"^arn:aws[a-z-]*:sts::(?P<acct>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)"
    r"/(?P<session>[\w+=,.@-]+)$"
)
_ACCOUNT_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::(?P<acct>\d{12}):(?:root|user/.+|role/.+)$")
MFA_KEY, SESSION_KEY = "aws:multifactorauthpresent", "sts:rolesessionname"
USERNAME = "${aws:username}"
# Every call that makes a session of the role (its ARN then reads assumed-role/<role>/<name>).
_ASSUME = ("sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity")


@dataclass(frozen=True, slots=True)
class RoleTrust:
    """What IAM says of the MFA role: its ARN and RoleId, and what is wrong with its trust
    policy (None: its sessions show MFA)."""

    arn: str
    role_id: str
    problem: str | None


# role ARN -> RoleTrust; raises Refusal when the role cannot be read
MfaRoleCheck = Callable[[str], RoleTrust]


class MfaRoleTrust:
    """Reads the MFA role with ``iam:GetRole``, each answer kept ``ttl`` seconds (so an edited
    trust policy counts within ``ttl``). Any failure to read it refuses (503), never passes."""

    def __init__(
        self, iam: Any, *, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.iam = iam
        self.ttl = ttl
        self._clock = clock
        self._known: dict[str, tuple[RoleTrust, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, role_arn: str) -> RoleTrust:
        now = self._clock()
        with self._lock:
            known = self._known.get(role_arn)
        if known is not None and now - known[1] < self.ttl:
            return known[0]
        name = role_arn.rsplit("/", 1)[-1]
        try:
            role = self.iam.get_role(RoleName=name)["Role"]
        except Exception as exc:
            code = error_code(exc) or type(exc).__name__
            raise Refusal(
                503,
                "MfaRoleUnavailable",
                f"the service could not read the MFA role {role_arn} with iam:GetRole ({code}), "
                "so it cannot verify MFA and refuses; its operators must check the role and the "
                "service's iam:GetRole permission on it",
            ) from None
        account = role_arn.split(":")[4]
        found = RoleTrust(
            arn=str(role.get("Arn") or ""),
            role_id=str(role.get("RoleId") or ""),
            problem=trust_problem(role.get("AssumeRolePolicyDocument"), account),
        )
        with self._lock:
            self._known[role_arn] = (found, now)
        return found


def trust_problem(document: Any, account: str) -> str | None:
    """Why a trust policy does not make its sessions proof of MFA for the session's user, or
    None when every statement allowing ``sts:AssumeRole`` requires both conditions and trusts
    only principals of ``account``."""
    if isinstance(document, str):
        try:
            document = json.loads(unquote(document))
        except ValueError:
            return "its trust policy is not JSON"
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return "its trust policy has no statements"
    granting = 0
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if "NotAction" in st or "NotPrincipal" in st:
            return "an Allow statement of its trust policy uses NotAction or NotPrincipal"
        actions = [str(a).lower() for a in _list(st.get("Action"))]
        if not any(fnmatchcase(x, a) for x in _ASSUME for a in actions):
            continue
        granting += 1
        problem = _principal_problem(st.get("Principal"), account) or _condition_problem(st)
        if problem:
            return problem
    return None if granting else "its trust policy allows sts:AssumeRole to nobody"


def _principal_problem(principal: Any, account: str) -> str | None:
    if not isinstance(principal, dict) or set(principal) != {"AWS"}:
        return "its trust policy trusts a principal other than IAM users and roles (* or a service)"
    for value in _list(principal["AWS"]):
        m = _ACCOUNT_PRINCIPAL.match(str(value))
        if str(value) != account and (m is None or m.group("acct") != account):
            return f"its trust policy trusts {visible(str(value))[:120]!r}, not of its account"
    return None


def _condition_problem(st: dict[str, Any]) -> str | None:
    condition = st.get("Condition")
    condition = condition if isinstance(condition, dict) else {}
    mfa = _values(condition.get("Bool"), MFA_KEY)
    if [str(v).lower() for v in mfa] != ["true"]:
        return 'a statement allowing sts:AssumeRole lacks Bool aws:MultiFactorAuthPresent "true"'
    if _values(condition.get("StringEquals"), SESSION_KEY) != [USERNAME]:
        return (
            "a statement allowing sts:AssumeRole lacks StringEquals sts:RoleSessionName "
            '"${aws:username}"'
        )
    return None


def _values(block: Any, key: str) -> list[Any]:
    """The values of condition ``key`` (case-insensitive, as IAM's keys) in an operator block."""
    if not isinstance(block, dict):
        return []
    found = [v for k, v in block.items() if str(k).lower() == key]
    return _list(found[0]) if len(found) == 1 else []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else ([] if value is None else [value])


def mfa_met(
    policy: BreakGlassPolicy,
    caller: Caller,
    evidence: VerifiedCaller | None,
    check: MfaRoleCheck | None,
) -> str | None:
    """How the caller met the document's MFA requirement (recorded on the grant), or None
    where none is required; raises :class:`Refusal` where it is not met."""
    role_arn = policy.mfa_role
    if not policy.require_mfa:
        return None
    if role_arn is None or check is None:
        raise Refusal(
            503,
            "MfaRoleUnavailable",
            "break-glass here requires MFA but the service has no MFA role it can read; its "
            "operators must set breakglass: mfa_role",
        )
    name, account = role_arn.rsplit("/", 1)[-1], role_arn.split(":")[4]
    fields = {"mfa_role": role_arn}
    if caller.kind != IAM_USER:
        raise Refusal(
            403,
            "MfaRequired",
            "break-glass here requires MFA, which the service verifies for IAM users (a session "
            f"of {role_arn} named after the user); call with your own IAM user",
        )
    if evidence is None:
        raise Refusal(
            403,
            "MfaRequired",
            f"break-glass here requires MFA: send an MFA proof signed with a session of "
            f"{role_arn} (sentinel breakglass --mfa-token CODE does)",
            fields=fields,
        )
    m = _ASSUMED.match(evidence.arn)
    if m is None or m.group("role") != name or m.group("acct") != account:
        raise Refusal(
            403,
            "MfaRequired",
            f"the MFA proof must be signed with a session of {role_arn}; run sentinel "
            "breakglass with --mfa-token CODE",
            fields=fields,
        )
    if account != caller.account:
        raise Refusal(
            403,
            "MfaRequired",
            f"the MFA role {role_arn} is in another account than you ({caller.account}); its "
            "sessions show MFA for users of its own account only",
        )
    if m.group("session") != caller.user:
        raise Refusal(
            403,
            "MfaRequired",
            f"the MFA proof is a session of {name} for {visible(m.group('session'))!r}, not for "
            f"you ({caller.user}); make it with your own IAM user and --mfa-token CODE",
            fields=fields,
        )
    return _trusted(check(role_arn), role_arn, evidence, fields)


def _trusted(
    found: RoleTrust, role_arn: str, evidence: VerifiedCaller, fields: dict[str, str]
) -> str:
    name = role_arn.rsplit("/", 1)[-1]
    if found.arn != role_arn:
        raise Refusal(
            403,
            "MfaRoleUntrusted",
            f"IAM says the role named {name} is {visible(found.arn)[:160]}, not the document's "
            f"mfa_role {role_arn}; its operators must fix the role or the document",
        )
    if found.problem:
        raise Refusal(
            403,
            "MfaRoleUntrusted",
            f"the MFA role {role_arn} does not prove MFA: {found.problem}; its operators must "
            "fix its trust policy (see the break-glass docs, MFA)",
        )
    if evidence.user_id.split(":", 1)[0] != found.role_id:
        raise Refusal(
            403,
            "MfaRequired",
            f"the MFA proof's session belongs to an earlier role named {name}; run sentinel "
            "breakglass with --mfa-token CODE again",
            fields=fields,
        )
    return f"role {name}"

"""The policy ``user`` of a verified caller, derived from the ARN STS returned.

- An IAM user is its user name (the path is dropped).
- An IAM Identity Center session is its session name, which Identity Center sets to the user's
  name. A role is an Identity Center role only when IAM says so: its path is
  ``/aws-reserved/sso.amazonaws.com/`` (which no principal can create roles under) and its
  RoleId is the one in the caller's ``UserId`` (:class:`IdentityCenterRoles`, with
  ``iam:GetRole``). A name starting ``AWSReservedSSO_`` proves nothing: anyone with
  ``iam:CreateRole`` can choose it.
- Any other assumed role is ``<role>/<session>``: the caller chose the session name, so it can
  never pass for a bare user name. A rule for such callers names both (``ci-role/*``).

Root, federated users and any other ARN shape are refused: a person should use the service
through an IAM user or a role.

A block applies to the human behind a caller (:attr:`Caller.humans`): the IAM user, the
Identity Center user, and for a role session whose session name is a Sentinel SourceIdentity
(``sentinel.<user>.<id>``, what the service names the sessions it creates) that user too.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentinelgw.awsclients import error_code
from sentinelgw.service.proof import ProofError, VerifiedCaller
from sentinelgw.sourceidentity import parse_source_identity

_USER = re.compile(r"^arn:aws[a-z-]*:iam::(?P<acct>\d{12}):user/(?:[^/]+/)*(?P<name>[\w+=,.@-]+)$")
_ASSUMED = re.compile(
    r"^arn:aws[a-z-]*:sts::(?P<acct>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)"
    r"/(?P<session>[\w+=,.@-]+)$"
)
SSO_ROLE_PREFIX = "AWSReservedSSO_"
SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/"
IAM_USER, IDENTITY_CENTER, ASSUMED_ROLE = "iam-user", "identity-center", "assumed-role"
# (role name, role id, account) -> whether IAM confirms an Identity Center role
IdentityCenterCheck = Callable[[str, str, str], bool]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: ``user`` is what policies match, ``arn`` what sessions are bound to."""

    user: str
    arn: str
    account: str
    kind: str  # IAM_USER, IDENTITY_CENTER or ASSUMED_ROLE
    role: str | None = None  # the role name of a role session
    humans: tuple[str, ...] = ()  # every user whose block applies to this caller
    # An IAM user signing with temporary credentials (sts:GetSessionToken), see the proof.
    temporary: bool = False

    def __post_init__(self) -> None:
        if not self.humans:
            object.__setattr__(self, "humans", (self.user,))


def caller_from_arn(
    verified: VerifiedCaller, identity_center: IdentityCenterCheck | None = None
) -> Caller:
    """The :class:`Caller` for a verified ARN; raises :class:`ProofError` for other shapes.

    ``identity_center`` confirms an ``AWSReservedSSO_*`` role; without it none is trusted.
    """
    arn = verified.arn
    m = _USER.match(arn)
    if m:
        return Caller(
            user=m.group("name"),
            arn=arn,
            account=m.group("acct"),
            kind=IAM_USER,
            temporary=verified.temporary,
        )
    m = _ASSUMED.match(arn)
    if m:
        role, session, account = m.group("role"), m.group("session"), m.group("acct")
        role_id = verified.user_id.split(":", 1)[0]
        if (
            role.startswith(SSO_ROLE_PREFIX)
            and identity_center is not None
            and role_id
            and identity_center(role, role_id, account)
        ):
            return Caller(user=session, arn=arn, account=account, kind=IDENTITY_CENTER, role=role)
        user = f"{role}/{session}"
        parsed = parse_source_identity(session)
        humans = (user, parsed.user) if parsed is not None else (user,)
        return Caller(
            user=user, arn=arn, account=account, kind=ASSUMED_ROLE, role=role, humans=humans
        )
    raise ProofError(
        "CallerNotAllowed",
        "the service accepts IAM users and role sessions only (not root or federated users)",
        status=403,
    )


class IdentityCenterRoles:
    """Confirms Identity Center roles with ``iam:GetRole``, cached by RoleId.

    A role is confirmed when its path starts ``/aws-reserved/sso.amazonaws.com/`` and its RoleId
    is the caller's (a role deleted and re-created under the same name has a new id). A role
    IAM does not show (``NoSuchEntity``, ``AccessDenied``: the service's policy allows
    ``iam:GetRole`` on that path only, and roles of other accounts are not visible) is an
    ordinary role. Role ids and paths never change, so a confirmation is kept; a refusal is
    asked again after ``retry`` seconds. Any other IAM error refuses the request (503).
    """

    def __init__(
        self,
        iam: Any,
        *,
        retry: float = 300.0,
        limit: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.iam = iam
        self.retry = retry
        self.limit = limit
        self._clock = clock
        self._known: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, role: str, role_id: str, account: str) -> bool:
        now = self._clock()
        with self._lock:
            known = self._known.get(role_id)
        if known is not None and (known[0] or now - known[1] < self.retry):
            return known[0]
        confirmed = self._ask(role, role_id)
        with self._lock:
            if len(self._known) >= self.limit:
                self._known.clear()
            self._known[role_id] = (confirmed, now)
        return confirmed

    def _ask(self, role: str, role_id: str) -> bool:
        try:
            found = self.iam.get_role(RoleName=role)["Role"]
        except Exception as exc:
            code = error_code(exc) or type(exc).__name__
            if code in ("NoSuchEntity", "AccessDenied", "AccessDeniedException"):
                return False
            raise ProofError(
                "IdentityUnavailable",
                f"the service could not check the caller's role with iam:GetRole ({code}); "
                "try again shortly",
                status=503,
            ) from None
        path = str(found.get("Path") or "")
        return str(found.get("RoleId") or "") == role_id and path.startswith(SSO_ROLE_PATH)

"""IAM Identity Center groups as approvers: the service checks membership itself.

A rule's ``group:NAME`` approver matches a caller only when

1. the caller is an Identity Center user, confirmed by the service from the proof
   (:data:`sentinelgw.service.caller.IDENTITY_CENTER`: an ``AWSReservedSSO_*`` role that IAM
   shows on its reserved path, whose session name is the user name), and
2. the identity store named by ``approvals.identity_store_id`` says that user is a member of
   the group: ``GetUserId`` (by ``userName``), ``GetGroupId`` (by ``displayName``), then
   ``IsMemberInGroups``, through boto3 (``AWS_ENDPOINT_URL`` applies).

An IAM user or an ordinary role session named like a group member matches nothing here: only
Identity Center vouches for an Identity Center user name.

Fail closed: when the identity store cannot be asked (denied, throttled, unreachable, an answer
it cannot read), :meth:`IdentityStoreGroups.member_of` raises :class:`Refusal` 503
``ApproverCheckUnavailable`` and the approval is refused; nothing changes. A user or group the
store does not know is a plain "not a member". Group ids never change for a name until the
group is deleted, so they are kept for :data:`GROUP_TTL`; a membership answer is kept for
:data:`MEMBER_TTL` only, so a removal takes effect within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sentinelgw.awsclients import error_code
from sentinelgw.service.approvals import GROUP_PREFIX, ApprovalRule, is_approver
from sentinelgw.service.caller import IDENTITY_CENTER, Caller
from sentinelgw.service.refusal import Refusal

if TYPE_CHECKING:
    from sentinelgw.service.document import ServiceDocument

MEMBER_TTL = 30.0  # seconds a membership answer is kept
GROUP_TTL = 300.0  # seconds a group id is kept
_NOT_FOUND = ("ResourceNotFoundException",)
# (region) -> a boto3 identitystore client
ClientFor = Callable[[str | None], Any]


class IdentityStoreGroups:
    """Asks one identity store whether a user is in any of some groups (by display name)."""

    def __init__(
        self,
        client_for: ClientFor,
        *,
        clock: Callable[[], float] = time.monotonic,
        limit: int = 4096,
    ) -> None:
        self._client_for = client_for
        self._clock = clock
        self._limit = limit
        self._cache: dict[tuple[str, ...], tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def member_of(self, store: str, region: str | None, user: str, groups: tuple[str, ...]) -> bool:
        """True when ``user`` is a member of at least one of ``groups``; raises
        :class:`Refusal` (503) when the store cannot answer."""
        if not groups:
            return False
        key = ("member", store, user, *sorted(groups))
        cached = self._get(key, MEMBER_TTL)
        if cached is not None:
            return bool(cached)
        client = self._client(region)
        user_id = self._user_id(client, store, user)
        group_ids = [g for g in (self._group_id(client, store, name) for name in groups) if g]
        found = False
        if user_id and group_ids:
            resp = self._ask(
                "IsMemberInGroups",
                lambda: client.is_member_in_groups(
                    IdentityStoreId=store, MemberId={"UserId": user_id}, GroupIds=group_ids
                ),
            )
            results = resp.get("Results") if isinstance(resp, dict) else None
            if not isinstance(results, list):
                raise _unavailable("IsMemberInGroups", "an answer it could not read")
            found = any(
                isinstance(r, dict)
                and r.get("MembershipExists") is True
                and r.get("GroupId") in group_ids
                for r in results
            )
        self._put(key, found)
        return found

    def _user_id(self, client: Any, store: str, user: str) -> str | None:
        return self._lookup(
            "GetUserId",
            lambda: client.get_user_id(
                IdentityStoreId=store,
                AlternateIdentifier={
                    "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": user}
                },
            ),
            "UserId",
        )

    def _group_id(self, client: Any, store: str, name: str) -> str | None:
        key = ("group", store, name)
        cached = self._get(key, GROUP_TTL)
        if cached is not None:
            return str(cached) or None
        found = self._lookup(
            "GetGroupId",
            lambda: client.get_group_id(
                IdentityStoreId=store,
                AlternateIdentifier={
                    "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": name}
                },
            ),
            "GroupId",
        )
        if found:
            self._put(key, found)
        return found

    def _lookup(self, operation: str, call: Callable[[], Any], field: str) -> str | None:
        try:
            resp = call()
        except Exception as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise _unavailable(operation, error_code(exc) or type(exc).__name__) from None
        value = resp.get(field) if isinstance(resp, dict) else None
        if not isinstance(value, str) or not value:
            raise _unavailable(operation, "an answer it could not read")
        return value

    def _ask(self, operation: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            raise _unavailable(operation, error_code(exc) or type(exc).__name__) from None

    def _client(self, region: str | None) -> Any:
        try:
            return self._client_for(region)
        except Exception as exc:
            raise _unavailable("client", type(exc).__name__) from None

    def _get(self, key: tuple[str, ...], ttl: float) -> Any:
        with self._lock:
            hit = self._cache.get(key)
        if hit is None or self._clock() - hit[1] >= ttl:
            return None
        return hit[0]

    def _put(self, key: tuple[str, ...], value: Any) -> None:
        with self._lock:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            self._cache[key] = (value, self._clock())


def _unavailable(operation: str, why: str) -> Refusal:
    return Refusal(
        503,
        "ApproverCheckUnavailable",
        f"the service could not check Identity Center group membership ({operation}: {why}), "
        "so the approval is refused; try again shortly or ask an approver named by user",
    )


def rule_groups(rule: ApprovalRule | None) -> tuple[str, ...]:
    if rule is None:
        return ()
    return tuple(a[len(GROUP_PREFIX) :] for a in rule.approvers if a.startswith(GROUP_PREFIX))


def may_approve(
    rule: ApprovalRule | None,
    caller: Caller,
    doc: ServiceDocument,
    groups: IdentityStoreGroups | None,
) -> bool:
    """True when ``caller`` may approve under ``rule``: by user name or admins, else as an
    Identity Center user in one of the rule's groups. Raises :class:`Refusal` 503 when the
    groups cannot be checked (fail closed)."""
    if is_approver(rule, caller.user, doc.admins):
        return True
    names = rule_groups(rule)
    if not names or caller.kind != IDENTITY_CENTER:
        return False
    store = doc.approvals.identity_store_id
    if store is None or groups is None:
        raise _unavailable("configuration", "no identity store")
    return groups.member_of(store, doc.approvals.identity_store_region, caller.user, names)

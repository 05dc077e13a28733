"""Role chains: the roles a revoked session chained into, and the same Deny written there.

STS carries a session's SourceIdentity through every role it chains into (AssumeRole from a
role session keeps it, and it cannot be changed), so a session chained from a revoked one is
denied by the same ``SentinelRevokedSessions`` entry, but only on the role it runs as: the
Deny on the revoked session's role does not reach it.

Finding them: CloudTrail records each AssumeRole with the caller's session, whose
``sessionContext.sourceIdentity`` is the inherited value, and its role
(``sessionContext.sessionIssuer``). From the audit events of the session's lifetime, the chain
is the graph caller role -> requested role of the calls carrying the revoked SourceIdentity,
walked from the session's own role. Every role in it gets the Deny; a role whose sessions carry
the SourceIdentity but that the walk does not reach (its first hop was not in the events) gets
it too.

The bound: at most :data:`MAX_CHAIN_DEPTH` hops from the session's role and
:data:`MAX_CHAIN_ROLES` roles per revocation. Roles past it are reported, not written, and the
revocation is incomplete. Event fields are untrusted, like record fields: a role ARN is written
to only when it is an IAM role ARN Sentinel would revoke on (:func:`role_name_from_arn`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentinelgw.audit.events import ROLE_EVENTS, IssuanceEvent
from sentinelgw.errors import HardRevocationError, SentinelError
from sentinelgw.sessions.revocation.role_deny import (
    HardRevokeResult,
    hard_revoke_many,
    role_name_from_arn,
)
from sentinelgw.sourceidentity import parse_source_identity

MAX_CHAIN_DEPTH = 5
MAX_CHAIN_ROLES = 50
# Only the characters IAM allows in role paths and names: event fields are untrusted.
_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class ChainedRole:
    """A role sessions of the revoked SourceIdentities were chained into.

    ``depth`` is the number of hops from the revoked session's role (None: the walk did not
    reach it, but its sessions carry the SourceIdentity); ``via`` the role it was reached from.
    """

    role_arn: str
    source_identities: tuple[str, ...]
    depth: int | None
    via: str | None


@dataclass(frozen=True, slots=True)
class ChainOutcome:
    """What happened on one chained role: written (``result``), or why not (``error``)."""

    role: ChainedRole
    result: HardRevokeResult | None = None
    error: SentinelError | None = None

    @property
    def reached(self) -> bool:
        return self.result is not None


def role_key(arn: str | None) -> tuple[str, str] | None:
    """(account, role name) of an IAM role ARN (a session issuer's ARN is one), else None."""
    m = _ARN.match(arn or "")
    return (m.group(1), m.group(2)) if m else None


def find_chained_roles(
    events: Iterable[IssuanceEvent],
    origins: dict[str, str],
    *,
    max_depth: int = MAX_CHAIN_DEPTH,
    max_roles: int = MAX_CHAIN_ROLES,
) -> tuple[list[ChainedRole], list[ChainedRole]]:
    """The chained roles of ``origins`` (SourceIdentity -> the session's role ARN).

    Returns (roles within the bound, roles past it), each ordered by depth then ARN.
    """
    # SourceIdentity -> caller role key -> {target role key: target ARN as requested}
    edges: dict[str, dict[tuple[str, str], dict[tuple[str, str], str]]] = {}
    targets: dict[str, dict[tuple[str, str], str]] = {}
    for event in events:
        si = event.chained_source_identity
        if si not in origins or event.event_name not in ROLE_EVENTS or event.error_code:
            continue
        target = role_key(event.role_arn)
        if target is None or event.role_arn is None:
            continue
        caller = role_key(event.caller_role_arn)
        if caller is not None:
            edges.setdefault(si, {}).setdefault(caller, {})[target] = event.role_arn
        targets.setdefault(si, {})[target] = event.role_arn
    found: dict[tuple[str, str], _Found] = {}
    for si, origin_arn in origins.items():
        origin = role_key(origin_arn)
        reached = _walk(edges.get(si, {}), origin, origin_arn)
        for target, arn in targets.get(si, {}).items():
            if target == origin:
                continue  # the session's own role: the ordinary hard revoke covers it
            entry = found.setdefault(target, _Found(arn))
            entry.ids.add(si)
            if target in reached:
                depth, via = reached[target]
                if entry.depth is None or depth < entry.depth:
                    entry.depth, entry.via = depth, via
    ordered = sorted(
        (
            ChainedRole(
                role_arn=f.arn, source_identities=tuple(sorted(f.ids)), depth=f.depth, via=f.via
            )
            for f in found.values()
        ),
        key=lambda r: (r.depth if r.depth is not None else max_depth + 1, r.role_arn),
    )
    within: list[ChainedRole] = []
    beyond: list[ChainedRole] = []
    for role in ordered:
        if (role.depth is not None and role.depth > max_depth) or len(within) >= max_roles:
            beyond.append(role)
        else:
            within.append(role)
    return within, beyond


@dataclass
class _Found:
    arn: str
    ids: set[str] = field(default_factory=set)
    depth: int | None = None
    via: str | None = None


def _walk(
    edges: dict[tuple[str, str], dict[tuple[str, str], str]],
    origin: tuple[str, str] | None,
    origin_arn: str,
) -> dict[tuple[str, str], tuple[int, str]]:
    """Breadth first from ``origin``: role key -> (hops, the ARN of the role it came from)."""
    if origin is None:
        return {}
    names = {origin: origin_arn}
    for callers in edges.values():
        names.update(callers)
    reached: dict[tuple[str, str], tuple[int, str]] = {}
    seen = {origin}
    frontier = [origin]
    depth = 0
    while frontier:
        depth += 1
        nxt = []
        for node in frontier:
            for target in sorted(edges.get(node, {})):
                if target not in seen:
                    seen.add(target)
                    reached[target] = (depth, names.get(node, f"{node[0]}:{node[1]}"))
                    nxt.append(target)
        frontier = nxt
    return reached


def deny_chained(
    roles: Iterable[ChainedRole],
    iam_for: Callable[[str], Any],
    *,
    now: datetime,
    **hard_options: Any,
) -> list[ChainOutcome]:
    """Write the SourceIdentities' Deny on each chained role (one write per role).

    ``iam_for(role_arn)`` returns an IAM client that can write that role (the revoker's, or one
    acting through the role configured for another account) or raises
    :class:`HardRevocationError` saying why there is none.
    """
    outcomes: list[ChainOutcome] = []
    for role in roles:
        try:
            role_name_from_arn(role.role_arn)
            users = {p.user for s in role.source_identities if (p := parse_source_identity(s))}
            iam = iam_for(role.role_arn)
            result = hard_revoke_many(
                iam,
                role.role_arn,
                role.source_identities,
                now=now,
                user=users.pop() if len(users) == 1 else None,
                wildcard="quota" if len(users) == 1 else "never",
                **hard_options,
            )
        except SentinelError as exc:
            outcomes.append(ChainOutcome(role=role, error=exc))
            continue
        outcomes.append(ChainOutcome(role=role, result=result))
    return outcomes


def beyond_bound(role: ChainedRole) -> ChainOutcome:
    """The outcome of a role past the documented bound: reported, not written."""
    where = f"{role.depth} hops" if role.depth is not None else "past the role limit"
    return ChainOutcome(
        role=role,
        error=HardRevocationError(
            f"role {role.role_arn} is past the chain bound ({where}; Sentinel follows at most "
            f"{MAX_CHAIN_DEPTH} hops and {MAX_CHAIN_ROLES} roles)",
            hint="Deny the SourceIdentity there by hand, or use the organisation-wide SCP "
            "('sentinel init revocation-scp')",
        ),
    )

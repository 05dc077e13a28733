"""Lifting a block in IAM: the blocked user's wildcard, cut down to the time of the lift.

``server-revoke --user U --block`` writes U's wildcard on the roles of U's sessions, bounding
``aws:TokenIssueTime`` by the block time plus :data:`~.revoke.BLOCK_MARGIN`. Lifting the block
in the table alone would leave U's new sessions on those roles denied until that bound. So
:func:`cut_block_wildcards` rewrites each such statement to end at the lift: credentials issued
from then on work, every credential issued before it (the sessions the block revoked) stays
denied. The same read-merge-write-read rules as :mod:`.role_deny` apply.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinelgw.errors import HardRevocationError, SentinelError
from sentinelgw.sessions.blocks import Block
from sentinelgw.sessions.revocation import role_iam as iam_calls
from sentinelgw.sessions.revocation.deny_document import POLICY_NAME, cut_wildcard, user_pattern
from sentinelgw.sessions.revocation.revoke import TABLE_WORKERS, WILDCARD_LOOKBACK, role_key
from sentinelgw.sessions.revocation.role_deny import (
    back_off,
    role_name_from_arn,
    write_and_read,
)
from sentinelgw.sessions.store import SessionStore


@dataclass(frozen=True, slots=True)
class CutOutcome:
    """One role: ``cut`` when its policy was rewritten; ``error`` when that failed."""

    role_arn: str
    cut: bool = False
    error: SentinelError | None = None


def cut_user_wildcard(
    iam: Any,
    role_arn: str,
    user_part: str,
    *,
    bound: datetime,
    max_attempts: int = 5,
    settle: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> bool:
    """End ``user_part``'s wildcard on ``role_arn`` at ``bound`` where it ends later; True when
    the policy was rewritten. Raises :class:`HardRevocationError` naming what IAM refused."""
    role_name = role_name_from_arn(role_arn)
    pattern = user_pattern(user_part)
    written = False
    for attempt in range(1, max(1, max_attempts) + 1):
        document = cut_wildcard(iam_calls.get_policy(iam, role_name, POLICY_NAME), pattern, bound)
        if document is None:
            return written
        check = write_and_read(iam, role_name, document, settle, jitter, sleep)
        written = True
        if cut_wildcard(check, pattern, bound) is None:
            return True
        back_off(attempt, sleep, jitter)
    raise HardRevocationError(
        f"policy {POLICY_NAME} on role {role_arn} kept changing under concurrent writes; "
        f"the wildcard of user {user_part} still ends after {bound:%Y-%m-%dT%H:%M:%SZ}",
        hint="Run server-unblock again; it is safe to repeat",
    )


def cut_block_wildcards(
    store: SessionStore,
    iam: Any,
    block: Block,
    *,
    now: datetime,
    workers: int = TABLE_WORKERS,
    **options: Any,
) -> list[CutOutcome]:
    """After ``block`` was lifted at ``now``: cut the user's wildcard on every role the block
    may have written it on (the roles of the user's sessions started up to
    :data:`~.revoke.WILDCARD_LOOKBACK` before the block, as ``revoke_user`` chose them). One
    outcome per role, in ARN order; a failure on one role does not stop the others."""
    since = block.blocked_at - WILDCARD_LOOKBACK
    keys = {key for r in store.query(user=block.user, since=since, now=now) if (key := role_key(r))}

    def one(key: tuple[str, str]) -> CutOutcome:
        try:
            cut = cut_user_wildcard(iam, key[0], key[1], bound=now, **options)
        except SentinelError as exc:
            return CutOutcome(role_arn=key[0], error=exc)
        return CutOutcome(role_arn=key[0], cut=cut)

    if not keys:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(keys)))) as pool:
        return list(pool.map(one, sorted(keys)))  # map keeps the order: by role ARN

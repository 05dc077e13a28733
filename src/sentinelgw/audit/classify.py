"""Classifying issuance events against the session table.

Each event gets exactly one category, the first that applies in this order:

``failed``               ``errorCode`` present: the call issued nothing
``aws_service``          made by an AWS service (``userIdentity.type`` AWSService or
                         ``invokedBy``): Lambda, EC2 instance profiles, ...
``tracked``              a Sentinel SourceIdentity whose session record exists, carries exactly
                         that value, names the event's role, and whose lifetime (start to expiry
                         or revocation, widened by :data:`CLOCK_SKEW`) holds the event time
``replayed``             a real session's SourceIdentity used outside that session: on another
                         role, outside its lifetime, after its revocation, or on a call Sentinel
                         never makes with it
``orphaned``             Sentinel's format but no record carries it: a CLI-mode or
                         credential_process request (never recorded), or a forged value
``non_sentinel_format``  a SourceIdentity Sentinel did not write
``no_source_identity``   none at all, including calls that cannot carry one

All but the first three are gaps; ``aws_service`` is one too when asked for.

For a chained session (the SourceIdentity inherited from the caller), the session that must
match is the caller's: its role is the caller's role, ``sessionContext.sessionIssuer.arn``.
Sentinel itself issues only through ``AssumeRole``, so its own value on any other call is a
replay.

Each distinct session id is looked up once. Events stream through: those that need the store
wait in a small buffer until 100 distinct unknown ids (one BatchGetItem) or a bounded number of
events have gathered; the batch is read on a helper thread while other events go on, and the
waiting events are emitted when it answers. Memory is proportional to the number of distinct
identities, never to the number of events. Records
whose id starts with ``block#`` are user blocks, never sessions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import msgspec

from sentinelgw.audit.events import ASSUME_ROLE, NO_SOURCE_IDENTITY_PARAMETER, IssuanceEvent
from sentinelgw.audit.profiles import same_role
from sentinelgw.sourceidentity import parse_source_identity
from sentinelgw.timeutil import iso

BATCH_IDS = 100  # BatchGetItem's limit per call
# Events waiting for their session record, at most (about 1 KB each). Large enough that
# decoding goes on while a slow table answers: the reads overlap the rest of the work.
MAX_BUFFERED_EVENTS = 50_000
STORE_THREADS = 1  # BatchGetItem calls in flight at once (SessionStore counts reads unlocked)
# How far an event may lie outside its session's lifetime and still count as that session's:
# the STS call comes just before the record is written, and clocks and CloudTrail's
# eventTime (second precision) differ by seconds.
CLOCK_SKEW = timedelta(minutes=5)
BLOCK_PREFIX = "block#"
_NO_SID = "no SourceIdentity: issued outside Sentinel"
_VIA = " (inherited through role chaining)"


class Category(StrEnum):
    FAILED = "failed"
    AWS_SERVICE = "aws_service"
    TRACKED = "tracked"
    REPLAYED = "replayed"
    ORPHANED = "orphaned"
    NON_SENTINEL_FORMAT = "non_sentinel_format"
    NO_SOURCE_IDENTITY = "no_source_identity"


GAPS = frozenset(
    {
        Category.REPLAYED,
        Category.ORPHANED,
        Category.NON_SENTINEL_FORMAT,
        Category.NO_SOURCE_IDENTITY,
    }
)


class RecordLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def profile(self) -> str: ...
    @property
    def source_identity(self) -> str | None: ...
    @property
    def role_arn(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def revoked_at(self) -> datetime | None: ...


_Group = dict[str, list[IssuanceEvent]]  # session id → events waiting for its record


class RecordLookup(Protocol):
    """What the classifier needs from :class:`sentinelgw.sessions.store.SessionStore`."""

    def batch_get(self, ids: list[str]) -> Mapping[str, RecordLike]: ...


class ClassifiedEvent(msgspec.Struct, frozen=True, gc=False):
    """An event with its category, a human reason, and the profile it is attributed to."""

    event: IssuanceEvent
    category: Category
    reason: str
    profile: str | None  # a profile, several joined by ",", the role ARN when unmapped
    profiles: tuple[str, ...]  # the candidate profile names (empty when unmapped)
    session_id: str | None = None
    gap: bool = False
    # The access request a tracked session was started under (require_approval), if any.
    request_id: str | None = None

    @property
    def tracked(self) -> bool:
        return self.category is Category.TRACKED


@dataclass(frozen=True, slots=True)
class _Known:
    profile: str
    source_identity: str | None
    role_arn: str
    start: datetime
    end: datetime  # revocation, else expiry
    revoked: bool
    request_id: str | None = None


@dataclass
class LookupStats:
    """How the store was used: proves reads are per distinct identity, not per event."""

    distinct_ids: int = 0
    batch_calls: int = 0
    keys_requested: int = 0
    found: int = 0


def _known(rec: RecordLike) -> _Known | None:
    if rec.id.startswith((BLOCK_PREFIX, "request#")):  # blocks and access requests
        return None
    revoked = rec.status == "revoked" and rec.revoked_at is not None
    end = rec.revoked_at if revoked and rec.revoked_at is not None else rec.expires_at
    request_id = getattr(rec, "request_id", None)  # sessions under an access request
    return _Known(
        rec.profile,
        rec.source_identity,
        rec.role_arn,
        rec.started_at,
        end,
        revoked,
        request_id if isinstance(request_id, str) else None,
    )


@dataclass
class Classifier:
    """Streams events to :class:`ClassifiedEvent`, reading the store in batches."""

    store: RecordLookup | None
    profiles_for_role: Callable[[str], tuple[str, ...]]
    table: str | None = None
    include_aws_service: bool = False
    skew: timedelta = CLOCK_SKEW
    stats: LookupStats = field(default_factory=LookupStats)
    _cache: dict[str, _Known | None] = field(default_factory=dict)
    _ids: dict[str, str | None] = field(default_factory=dict)  # SourceIdentity → session id
    _roles: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    _role_pairs: dict[tuple[str, str], bool] = field(default_factory=dict)

    def _same_role(self, a: str, b: str) -> bool:
        key = (a, b)
        found = self._role_pairs.get(key)
        if found is None:
            found = self._role_pairs[key] = same_role(a, b)
        return found

    def _session_id(self, sid: str | None) -> str | None:
        """The session id inside a Sentinel SourceIdentity (memoised per distinct value)."""
        if not sid:
            return None
        try:
            return self._ids[sid]
        except KeyError:
            parsed = parse_source_identity(sid)
            found = self._ids[sid] = parsed.id if parsed is not None else None
            return found

    def _needs_store(self, event: IssuanceEvent) -> str | None:
        """The session id to look up first, or None when the event is decided without it."""
        if self.store is None or event.error_code is not None or event.by_aws_service:
            return None
        ident = self._session_id(event.effective_source_identity)
        if ident is None or ident in self._cache:
            return None
        return ident

    def classify(self, events: Iterable[IssuanceEvent]) -> Iterator[ClassifiedEvent]:
        """Classify a stream; store reads run on a helper thread while events keep flowing.

        Events that need an unread id wait in a group; a full group (``BATCH_IDS`` ids) is
        sent as one BatchGetItem and, while it is in flight, later events of its ids join it.
        At most ``MAX_BUFFERED_EVENTS`` events wait in all, then the oldest read is awaited.
        """
        from concurrent.futures import ThreadPoolExecutor

        groups: deque[tuple[Future[Mapping[str, RecordLike]], _Group]] = deque()
        joining: dict[str, _Group] = {}  # id → the in-flight group that will answer it
        pending: _Group = {}
        held = 0
        with ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="audit-store") as pool:

            def send(group: _Group) -> None:
                assert self.store is not None
                groups.append((pool.submit(self.store.batch_get, list(group)), group))
                for ident in group:
                    joining[ident] = group

            def finish() -> Iterator[ClassifiedEvent]:
                nonlocal held
                future, group = groups.popleft()
                self._learn(list(group), future.result())
                for ident, waiting in group.items():
                    del joining[ident]
                    held -= len(waiting)
                    for event in waiting:
                        yield self.decide(event)

            for event in events:
                while groups and groups[0][0].done():
                    yield from finish()
                ident = self._needs_store(event)
                if ident is None:
                    yield self.decide(event)
                    continue
                group = joining.get(ident, pending)
                group.setdefault(ident, []).append(event)
                held += 1
                if len(pending) >= BATCH_IDS or held >= MAX_BUFFERED_EVENTS:
                    if pending:
                        send(pending)
                        pending = {}
                    while held >= MAX_BUFFERED_EVENTS and groups:
                        yield from finish()
            if pending:
                send(pending)
            while groups:
                yield from finish()

    def _learn(self, ids: list[str], found: Mapping[str, RecordLike]) -> None:
        self.stats.batch_calls += 1
        self.stats.keys_requested += len(ids)
        self.stats.found += len(found)
        for ident in ids:
            rec = found.get(ident)
            self._cache[ident] = _known(rec) if rec is not None else None
        self.stats.distinct_ids = len(self._cache)

    def decide(self, event: IssuanceEvent) -> ClassifiedEvent:
        """The category of one event, from what the cache knows (no store call)."""
        cat, reason, session_id, profile = self._verdict(event)
        gap = cat in GAPS or (cat is Category.AWS_SERVICE and self.include_aws_service)
        if profile is not None:
            known = self._cache.get(session_id) if session_id else None
            under = known.request_id if known is not None else None
            return ClassifiedEvent(
                event, cat, reason, profile, (profile,), session_id, gap, request_id=under
            )
        label, candidates = self._attribution(event.role_arn)
        return ClassifiedEvent(event, cat, reason, label, candidates, session_id, gap)

    def _attribution(self, role: str | None) -> tuple[str | None, tuple[str, ...]]:
        """(profile label, candidate profiles) of a role, memoised: few roles, many events."""
        if role is None:
            return None, ()
        found = self._roles.get(role)
        if found is None:
            candidates = self.profiles_for_role(role)
            found = self._roles[role] = (",".join(candidates) if candidates else role, candidates)
        return found

    def _verdict(self, event: IssuanceEvent) -> tuple[Category, str, str | None, str | None]:
        """(category, reason, session id, profile of a tracked session)."""
        if event.error_code is not None:
            return (
                Category.FAILED,
                f"{event.event_name} failed with {event.error_code}: nothing was issued",
                None,
                None,
            )
        if event.by_aws_service:
            return (
                Category.AWS_SERVICE,
                f"issued to an AWS service ({event.invoked_by or event.who})",
                None,
                None,
            )
        sid = event.effective_source_identity
        if not sid:
            if event.event_name in NO_SOURCE_IDENTITY_PARAMETER:
                return (
                    Category.NO_SOURCE_IDENTITY,
                    f"{event.event_name} cannot carry a SourceIdentity: not tracked",
                    None,
                    None,
                )
            return Category.NO_SOURCE_IDENTITY, _NO_SID, None, None
        via = _VIA if event.inherited else ""
        ident = self._session_id(sid)
        if ident is None:
            return (
                Category.NON_SENTINEL_FORMAT,
                f"SourceIdentity {sid!r}{via} is not sentinel.<user>.<id>: issued by another tool",
                None,
                None,
            )
        where = f" in {self.table}" if self.table else ""
        known = self._cache.get(ident) if self.store is not None else None
        if known is None:
            return (
                Category.ORPHANED,
                f"no session {ident}{where}{via}: a CLI-mode or "
                "credential_process request, or forged",
                ident,
                None,
            )
        if known.source_identity != sid:
            return (
                Category.ORPHANED,
                f"session {ident}{where} belongs to {known.source_identity!r}{via}: forged",
                ident,
                None,
            )
        why = self._replay(event, known)
        if why is not None:
            return (Category.REPLAYED, f"session {ident}'s SourceIdentity{via} {why}", ident, None)
        under = f" under access request {known.request_id}" if known.request_id else ""
        return Category.TRACKED, f"server session {ident}{via}{under}", ident, known.profile

    def _replay(self, event: IssuanceEvent, known: _Known) -> str | None:
        """Why an event with a real session's SourceIdentity is not that session, or None."""
        if not event.inherited and event.event_name != ASSUME_ROLE:
            return f"used on {event.event_name}, which Sentinel never calls with it"
        # A chained call is made *with* the session, so the session's role is the caller's.
        role = event.caller_role_arn if event.inherited else event.role_arn
        if not known.role_arn:
            return "matched a session record that names no role"
        if not role or not self._same_role(role, known.role_arn):
            return f"used on role {role or 'unknown'}; the session is for {known.role_arn}"
        at = event.event_time
        if known.revoked and at > known.end + self.skew:
            return f"used at {iso(at)}, after the session was revoked at {iso(known.end)}"
        if at < known.start - self.skew or at > known.end + self.skew:
            return (
                f"used at {iso(at)}, outside the session's lifetime "
                f"{iso(known.start)} to {iso(known.end)}"
            )
        return None

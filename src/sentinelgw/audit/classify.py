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
events have gathered, then the batch is read and the buffered events are emitted. Memory is
proportional to the number of distinct identities, never to the number of events. Records
whose id starts with ``block#`` are user blocks, never sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sentinelgw.audit.events import ASSUME_ROLE, NO_SOURCE_IDENTITY_PARAMETER, IssuanceEvent
from sentinelgw.audit.profiles import same_role
from sentinelgw.sourceidentity import parse_source_identity
from sentinelgw.timeutil import iso

BATCH_IDS = 100  # BatchGetItem's limit per call
MAX_BUFFERED_EVENTS = 10_000
# How far an event may lie outside its session's lifetime and still count as that session's:
# the STS call comes just before the record is written, and clocks and CloudTrail's
# eventTime (second precision) differ by seconds.
CLOCK_SKEW = timedelta(minutes=5)
BLOCK_PREFIX = "block#"


class Category(StrEnum):
    FAILED = "failed"
    AWS_SERVICE = "aws_service"
    TRACKED = "tracked"
    REPLAYED = "replayed"
    ORPHANED = "orphaned"
    NON_SENTINEL_FORMAT = "non_sentinel_format"
    NO_SOURCE_IDENTITY = "no_source_identity"


GAPS = frozenset({Category.REPLAYED, Category.ORPHANED, Category.NON_SENTINEL_FORMAT,
                  Category.NO_SOURCE_IDENTITY})


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


class RecordLookup(Protocol):
    """What the classifier needs from :class:`sentinelgw.sessions.store.SessionStore`."""

    def batch_get(self, ids: list[str]) -> Mapping[str, RecordLike]: ...


@dataclass(frozen=True, slots=True)
class ClassifiedEvent:
    """An event with its category, a human reason, and the profile it is attributed to."""

    event: IssuanceEvent
    category: Category
    reason: str
    profile: str | None  # a profile, several joined by ",", the role ARN when unmapped
    profiles: tuple[str, ...]  # the candidate profile names (empty when unmapped)
    session_id: str | None = None
    gap: bool = False

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


@dataclass
class LookupStats:
    """How the store was used: proves reads are per distinct identity, not per event."""

    distinct_ids: int = 0
    batch_calls: int = 0
    keys_requested: int = 0
    found: int = 0


def _known(rec: RecordLike) -> _Known | None:
    if rec.id.startswith(BLOCK_PREFIX):
        return None
    revoked = rec.status == "revoked" and rec.revoked_at is not None
    end = rec.revoked_at if revoked and rec.revoked_at is not None else rec.expires_at
    return _Known(rec.profile, rec.source_identity, rec.role_arn, rec.started_at, end, revoked)


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

    def _needs_store(self, event: IssuanceEvent) -> str | None:
        """The session id to look up first, or None when the event is decided without it."""
        if self.store is None or event.error_code is not None or event.by_aws_service:
            return None
        parsed = parse_source_identity(event.effective_source_identity)
        if parsed is None or parsed.id in self._cache:
            return None
        return parsed.id

    def classify(self, events: Iterable[IssuanceEvent]) -> Iterator[ClassifiedEvent]:
        pending: dict[str, list[IssuanceEvent]] = {}
        buffered = 0
        for event in events:
            sid = self._needs_store(event)
            if sid is None:
                yield self.decide(event)
                continue
            pending.setdefault(sid, []).append(event)
            buffered += 1
            if len(pending) >= BATCH_IDS or buffered >= MAX_BUFFERED_EVENTS:
                yield from self._flush(pending)
                pending, buffered = {}, 0
        if pending:
            yield from self._flush(pending)

    def _flush(self, pending: dict[str, list[IssuanceEvent]]) -> Iterator[ClassifiedEvent]:
        assert self.store is not None
        ids = list(pending)
        for start in range(0, len(ids), BATCH_IDS):
            chunk = ids[start:start + BATCH_IDS]
            found = self.store.batch_get(chunk)
            self.stats.batch_calls += 1
            self.stats.keys_requested += len(chunk)
            self.stats.found += len(found)
            for sid in chunk:
                rec = found.get(sid)
                self._cache[sid] = _known(rec) if rec is not None else None
        self.stats.distinct_ids = len(self._cache)
        for evs in pending.values():
            for event in evs:
                yield self.decide(event)

    def decide(self, event: IssuanceEvent) -> ClassifiedEvent:
        """The category of one event, from what the cache knows (no store call)."""
        role = event.role_arn
        candidates = self.profiles_for_role(role) if role else ()
        label = ",".join(candidates) if candidates else role
        via = " (inherited through role chaining)" if event.inherited else ""

        def result(cat: Category, reason: str, session_id: str | None = None,
                   profile: str | None = None) -> ClassifiedEvent:
            gap = cat in GAPS or (cat is Category.AWS_SERVICE and self.include_aws_service)
            profs = (profile,) if profile else candidates
            return ClassifiedEvent(event, cat, reason, profile or label, profs, session_id, gap)

        if event.error_code is not None:
            return result(Category.FAILED, f"{event.event_name} failed with "
                          f"{event.error_code}: nothing was issued")
        if event.by_aws_service:
            return result(Category.AWS_SERVICE,
                          f"issued to an AWS service ({event.invoked_by or event.who})")
        sid = event.effective_source_identity
        if not sid:
            if event.event_name in NO_SOURCE_IDENTITY_PARAMETER:
                return result(Category.NO_SOURCE_IDENTITY,
                              f"{event.event_name} cannot carry a SourceIdentity: "
                              "issued outside Sentinel")
            return result(Category.NO_SOURCE_IDENTITY, "no SourceIdentity: issued outside Sentinel")
        parsed = parse_source_identity(sid)
        if parsed is None:
            return result(Category.NON_SENTINEL_FORMAT,
                          f"SourceIdentity {sid!r}{via} is not sentinel.<user>.<id>: "
                          "issued by another tool")
        where = f" in {self.table}" if self.table else ""
        known = self._cache.get(parsed.id) if self.store is not None else None
        if known is None:
            return result(Category.ORPHANED,
                          f"no session {parsed.id}{where}{via}: a CLI-mode or "
                          "credential_process request, or forged", parsed.id)
        if known.source_identity != sid:
            return result(Category.ORPHANED,
                          f"session {parsed.id}{where} belongs to {known.source_identity!r}"
                          f"{via}: forged", parsed.id)
        why = self._replay(event, known)
        if why is not None:
            return result(Category.REPLAYED, f"session {parsed.id}'s SourceIdentity{via} {why}",
                          parsed.id)
        return result(Category.TRACKED, f"server session {parsed.id}{via}", parsed.id,
                      profile=known.profile)

    def _replay(self, event: IssuanceEvent, known: _Known) -> str | None:
        """Why an event with a real session's SourceIdentity is not that session, or None."""
        if not event.inherited and event.event_name != ASSUME_ROLE:
            return f"used on {event.event_name}, which Sentinel never calls with it"
        # A chained call is made *with* the session, so the session's role is the caller's.
        role = event.caller_role_arn if event.inherited else event.role_arn
        if not known.role_arn:
            return "matched a session record that names no role"
        if not role or not same_role(role, known.role_arn):
            return f"used on role {role or 'unknown'}; the session is for {known.role_arn}"
        at = event.event_time
        if known.revoked and at > known.end + self.skew:
            return f"used at {iso(at)}, after the session was revoked at {iso(known.end)}"
        if at < known.start - self.skew or at > known.end + self.skew:
            return (f"used at {iso(at)}, outside the session's lifetime "
                    f"{iso(known.start)} to {iso(known.end)}")
        return None

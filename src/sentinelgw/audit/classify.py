"""Classifying AssumeRole events against the session table.

Categories:

``tracked``              a Sentinel SourceIdentity whose session record exists and carries
                         exactly that SourceIdentity
``no_source_identity``   no SourceIdentity at all: issued outside Sentinel
``non_sentinel_format``  a SourceIdentity that is not ``sentinel.<user>.<16 hex>``
``orphaned``             Sentinel's format but no matching record: a CLI-mode or
                         credential_process request (never recorded), or a forged value

Each distinct session id is looked up once. Events stream through: those that need the store
wait in a small buffer until 100 distinct unknown ids (one BatchGetItem) or a bounded number of
events have gathered, then the batch is read and the buffered events are emitted. Memory is
proportional to the number of distinct identities, never to the number of events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sentinelgw.audit.events import AssumeRoleEvent
from sentinelgw.sourceidentity import parse_source_identity

BATCH_IDS = 100  # DynamoDB BatchGetItem takes at most 100 keys per call
MAX_BUFFERED_EVENTS = 10_000


class Category(StrEnum):
    TRACKED = "tracked"
    NO_SOURCE_IDENTITY = "no_source_identity"
    NON_SENTINEL_FORMAT = "non_sentinel_format"
    ORPHANED = "orphaned"


class RecordLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def profile(self) -> str: ...
    @property
    def source_identity(self) -> str | None: ...


class RecordLookup(Protocol):
    """What the classifier needs from :class:`sentinelgw.sessions.store.SessionStore`."""

    def batch_get(self, ids: list[str]) -> Mapping[str, RecordLike]: ...


@dataclass(frozen=True, slots=True)
class ClassifiedEvent:
    """An event with its category, a human reason, and the profile it is attributed to."""

    event: AssumeRoleEvent
    category: Category
    reason: str
    profile: str  # a profile name, several joined by ",", or the role ARN when unmapped
    profiles: tuple[str, ...]  # the candidate profile names (empty when unmapped)
    session_id: str | None = None

    @property
    def tracked(self) -> bool:
        return self.category is Category.TRACKED


@dataclass(frozen=True, slots=True)
class _Known:
    profile: str
    source_identity: str | None


@dataclass
class LookupStats:
    """How the store was used: proves reads are per distinct identity, not per event."""

    distinct_ids: int = 0
    batch_calls: int = 0
    keys_requested: int = 0
    found: int = 0


@dataclass
class Classifier:
    """Streams events to :class:`ClassifiedEvent`, reading the store in batches."""

    store: RecordLookup | None
    profiles_for_role: Callable[[str], tuple[str, ...]]
    table: str | None = None
    stats: LookupStats = field(default_factory=LookupStats)
    _cache: dict[str, _Known | None] = field(default_factory=dict)

    def classify(self, events: Iterable[AssumeRoleEvent]) -> Iterator[ClassifiedEvent]:
        pending: dict[str, list[AssumeRoleEvent]] = {}
        buffered = 0
        for event in events:
            sid = event.effective_source_identity
            parsed = parse_source_identity(sid)
            if parsed is None or self.store is None or parsed.id in self._cache:
                yield self._decide(event)
                continue
            pending.setdefault(parsed.id, []).append(event)
            buffered += 1
            if len(pending) >= BATCH_IDS or buffered >= MAX_BUFFERED_EVENTS:
                yield from self._flush(pending)
                pending, buffered = {}, 0
        if pending:
            yield from self._flush(pending)

    def _flush(self, pending: dict[str, list[AssumeRoleEvent]]) -> Iterator[ClassifiedEvent]:
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
                self._cache[sid] = (
                    _Known(rec.profile, rec.source_identity) if rec is not None else None
                )
        self.stats.distinct_ids = len(self._cache)
        for evs in pending.values():
            for event in evs:
                yield self._decide(event)

    def _decide(self, event: AssumeRoleEvent) -> ClassifiedEvent:
        sid = event.effective_source_identity
        candidates = self.profiles_for_role(event.role_arn)
        label = ",".join(candidates) if candidates else event.role_arn
        via = " (inherited through role chaining)" if event.inherited else ""

        def result(cat: Category, reason: str, session_id: str | None = None,
                   profile: str | None = None) -> ClassifiedEvent:
            profs = (profile,) if profile else candidates
            return ClassifiedEvent(event, cat, reason, profile or label, profs, session_id)

        if not sid:
            return result(Category.NO_SOURCE_IDENTITY,
                          "no SourceIdentity: issued outside Sentinel")
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
        return result(Category.TRACKED, f"server session {parsed.id}{via}", parsed.id,
                      profile=known.profile)

"""From raw CloudTrail records to classified events: the one path every source goes through.

``events -> window -> Deduplicator -> Classifier``. Sources that already hold record dicts
(an Athena query, a test) call :func:`classify_records`; the file and LookupEvents sources
decode their own JSON into :class:`IssuanceEvent` and join at :meth:`Deduplicator.filter`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sentinelgw.audit.classify import ClassifiedEvent, Classifier, RecordLookup
from sentinelgw.audit.events import IssuanceEvent, ParseStats, parse_record
from sentinelgw.audit.window import Window


@dataclass
class Deduplicator:
    """Drops the second and later copies of an event, keyed by sharedEventID, else eventID.

    A cross-account call is delivered to the caller's and the role's account with the same
    keys; the first copy goes on, and the accounts of the later ones are kept so the report can
    show both (:meth:`accounts`). A file delivered twice gives the same keys twice.

    Memory: one hash (Python's randomised ``hash``, so input cannot be crafted to collide) and
    one shared account string per distinct event, about 70 bytes each.
    """

    stats: ParseStats | None = None
    _seen: dict[int, str] = field(default_factory=dict)
    _accounts: dict[str, str] = field(default_factory=dict)  # interned account strings
    _extra: dict[str, set[str]] = field(default_factory=dict)  # key → accounts of later copies

    def filter(self, events: Iterable[IssuanceEvent]) -> Iterator[IssuanceEvent]:
        seen, intern = self._seen, self._accounts
        dropped = 0
        try:
            for event in events:
                key = hash(event.dedup_key)
                account = event.accounts[0] if event.accounts else ""
                first = seen.get(key)
                if first is None:
                    seen[key] = intern.setdefault(account, account)
                    yield event
                    continue
                dropped += 1
                if account and account != first:
                    self._extra.setdefault(event.dedup_key, set()).add(account)
        finally:
            if self.stats is not None:
                self.stats.add(duplicates=dropped)

    def accounts(self, event: IssuanceEvent) -> tuple[str, ...]:
        """The event's accounts, with those of its dropped copies."""
        extra = self._extra.get(event.dedup_key)
        if not extra:
            return event.accounts
        return tuple(sorted(set(event.accounts) | extra))


def events_from_records(
    records: Iterable[Mapping[str, Any]],
    stats: ParseStats,
    *,
    window: Window | None = None,
    where: str = "records",
) -> Iterator[IssuanceEvent]:
    """Issuance events of raw CloudTrail record dicts (other records are passed over).

    A malformed record is counted in ``stats`` and named by ``where`` and its index.
    """
    for index, record in enumerate(records):
        event = parse_record(record, stats, where=where, index=index)
        if event is None:
            continue
        stats.add(records=1)
        if window is None or window.contains(event.event_time):
            stats.add(events=1)
            yield event


def classify_records(
    records: Iterable[Mapping[str, Any]],
    *,
    store: RecordLookup | None,
    profiles_for_role: Callable[[str], tuple[str, ...]],
    window: Window | None = None,
    table: str | None = None,
    include_aws_service: bool = False,
    stats: ParseStats | None = None,
    dedup: Deduplicator | None = None,
    where: str = "records",
) -> Iterator[ClassifiedEvent]:
    """Raw CloudTrail record dicts → deduplicated, classified events, streamed.

    ``store`` is the session table (None: every Sentinel value is orphaned),
    ``profiles_for_role`` maps a role ARN to profile names (a
    :class:`~sentinelgw.audit.profiles.ProfileResolver`). Pass your own ``stats`` and ``dedup``
    to read the counters and merged accounts afterwards.
    """
    stats = stats if stats is not None else ParseStats()
    dedup = dedup if dedup is not None else Deduplicator(stats)
    if dedup.stats is None:
        dedup.stats = stats
    classifier = Classifier(
        store, profiles_for_role, table=table, include_aws_service=include_aws_service
    )
    events = events_from_records(records, stats, window=window, where=where)
    return classifier.classify(dedup.filter(events))

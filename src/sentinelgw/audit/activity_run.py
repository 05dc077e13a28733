"""``session-activity`` end to end: the sessions' records, one source, the report.

Sources, as for the other audits (``--source``):

- LookupEvents (default): one listing per access key the sessions were issued
  (``LookupAttributes AccessKeyId``); a successful AssumeRole made with one of them issued a
  chained session, whose key is listed in turn. LookupEvents keeps 90 days.
- a folder or ``s3://`` of log files: the audit's readers with the activity decoder, matching
  keys and SourceIdentity;
- ``athena:DB.TABLE``: :func:`sentinelgw.audit.activity_sql.activity_query`.

A source that cannot be read fails the run (exit 2), as the audit does; ``--allow-unreadable``
reports without the unreadable files, naming them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelgw.audit.activity import (
    ActivityEvent,
    ActivityReport,
    Matcher,
    SessionTarget,
    collect,
    default_window,
    no_keys_warning,
    session_targets,
)
from sentinelgw.audit.activity_sql import athena_activity
from sentinelgw.audit.athena import QueryStats, athena_source
from sentinelgw.audit.checks import fail_closed
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.sources import Pacing, folder_events, lookup_pages, parse_source, s3_events
from sentinelgw.audit.window import Progress, Window
from sentinelgw.errors import UsageError
from sentinelgw.sessions.store import open_store

if TYPE_CHECKING:
    from sentinelgw.audit.athena import AthenaSource
    from sentinelgw.context import Context


@dataclass(frozen=True, slots=True)
class ActivityInput:
    session_ids: tuple[str, ...]
    since: datetime | None = None  # None: just before the first session started
    until: datetime | None = None  # None: two hours after the last one ended (or now)
    source: str | None = None
    table: str | None = None
    region: str | None = None
    allow_unreadable: bool = False
    athena: AthenaSource | None = None
    pacing: Pacing = Pacing()


def targets(app: Context, inp: ActivityInput) -> tuple[list[SessionTarget], Window]:
    """The sessions' records and the window to read."""
    store = open_store(app, inp.table, inp.region)
    found = session_targets(store, inp.session_ids)
    start, end = default_window(found, app.now())
    start = inp.since or start
    end = inp.until or (max(end, start) if inp.since else end)
    if start > end:
        raise UsageError("--since is after --until", hint="Give an earlier --since")
    return found, Window(start, end)


def session_activity(
    app: Context,
    inp: ActivityInput,
    *,
    stats: ParseStats | None = None,
    query: QueryStats | None = None,
    progress: Progress | None = None,
    found: tuple[list[SessionTarget], Window] | None = None,
) -> ActivityReport:
    sessions, window = found or targets(app, inp)
    stats = stats if stats is not None else ParseStats()
    src = parse_source(inp.source)
    warnings = no_keys_warning(sessions, src.kind == "lookup")
    matcher = Matcher(sessions)
    events = open_activity(app, inp, src.kind, src.value, matcher, window, stats, query, progress)
    report = ActivityReport(
        sessions,
        window.start,
        window.end,
        "CloudTrail LookupEvents" if src.kind == "lookup" else src.value,
        collect(events),
        warnings,
        tuple(stats.unreadable),
    )
    fail_closed(stats.unreadable, allowed=inp.allow_unreadable)
    return report


def open_activity(
    app: Context,
    inp: ActivityInput,
    kind: str,
    value: str,
    matcher: Matcher,
    window: Window,
    stats: ParseStats,
    query: QueryStats | None = None,
    progress: Progress | None = None,
) -> Iterator[ActivityEvent]:
    decoders: dict[str, Any] = {"decode": matcher.decode_whole, "parse": matcher.parse}
    if kind == "folder":
        path = Path(value).expanduser()
        found: Iterator[ActivityEvent] = folder_events(
            path, window, stats, progress=progress, **decoders
        )  # type: ignore[assignment]
        return found
    if kind == "s3":
        client = app.client("s3", inp.region)
        listed: Iterator[ActivityEvent] = s3_events(
            client, value, window, stats, progress=progress, **decoders
        )  # type: ignore[assignment]
        return listed
    if kind == "lookup":
        client = app.client("cloudtrail", inp.region, max_attempts=0)
        return lookup_activity(client, matcher, window, stats, pacing=inp.pacing)
    if kind == "athena":
        return athena_activity(
            app.client("athena", inp.region),
            inp.athena or athena_source(value),
            matcher,
            window,
            stats,
            query if query is not None else QueryStats(),
            progress=progress,
        )
    raise UsageError(f"--source {inp.source!r}: no reader for {kind} sources")


def lookup_activity(
    client: Any,
    matcher: Matcher,
    window: Window,
    stats: ParseStats,
    *,
    pacing: Pacing = Pacing(),
    **timing: Any,
) -> Iterator[ActivityEvent]:
    """Every call made with the sessions' keys, and with the keys chained from them."""
    todo = list(matcher.by_key)
    done: set[str] = set()
    while todo:
        key = todo.pop(0)
        if key in done:
            continue
        done.add(key)
        params = {
            "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": key}],
            "StartTime": window.start,
            "EndTime": window.end,
            "MaxResults": 50,
        }
        listed: list[ActivityEvent] = []
        for page in lookup_pages(client, params, stats, pacing=pacing, **timing):
            for item in page.get("Events") or []:
                event = _from_item(item, matcher, stats)
                if event is None or not window.contains(event.event_time):
                    continue
                stats.add(events=1)
                listed.append(event)
                if event.issued_key and event.issued_key not in done:
                    matcher.follow(event.issued_key, event.session_id)
                    todo.append(event.issued_key)
        yield from reversed(listed)  # LookupEvents lists newest first


def _from_item(item: Any, matcher: Matcher, stats: ParseStats) -> ActivityEvent | None:
    if not isinstance(item, dict) or not isinstance(item.get("CloudTrailEvent"), str):
        stats.bad("LookupEvents item without a CloudTrailEvent", where="LookupEvents")
        return None
    where = "LookupEvents event " + str(item.get("EventId") or "?")
    return matcher.decode_record(item["CloudTrailEvent"], stats, where=where)


def ids_of(values: Sequence[str]) -> tuple[str, ...]:
    """Session ids from arguments; commas also separate them."""
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())

"""The two audits, end to end: open a source, deduplicate, classify against the store, build
a report, and fail closed when log files were unreadable.

These functions return data; the CLI renders it. AWS clients, the store and the policy are
made from the :class:`~sentinelgw.context.Context` here so tests can hand in a sandboxed one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelgw.audit.athena import AthenaSource, QueryStats, athena_events, athena_source
from sentinelgw.audit.checks import check_filters, fail_closed, named_profiles
from sentinelgw.audit.classify import ClassifiedEvent, Classifier, LookupStats, RecordLookup
from sentinelgw.audit.events import IssuanceEvent, ParseStats
from sentinelgw.audit.pipeline import Deduplicator
from sentinelgw.audit.profiles import ProfileResolver
from sentinelgw.audit.report import (
    ComplianceReport,
    UntrackedReport,
    build_compliance,
    build_untracked,
)
from sentinelgw.audit.sources import (
    Pacing,
    folder_events,
    lookup_events,
    parse_source,
    s3_events,
)
from sentinelgw.audit.window import Progress, Window
from sentinelgw.errors import SentinelError, UsageError
from sentinelgw.policy import Effect, required_for_profile
from sentinelgw.policy.source import open_policy_source
from sentinelgw.sessions.store import open_store

if TYPE_CHECKING:
    from sentinelgw.context import Context
    from sentinelgw.policy import Policy


@dataclass(frozen=True, slots=True)
class AuditInput:
    """What both audits share, as parsed from the command line."""

    window: Window
    source: str | None = None  # None: LookupEvents; "s3://bucket/prefix"; a folder
    table: str | None = None  # --table; None: the configured default
    region: str | None = None  # --region for CloudTrail and the table; None: app.region()
    role: str | None = None
    profile: str | None = None
    pacing: Pacing = Pacing()
    allow_unreadable: bool = False  # report without unreadable files instead of failing
    include_aws_service: bool = False  # count calls by AWS services as gaps
    keep_all: bool = False  # report every event, not only the gaps
    athena: AthenaSource | None = None  # workgroup, output and polling of an athena: source


@dataclass
class AuditRun:
    """Counters of one run, for warnings and for the benchmark."""

    parse: ParseStats = field(default_factory=ParseStats)
    lookups: LookupStats = field(default_factory=LookupStats)
    table: str | None = None
    dedup: Deduplicator = field(default_factory=Deduplicator)
    # Session items that could not be decoded: their events read as having no record.
    unreadable_items: list[str] = field(default_factory=list)
    query: QueryStats = field(default_factory=QueryStats)  # the Athena query, if any

    def __post_init__(self) -> None:
        self.dedup.stats = self.parse


def open_table(
    app: Context, table_flag: str | None, region: str | None, run: AuditRun | None = None
) -> tuple[str, RecordLookup]:
    """The session table to check against: ``--table``, else the configured default.

    An item that cannot be decoded is skipped and named in ``run.unreadable_items``: one
    broken item never stops the audit, and the events that name it count as without record.
    """
    store = open_store(app, table_flag, region)
    if run is not None:
        store.on_unreadable = lambda exc: run.unreadable_items.append(str(exc))
    return store.table, store


def open_events(
    app: Context,
    inp: AuditInput,
    stats: ParseStats,
    progress: Progress | None = None,
    query: QueryStats | None = None,
) -> Iterator[IssuanceEvent]:
    src = parse_source(inp.source)
    if src.kind == "lookup":
        client = app.client("cloudtrail", inp.region, max_attempts=0)
        return lookup_events(client, inp.window, stats, pacing=inp.pacing, progress=progress)
    if src.kind == "s3":
        return s3_events(
            app.client("s3", inp.region), src.value, inp.window, stats, progress=progress
        )
    if src.kind == "folder":
        return folder_events(Path(src.value).expanduser(), inp.window, stats, progress=progress)
    if src.kind == "athena":
        return athena_events(
            app.client("athena", inp.region),
            inp.athena or athena_source(src.value),
            inp.window,
            stats,
            query if query is not None else QueryStats(),
            progress=progress,
        )
    raise UsageError(f"--source {inp.source!r}: no reader for {src.kind} sources")


def classified(
    app: Context,
    inp: AuditInput,
    run: AuditRun,
    *,
    store: RecordLookup | None = None,
    resolver: ProfileResolver | None = None,
    progress: Progress | None = None,
) -> Iterator[ClassifiedEvent]:
    """Classified, deduplicated events of the window after the ``--role``/``--profile``
    filters."""
    if inp.window.start > inp.window.end:
        raise UsageError("--since is after --until", hint="Give an earlier --since")
    resolver = resolver or ProfileResolver.from_aws_config()
    if store is None:
        run.table, store = open_table(app, inp.table, inp.region, run)
    classifier = Classifier(
        store,
        resolver,
        table=run.table,
        stats=run.lookups,
        include_aws_service=inp.include_aws_service,
    )
    events: Iterator[IssuanceEvent] = run.dedup.filter(
        open_events(app, inp, run.parse, progress, run.query)
    )
    if inp.role:
        role = inp.role
        events = (
            e for e in events if e.role_arn is not None and resolver.same_role(e.role_arn, role)
        )
    out = classifier.classify(events)
    if inp.profile:
        wanted = inp.profile
        out = (c for c in out if c.profile == wanted or wanted in c.profiles)
    return out


def untracked_sessions(
    app: Context,
    inp: AuditInput,
    run: AuditRun | None = None,
    *,
    required_only: bool = False,
    policy_spec: str | None = None,
    **kw: Any,
) -> UntrackedReport:
    """Every gap; with ``required_only`` the report also counts those on profiles whose rule
    requires tracking (the policy must then be readable: without it, nothing is known to be
    required, and the audit fails closed rather than pass everything)."""
    required = None
    if required_only:
        required = requires_tracking(open_policy_source(policy_spec, app).current())
    run = run or AuditRun()
    resolver = kw.pop("resolver", None) or ProfileResolver.from_aws_config()
    check_filters(inp.role, inp.profile, resolver, lambda: _policy_profiles(app, None))
    report = build_untracked(
        classified(app, inp, run, resolver=resolver, **kw),
        inp.window,
        accounts=run.dedup.accounts,
        keep_all=inp.keep_all,
        unreadable=run.parse.unreadable,
        malformed=run.parse.bad_records,
        required=required,
    )
    fail_closed(run.parse.unreadable, allowed=inp.allow_unreadable)
    return report


def _policy_profiles(app: Context, policy_spec: str | None) -> list[str]:
    """Profile names the policy spells out (patterns with wildcards name none)."""
    try:
        policy = open_policy_source(policy_spec, app).current()
    except SentinelError:
        return []  # no readable policy: it names no profile
    return named_profiles(policy)


def requires_tracking(policy: Policy) -> Callable[[str], bool]:
    """Whether a compliance row's profile has a rule that requires tracked server sessions."""

    def required(profile: str) -> bool:
        # An unmapped role's row is named by its ARN, so a catch-all rule still covers it.
        rule = required_for_profile(policy, profile)
        return rule is not None and rule.effect in (
            Effect.REQUIRE_SERVER_SESSION,
            Effect.REQUIRE_APPROVAL,
        )

    return required


def session_compliance(
    app: Context,
    inp: AuditInput,
    policy_spec: str | None,
    run: AuditRun | None = None,
    **kw: Any,
) -> ComplianceReport:
    policy = open_policy_source(policy_spec, app).current()
    required = requires_tracking(policy)
    run = run or AuditRun()
    resolver = kw.pop("resolver", None) or ProfileResolver.from_aws_config()
    check_filters(inp.role, inp.profile, resolver, lambda: named_profiles(policy))
    also = [inp.profile] if inp.profile else resolver.all_profiles()
    events = classified(app, inp, run, resolver=resolver, **kw)
    report = build_compliance(
        events, inp.window, required, also, only=inp.profile, unreadable=run.parse.unreadable
    )
    fail_closed(run.parse.unreadable, allowed=inp.allow_unreadable)
    return report

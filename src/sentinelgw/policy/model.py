"""The policy model: rules, requests and decisions as frozen values.

Both YAML syntaxes (Sentinel's ``policies:`` list and the Go implementation's
``version: "1"`` / ``rules:``) load into these types; evaluation works on them only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Effect(StrEnum):
    """What a matching rule does; values are spelled as in YAML."""

    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_SERVER = "require_server"
    REQUIRE_SERVER_SESSION = "require_server_session"
    # As require_server_session, and only under an approved access request (issue 21): the
    # credential service checks the request, so without the service it always denies.
    REQUIRE_APPROVAL = "require_approval"


class Mode(StrEnum):
    """How credentials are being requested."""

    CLI = "cli"
    SERVER = "server"
    CREDENTIAL_PROCESS = "credential_process"
    CONSOLE = "console"  # a console sign-in URL (sentinel login)


def hhmm(minute: int) -> str:
    """Minutes after midnight as ``HH:MM`` (1440 renders as ``24:00``)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, kw_only=True)
class TimeWindow:
    """Days of the week and/or an hour range, read as wall-clock time in ``timezone``.

    ``days`` holds weekday numbers (Monday is 0). ``start`` is inclusive and ``end`` exclusive,
    both minutes after midnight; ``end`` may be 1440 (24:00). When ``end <= start`` the window
    wraps midnight, and the part after midnight belongs to the day the window started on, so a
    Friday 22:00–06:00 window covers Saturday 03:00 but not Friday 03:00.
    """

    days: frozenset[int] | None = None
    start: int | None = None
    end: int | None = None
    timezone: str = "UTC"
    # Resolved once by the loader so evaluation never touches the zone database.
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"), compare=False, repr=False)

    @property
    def wraps(self) -> bool:
        return self.start is not None and self.end is not None and self.end <= self.start

    def hours_text(self) -> str:
        if self.start is None or self.end is None:
            return "any time"
        return f"{hhmm(self.start)}–{hhmm(self.end)}"

    def days_text(self) -> str:
        if self.days is None:
            return "any day"
        return ", ".join(DAY_NAMES[d] for d in sorted(self.days))


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One policy rule. ``None`` for a condition means it matches anything.

    ``index`` is the 0-based position in the policy; ``where`` is ``file:line`` of the rule.
    Unnamed rules get the name ``rule-<index+1>`` so messages can always name them.
    """

    name: str
    index: int
    effect: Effect
    profiles: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None
    role_arns: tuple[str, ...] | None = None
    modes: tuple[Mode, ...] | None = None
    time: TimeWindow | None = None
    session_table: str | None = None
    max_server_duration: timedelta | None = None
    reason: str | None = None
    where: str = ""

    def label(self) -> str:
        """``'name' (file:line)`` for messages."""
        return f"'{self.name}' ({self.where})" if self.where else f"'{self.name}'"


@dataclass(frozen=True, kw_only=True)
class Policy:
    """An ordered list of rules; the first whose conditions all hold decides."""

    rules: tuple[Rule, ...]
    source: str = ""
    syntax: str = field(default="policies", compare=False)  # "policies" or "rules"


@dataclass(frozen=True, kw_only=True)
class Request:
    """A credential request to decide. ``at`` must be timezone-aware.

    ``session_table`` is the table from ``--session-table`` / ``SENTINEL_SESSION_TABLE`` /
    ``defaults.session_table`` (see :mod:`sentinelgw.session_table`); a matched rule's own table
    overrides it. ``user`` None means the identity is unknown: rules with a user condition then
    do not match. ``role_arn`` is the role the profile resolves to, when the caller knows it (the
    credential service always does); None means unknown, and rules with a ``role_arn`` condition
    then do not match.
    """

    profile: str
    user: str | None
    mode: Mode
    at: datetime
    role_arn: str | None = None
    session_table: str | None = None
    session_table_source: str | None = None
    no_session_tracking: bool = False
    # defaults.session_table from the config files, whatever --session-table or the
    # environment say: the only table a require_server_session rule without its own
    # session_table accepts, because a table the requester names could be a decoy.
    config_session_table: str | None = None
    # The credential service issues and tracks this session itself (in its own table, with
    # every credential request checked there), so a server or tracking requirement is met
    # whatever the client's mode.
    via_service: bool = False
    # The id of an approved access request that covers this profile for this user now (only
    # the credential service can know one); a require_approval rule denies without it.
    approved_request: str | None = None


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The answer to a request: allowed or not, by which rule, and why.

    ``effect`` is the matched rule's effect (None if no rule matched); ``allowed`` is the effect
    resolved for the request's mode and table. ``denial`` is None when allowed, else one of
    ``no_match``, ``deny``, ``not_server``, ``no_session_table``, ``tracking_disabled``,
    ``untrusted_session_table``, ``no_approval``.
    ``skipped`` lists ``(index, rule name, why it did not match)`` for each earlier rule.
    """

    allowed: bool
    effect: Effect | None
    rule: Rule | None
    rule_index: int | None
    reason: str
    requires_server: bool
    requires_session_tracking: bool
    session_table: str | None
    session_table_source: str | None
    tracking: bool
    denial: str | None
    max_server_duration: timedelta | None
    skipped: tuple[tuple[int, str | None, str], ...] = ()
    # A require_approval rule matched: the approved request it was allowed under, if any.
    requires_approval: bool = False
    approved_request: str | None = None


DENIALS = (
    "no_match",
    "deny",
    "not_server",
    "no_session_table",
    "tracking_disabled",
    "untrusted_session_table",
    "no_approval",
)

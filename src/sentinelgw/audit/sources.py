"""Where issuance events come from: CloudTrail LookupEvents, or log files in S3 or a folder.

Every source is an iterator of :class:`IssuanceEvent` inside a time window, streamed: pages
and files are parsed as they arrive and never collected. File sources read CloudTrail's
delivery layout::

    [prefix/]AWSLogs/[<o-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz

Only the date folders that can hold events of the window are listed; digest
(``CloudTrail-Digest``) and Insight (``CloudTrail-Insight``) folders are not log files. Files
are read by a bounded pool of threads (inflating and network I/O release the GIL). A file that
cannot be read, inflated or parsed is named in :attr:`ParseStats.unreadable`; the run decides
whether that fails it.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sentinelgw.audit.decode import decode_record
from sentinelgw.audit.events import (
    EVENT_SOURCE,
    ISSUANCE_EVENTS,
    IssuanceEvent,
    ParseStats,
    parse_time,
)
from sentinelgw.audit.readers import Opener, read_parallel
from sentinelgw.audit.readers import parse_log_bytes as parse_log_bytes
from sentinelgw.audit.stream import Readable
from sentinelgw.audit.window import Progress, Window
from sentinelgw.awserrors import aws_call
from sentinelgw.errors import AuditError, UsageError
from sentinelgw.wording import counted

_THROTTLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
_DATE_PART = re.compile(r"^\d{2,4}$")
_NOT_LOGS = {"CloudTrail-Digest", "CloudTrail-Insight"}


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed ``--source``: ``kind`` names the reader, ``value`` is what it reads."""

    kind: str  # "lookup", "s3", "folder", or a kind registered in SCHEMES
    value: str


# ``--source`` prefixes and the kind of source they select. A new source registers its prefix
# here and its reader in :func:`sentinelgw.audit.run.open_events`.
SCHEMES: dict[str, str] = {"s3://": "s3", "athena:": "athena"}


def parse_source(spec: str | None) -> SourceSpec:
    """``None`` → LookupEvents; a registered prefix → that kind; anything else → a folder."""
    if spec is None:
        return SourceSpec("lookup", "")
    if not spec.strip():
        raise UsageError(
            "--source is empty", hint="Pass s3://bucket/prefix or a folder, or leave --source out"
        )
    for prefix, kind in SCHEMES.items():
        if spec.startswith(prefix):
            return SourceSpec(kind, spec)
    return SourceSpec("folder", spec)


@dataclass(frozen=True, slots=True)
class Pacing:
    """LookupEvents allows 2 requests/s per account and region; stay under it and back off."""

    min_interval: float = 0.5
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0


# --- LookupEvents ---------------------------------------------------------------------------


def lookup_events(
    client: Any,
    window: Window,
    stats: ParseStats,
    *,
    pacing: Pacing = Pacing(),
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[IssuanceEvent]:
    """Issuance events from ``cloudtrail:LookupEvents``, page by page.

    One stream, ``EventSource=sts.amazonaws.com``, holds every STS call; the six issuing ones
    are kept by their envelope's ``EventName`` before the inner JSON is decoded.

    The client should be made without botocore retries (``max_attempts=0``: botocore counts
    retries there, not attempts) so that throttling reaches this loop:
    it retries with exponential backoff and jitter, at most ``pacing.max_attempts`` times.
    """
    params: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": EVENT_SOURCE}],
        "StartTime": window.start,
        "EndTime": window.end,
        "MaxResults": 50,
    }
    for page in lookup_pages(client, params, stats, pacing=pacing, sleep=sleep, clock=clock):
        for item in page.get("Events") or []:
            event = _from_lookup_item(item, window, stats)
            if event is not None:
                yield event
        if progress is not None:
            progress(
                f"CloudTrail LookupEvents: {counted(stats.pages, 'page')}, "
                f"{counted(stats.events, 'STS event')}"
            )


def lookup_pages(
    client: Any,
    params: dict[str, Any],
    stats: ParseStats,
    *,
    pacing: Pacing = Pacing(),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[dict[str, Any]]:
    """The pages of one LookupEvents listing, paced and retried on throttling."""
    params = dict(params)
    last_call: float | None = None
    token: str | None = None
    while True:
        if token:
            params["NextToken"] = token
        attempt = 0
        while True:
            if last_call is not None:
                wait = pacing.min_interval - (clock() - last_call)
                if wait > 0:
                    sleep(wait)
            last_call = clock()
            try:
                with aws_call("cloudtrail", "LookupEvents", raises=AuditError):
                    page = client.lookup_events(**params)
                break
            except AuditError as exc:
                if exc.aws_code in _THROTTLE_CODES and attempt + 1 < pacing.max_attempts:
                    stats.add(throttled=1)
                    delay = min(pacing.max_delay, pacing.base_delay * 2**attempt)
                    # Equal jitter: never less than half the delay, so retries do spread out.
                    sleep(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311
                    attempt += 1
                    continue
                raise
        stats.add(pages=1)
        yield page
        token = page.get("NextToken")
        if not token:
            return


def _from_lookup_item(item: Any, window: Window, stats: ParseStats) -> IssuanceEvent | None:
    if not isinstance(item, dict):
        stats.bad("LookupEvents item is not an object", where="LookupEvents")
        return None
    name = item.get("EventName")
    if name is not None and (not isinstance(name, str) or name not in ISSUANCE_EVENTS):
        return None  # another STS call (GetCallerIdentity, DecodeAuthorizationMessage, ...)
    event_id = _opt_str(item.get("EventId"))
    where = f"LookupEvents event {event_id or '?'}"
    raw = item.get("CloudTrailEvent")
    if not isinstance(raw, str):
        if name is not None:
            stats.bad("CloudTrailEvent is missing", where=where)
        return None
    event = decode_record(
        raw,
        stats,
        where=where,
        fallback_id=event_id,
        fallback_time=parse_time(item.get("EventTime")),
    )
    if event is None:
        return None
    stats.add(records=1)
    if not window.contains(event.event_time):
        return None
    stats.add(events=1)
    return event


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- log files ------------------------------------------------------------------------------


def _date_ok(parts: list[str], lo: date, hi: date) -> bool:
    """Whether a partial date path (``YYYY``, ``YYYY/MM``, ``YYYY/MM/DD``) meets [lo, hi]."""
    try:
        nums = [int(p) for p in parts]
        if len(nums) == 1:
            return lo.year <= nums[0] <= hi.year
        if len(nums) == 2:
            return (lo.year, lo.month) <= (nums[0], nums[1]) <= (hi.year, hi.month)
        return lo <= date(nums[0], nums[1], nums[2]) <= hi
    except ValueError:
        return True  # not a date after all: do not prune what we do not understand


def _date_parts(rel: tuple[str, ...]) -> list[str] | None:
    """The date components after ``CloudTrail/<region>/`` in a relative path, if any."""
    for i, part in enumerate(rel):
        if part == "CloudTrail" and i + 2 <= len(rel):
            tail = list(rel[i + 2 : i + 5])
            return tail if tail and all(_DATE_PART.match(p) for p in tail) else None
    return None


def folder_files(root: Path, window: Window) -> Iterator[Path]:
    """``*.json.gz`` and ``*.json`` files under ``root``; date folders outside the window,
    digest and Insight folders are pruned, not walked."""
    if not root.is_dir():
        raise AuditError(
            f"--source {str(root)!r} is not a folder or an s3:// URL",
            hint="Pass a folder of CloudTrail log files or s3://bucket/prefix",
        )
    lo, hi = window.delivery_days()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        keep = []
        for d in sorted(dirnames):
            parts = _date_parts((*rel, d))
            if parts is None or _date_ok(parts, lo, hi):
                keep.append(d)
        dirnames[:] = [d for d in keep if d not in _NOT_LOGS]
        for name in sorted(filenames):
            if name.endswith((".json.gz", ".json")):
                yield Path(dirpath) / name


def folder_events(
    root: Path,
    window: Window,
    stats: ParseStats,
    *,
    workers: int = 4,
    progress: Progress | None = None,
    **decoders: Any,
) -> Iterator[IssuanceEvent]:
    """Events of the folder's log files; ``decoders`` (``decode``, ``parse``) go to
    :func:`~sentinelgw.audit.readers.read_parallel`."""

    def opener(path: Path) -> Opener:
        return lambda: path.open("rb")

    units = ((str(p), opener(p)) for p in folder_files(root, window))
    return read_parallel(units, window, stats, workers=workers, progress=progress, **decoders)


# --- S3 -------------------------------------------------------------------------------------


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix ending in ``AWSLogs/``)."""
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise AuditError(f"--source {url!r} names no bucket", hint="Use s3://bucket/prefix")
    prefix = prefix.strip("/")
    if not prefix.endswith("AWSLogs"):
        prefix = f"{prefix}/AWSLogs" if prefix else "AWSLogs"
    return bucket, prefix + "/"


def _list(client: Any, bucket: str, prefix: str, *, delimiter: bool) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        kwargs["Delimiter"] = "/"
    with aws_call("s3", "ListObjectsV2", f"s3://{bucket}/{prefix}", raises=AuditError):
        yield from client.get_paginator("list_objects_v2").paginate(**kwargs)


def _children(client: Any, bucket: str, prefix: str) -> list[str]:
    out: list[str] = []
    for page in _list(client, bucket, prefix, delimiter=True):
        for cp in page.get("CommonPrefixes") or []:
            out.append(cp["Prefix"])
    return out


def s3_region_prefixes(client: Any, bucket: str, logs_prefix: str) -> list[str]:
    """``…/CloudTrail/<region>/`` prefixes of every account, including organisation trails."""
    accounts: list[str] = []
    for child in _children(client, bucket, logs_prefix):
        name = child[len(logs_prefix) :].strip("/")
        if name.startswith("o-"):  # organisation trail: AWSLogs/<o-id>/<account>/
            accounts.extend(_children(client, bucket, child))
        else:
            accounts.append(child)
    regions: list[str] = []
    for acct in accounts:
        regions.extend(_children(client, bucket, f"{acct}CloudTrail/"))
    return regions


def s3_keys(client: Any, bucket: str, logs_prefix: str, window: Window) -> Iterator[str]:
    lo, hi = window.delivery_days()
    for region_prefix in s3_region_prefixes(client, bucket, logs_prefix):
        day = lo
        while day <= hi:
            prefix = f"{region_prefix}{day:%Y/%m/%d}/"
            for page in _list(client, bucket, prefix, delimiter=False):
                for obj in page.get("Contents") or []:
                    if obj["Key"].endswith((".json.gz", ".json")):
                        yield obj["Key"]
            day += timedelta(days=1)


def s3_events(
    client: Any,
    url: str,
    window: Window,
    stats: ParseStats,
    *,
    workers: int = 8,
    progress: Progress | None = None,
    **decoders: Any,
) -> Iterator[IssuanceEvent]:
    bucket, logs_prefix = parse_s3_url(url)

    def opener(key: str) -> Opener:
        def open_object() -> Readable:
            with aws_call("s3", "GetObject", f"s3://{bucket}/{key}", raises=AuditError):
                body: Readable = client.get_object(Bucket=bucket, Key=key)["Body"]
            return _S3Body(body, f"s3://{bucket}/{key}")

        return open_object

    keys = s3_keys(client, bucket, logs_prefix, window)
    units = ((f"s3://{bucket}/{k}", opener(k)) for k in keys)
    return read_parallel(units, window, stats, workers=workers, progress=progress, **decoders)


class _S3Body:
    """An object body read in chunks; a broken download is an OSError (the file is unreadable)."""

    def __init__(self, body: Any, name: str) -> None:
        self._body = body
        self._name = name

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._body.read(size)
        except Exception as exc:  # urllib3/botocore read errors mid-download
            raise OSError(f"download of {self._name} failed ({type(exc).__name__})") from exc
        return data

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()

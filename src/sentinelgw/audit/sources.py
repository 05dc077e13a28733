"""Where AssumeRole events come from: CloudTrail LookupEvents, or log files in S3 or a folder.

Every source is an iterator of :class:`AssumeRoleEvent` inside a time window, streamed: pages
and files are parsed as they arrive and never collected. File sources read CloudTrail's
delivery layout (the S3 key scheme CloudTrail writes log files under)::

    [prefix/]AWSLogs/[<o-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz

Only the date folders that can hold events of the window are listed, files are read by a
bounded thread pool (gzip and network I/O release the GIL), and a file whose text does not
contain ``"AssumeRole"`` at all is skipped without being parsed.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sentinelgw.audit.events import AssumeRoleEvent, ParseStats, parse_record, parse_time
from sentinelgw.errors import AuditError, SentinelError

Progress = Callable[[str], None]

_THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException",
                   "RequestLimitExceeded"}
_DATE_PART = re.compile(r"^\d{2,4}$")
_NEEDLE = b'"AssumeRole"'


@dataclass(frozen=True, slots=True)
class Window:
    """The audit window; both ends inclusive, as LookupEvents' StartTime/EndTime are."""

    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= at <= self.end

    def delivery_days(self) -> tuple[date, date]:
        """Date folders that can hold the window's events.

        A file lands in the folder of its *delivery* time, about 5 minutes (not guaranteed)
        after its events, so events of the last minutes of a day may sit in the next day's
        folder: read one extra day.
        """
        return self.start.date(), (self.end + timedelta(days=1)).date()


@dataclass(frozen=True, slots=True)
class Pacing:
    """LookupEvents allows 2 requests/s per account and region; stay under it and back off."""

    min_interval: float = 0.5
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0


def _audit_error(exc: BaseException, service: str, operation: str, resource: str) -> AuditError:
    from sentinelgw.awsclients import translate

    err = translate(exc, service, operation, resource)
    return AuditError(f"the audit could not run: {err.message}", hint=err.hint)


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
) -> Iterator[AssumeRoleEvent]:
    """AssumeRole events from ``cloudtrail:LookupEvents``, page by page.

    The client should be made without botocore retries (``max_attempts=0``: botocore counts
    retries there, not attempts) so that throttling reaches this loop:
    it retries with exponential backoff and jitter, at most ``pacing.max_attempts`` times.
    """
    params: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}],
        "StartTime": window.start,
        "EndTime": window.end,
        "MaxResults": 50,
    }
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
                page = client.lookup_events(**params)
                break
            except Exception as exc:
                from sentinelgw.awsclients import error_code

                if error_code(exc) in _THROTTLE_CODES and attempt + 1 < pacing.max_attempts:
                    stats.add(throttled=1)
                    delay = min(pacing.max_delay, pacing.base_delay * 2**attempt)
                    # Equal jitter: never less than half the delay, so retries do spread out.
                    sleep(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311
                    attempt += 1
                    continue
                if isinstance(exc, SentinelError):
                    raise
                raise _audit_error(exc, "cloudtrail", "LookupEvents", "") from exc
        stats.add(pages=1)
        for item in page.get("Events") or []:
            event = _from_lookup_item(item, window, stats)
            if event is not None:
                yield event
        if progress is not None:
            progress(f"CloudTrail LookupEvents: {stats.pages} pages, {stats.events} events")
        token = page.get("NextToken")
        if not token:
            return


def _from_lookup_item(item: Any, window: Window, stats: ParseStats) -> AssumeRoleEvent | None:
    if not isinstance(item, dict):
        stats.bad("LookupEvents item is not an object")
        return None
    raw = item.get("CloudTrailEvent")
    if not isinstance(raw, str) or "AssumeRole" not in raw:
        if item.get("EventName") == "AssumeRole":
            stats.bad(f"event {item.get('EventId')}: CloudTrailEvent is missing")
        return None
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        stats.bad(f"event {item.get('EventId')}: CloudTrailEvent is not valid JSON")
        return None
    stats.add(records=1)
    event = parse_record(record, stats, fallback_id=_opt_str(item.get("EventId")),
                         fallback_time=parse_time(item.get("EventTime")))
    if event is None or not window.contains(event.event_time):
        return None
    stats.add(events=1)
    return event


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- log files ------------------------------------------------------------------------------


# CloudTrail delivers files of a few MB; anything that inflates past this is hostile (a gzip
# bomb) and is skipped rather than decompressed into memory.
MAX_LOG_BYTES = 512 * 1024 * 1024


class LogTooLarge(ValueError):
    """A log file decompresses to more than MAX_LOG_BYTES."""


def gunzip_bounded(data: bytes, limit: int = MAX_LOG_BYTES) -> bytes:
    """gzip.decompress (all members), refusing output larger than ``limit``."""
    out: list[bytes] = []
    total = 0
    while data:
        d = zlib.decompressobj(wbits=31)
        chunk = d.decompress(data, limit - total + 1)
        total += len(chunk)
        out.append(chunk)
        if total > limit or d.unconsumed_tail:
            raise LogTooLarge(f"decompresses to more than {limit} bytes")
        if not d.eof:
            raise EOFError("truncated gzip member")
        data = d.unused_data.lstrip(b"\x00")
    return b"".join(out)


def parse_log_bytes(
    name: str, data: bytes, window: Window, stats: ParseStats
) -> list[AssumeRoleEvent]:
    """AssumeRole events in the window from one log file's bytes (gzip or plain JSON)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gunzip_bounded(data)
        except LogTooLarge as exc:
            stats.bad(f"{name}: skipped, {exc}")
            return []
        except (OSError, EOFError, ValueError, zlib.error) as exc:  # zlib.error: bad blocks
            stats.bad(f"{name}: not a readable gzip file ({type(exc).__name__})")
            return []
    stats.add(files=1)
    if _NEEDLE not in data:  # the cheap pre-filter: most files hold no AssumeRole at all
        stats.add(files_skipped=1)
        return []
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # deep nesting raises RecursionError, not ValueError
        stats.bad(f"{name}: not valid JSON")
        return []
    records = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        stats.bad(f"{name}: no 'Records' list")
        return []
    out: list[AssumeRoleEvent] = []
    looked = 0
    for record in records:
        # Check the name on the dict before building anything from the record.
        if isinstance(record, dict) and record.get("eventName") != "AssumeRole":
            continue
        looked += 1
        event = parse_record(record, stats)
        if event is not None and window.contains(event.event_time):
            out.append(event)
    stats.add(records=looked, events=len(out))
    return out


def read_parallel(
    units: Iterable[tuple[str, Callable[[], bytes]]],
    window: Window,
    stats: ParseStats,
    *,
    workers: int = 8,
    progress: Progress | None = None,
) -> Iterator[AssumeRoleEvent]:
    """Read and parse files with a bounded pool, yielding events as each file completes.

    At most ``2 * workers`` files are in flight, so memory stays bounded whatever the total.
    """

    def work(name: str, read: Callable[[], bytes]) -> list[AssumeRoleEvent]:
        try:
            data = read()
        except SentinelError:
            raise
        except LogTooLarge as exc:
            stats.bad(f"{name}: skipped, {exc}")
            return []
        except (OSError, EOFError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            stats.bad(f"{name}: cannot read ({why})")
            return []
        return parse_log_bytes(name, data, window, stats)

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[Future[list[AssumeRoleEvent]]] = deque()
        try:
            for name, read in units:
                pending.append(pool.submit(work, name, read))
                while len(pending) >= 2 * workers:
                    yield from pending.popleft().result()
                    done += 1
                    _tick(progress, done, stats)
            while pending:
                yield from pending.popleft().result()
                done += 1
                _tick(progress, done, stats)
        finally:
            for fut in pending:
                fut.cancel()


def _tick(progress: Progress | None, done: int, stats: ParseStats) -> None:
    if progress is not None and done % 20 == 0:
        progress(f"CloudTrail log files: {done} read, {stats.events} AssumeRole events")


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
            tail = list(rel[i + 2:i + 5])
            return tail if tail and all(_DATE_PART.match(p) for p in tail) else None
    return None


def folder_files(root: Path, window: Window) -> Iterator[Path]:
    """``*.json.gz`` and ``*.json`` files under ``root``; date folders outside the window
    are pruned, not walked."""
    if not root.is_dir():
        raise AuditError(f"--source {str(root)!r} is not a folder or an s3:// URL",
                         hint="Pass a folder of CloudTrail log files or s3://bucket/prefix")
    lo, hi = window.delivery_days()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        keep = []
        for d in sorted(dirnames):
            parts = _date_parts((*rel, d))
            if parts is None or _date_ok(parts, lo, hi):
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.endswith((".json.gz", ".json")):
                yield Path(dirpath) / name


def folder_events(
    root: Path, window: Window, stats: ParseStats, *, workers: int = 4,
    progress: Progress | None = None,
) -> Iterator[AssumeRoleEvent]:
    units = ((str(p), p.read_bytes) for p in folder_files(root, window))
    return read_parallel(units, window, stats, workers=workers, progress=progress)


# --- S3 -------------------------------------------------------------------------------------


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix ending in ``AWSLogs/``)."""
    rest = url[len("s3://"):]
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
    try:
        yield from client.get_paginator("list_objects_v2").paginate(**kwargs)
    except SentinelError:
        raise
    except Exception as exc:
        raise _audit_error(exc, "s3", "ListObjectsV2", f"s3://{bucket}/{prefix}") from exc


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
        name = child[len(logs_prefix):].strip("/")
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
    client: Any, url: str, window: Window, stats: ParseStats, *, workers: int = 8,
    progress: Progress | None = None,
) -> Iterator[AssumeRoleEvent]:
    bucket, logs_prefix = parse_s3_url(url)

    def reader(key: str) -> Callable[[], bytes]:
        def read() -> bytes:
            try:
                body = client.get_object(Bucket=bucket, Key=key)["Body"]
                # Decompress while downloading rather than holding the compressed copy too.
                with gzip.GzipFile(fileobj=body) if key.endswith(".gz") else body as stream:
                    data: bytes = stream.read(MAX_LOG_BYTES + 1)
                if len(data) > MAX_LOG_BYTES:
                    raise LogTooLarge(f"s3://{bucket}/{key} decompresses to more than "
                                      f"{MAX_LOG_BYTES} bytes")
                return data
            except (OSError, EOFError):
                raise  # a corrupt file: counted and skipped by the reader
            except Exception as exc:
                raise _audit_error(exc, "s3", "GetObject", f"s3://{bucket}/{key}") from exc

        return read

    keys = s3_keys(client, bucket, logs_prefix, window)
    units = ((f"s3://{bucket}/{k}", reader(k)) for k in keys)
    return read_parallel(units, window, stats, workers=workers, progress=progress)

"""Decoding CloudTrail JSON into issuance events, fast on well-formed input.

A log file is ``{"Records": [...]}``. The fast path decodes it with msgspec into typed structs
that hold only the fields the audit reads, so the rest of each record is skipped rather than
built into dicts. Any type surprise (hostile or unusual input) sends the file down the careful
path: each record is decoded on its own, typed first, and a record that still does not fit is
decoded as plain JSON and read by :func:`sentinelgw.audit.events.parse_record`, which treats
every mistyped field as absent. Both paths produce the same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec

from sentinelgw.audit.events import (
    EVENT_SOURCE,
    ISSUANCE_EVENTS,
    IssuanceEvent,
    ParseStats,
    Record,
    build_event,
    parse_record,
)


class _Log(msgspec.Struct):
    Records: list[Record]


class _RawLog(msgspec.Struct):
    Records: list[msgspec.Raw]


_LOG = msgspec.json.Decoder(_Log)
_RAW_LOG = msgspec.json.Decoder(_RawLog)
_RECORD = msgspec.json.Decoder(Record)
_ANY = msgspec.json.Decoder()


class Unreadable(ValueError):
    """A document that is not a CloudTrail log file: not JSON, or no ``Records`` list."""


def _typed(r: Record, stats: ParseStats, where: str, index: int) -> IssuanceEvent | None:
    if r.eventName not in ISSUANCE_EVENTS or r.eventSource not in (None, EVENT_SOURCE):
        return None
    return build_event(r, stats, where=where, index=index)


def decode_record(
    raw: bytes | str,
    stats: ParseStats,
    *,
    where: str,
    index: int | None = None,
    fallback_id: str | None = None,
    fallback_time: datetime | None = None,
) -> IssuanceEvent | None:
    """One record's JSON text → event (None when it is not an issuance event or malformed)."""
    try:
        r = _RECORD.decode(raw)
    except msgspec.ValidationError:
        pass  # valid JSON of an unexpected shape: read it field by field below
    except (msgspec.DecodeError, RecursionError):
        stats.bad("not valid JSON", where=where, index=index)
        return None
    else:
        if r.eventName not in ISSUANCE_EVENTS or r.eventSource not in (None, EVENT_SOURCE):
            return None
        return build_event(
            r,
            stats,
            where=where,
            index=index,
            fallback_id=fallback_id,
            fallback_time=fallback_time,
        )
    try:
        value: Any = _ANY.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        stats.bad("not valid JSON", where=where, index=index)
        return None
    return parse_record(
        value, stats, where=where, index=index, fallback_id=fallback_id, fallback_time=fallback_time
    )


def decode_log(data: bytes, where: str, stats: ParseStats) -> Iterator[IssuanceEvent]:
    """Every issuance event of one whole log file; raises :class:`Unreadable`."""
    try:
        doc = _LOG.decode(data)
    except msgspec.ValidationError:
        yield from _careful(data, where, stats)
        return
    except (msgspec.DecodeError, RecursionError) as exc:
        raise Unreadable(f"not valid JSON ({_short(exc)})") from None
    stats.add(files=1)
    looked = 0
    for index, r in enumerate(doc.Records):
        if r.eventName in ISSUANCE_EVENTS:
            looked += 1
            event = _typed(r, stats, where, index)
            if event is not None:
                yield event
    stats.add(records=looked)


def _careful(data: bytes, where: str, stats: ParseStats) -> Iterator[IssuanceEvent]:
    try:
        doc = _RAW_LOG.decode(data)
    except msgspec.ValidationError:
        raise Unreadable("no 'Records' list") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise Unreadable(f"not valid JSON ({_short(exc)})") from None
    stats.add(files=1)
    for index, raw in enumerate(doc.Records):
        event = decode_record(raw, stats, where=where, index=index)
        if event is not None:
            stats.add(records=1)
            yield event


def validate_log(data: bytes) -> None:
    """Check a file is a CloudTrail log (JSON with a ``Records`` list) without auditing it."""
    try:
        _RAW_LOG.decode(data)
    except msgspec.ValidationError:
        raise Unreadable("no 'Records' list") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise Unreadable(f"not valid JSON ({_short(exc)})") from None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__

"""The record model: item encoding, effective status, export shape. Pure, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sessionhelpers import T0, record

from sentinelgw.sessions.model import (
    EXPORT_FIELDS,
    SessionRecord,
    decode_time,
    encode_time,
    retention_ttl,
)


def test_item_round_trip_keeps_every_field() -> None:
    rec = record(
        7,
        status="revoked",
        revoked_by="arn:aws:iam::123456789012:user/sec",
        revoked_reason="laptop lost",
        revoked_at=T0 + timedelta(minutes=5),
        request_count=42,
    )
    item = rec.to_item()
    assert item["started_at"] == {"N": str(int(rec.started_at.timestamp()))}
    assert item["ttl"]["N"] == str(rec.ttl)
    assert SessionRecord.from_item(item) == rec


def test_optional_and_empty_attributes_are_left_out_of_the_item() -> None:
    item = record(1, source_identity="", host="").to_item()
    assert "source_identity" not in item  # GSI keys may not be empty strings
    assert "host" not in item
    assert "revoked_by" not in item and "revoked_at" not in item
    back = SessionRecord.from_item(item)
    assert back.source_identity == "" and back.revoked_at is None


def test_ttl_is_expiry_plus_retention() -> None:
    rec = record(0)
    assert rec.ttl == int((rec.expires_at + timedelta(days=90)).timestamp())
    assert retention_ttl(T0, 1) == int(T0.timestamp()) + 86400


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
def test_time_encoding_round_trips_to_the_millisecond(dt: datetime) -> None:
    back = decode_time(encode_time(dt))
    assert abs((back - dt).total_seconds()) < 0.001


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError):
        record(0, started_at=datetime(2026, 1, 1))


@pytest.mark.parametrize("bad", ["ABCDEF0123456789", "123", "g" * 16, ""])
def test_ids_must_be_16_lowercase_hex(bad: str) -> None:
    with pytest.raises(ValueError):
        record(0, id=bad)


def test_active_past_expiry_reads_as_expired() -> None:
    rec = record(0, expires_at=T0 + timedelta(minutes=15))
    assert rec.effective_status(T0 + timedelta(minutes=14)) == "active"
    assert rec.effective_status(T0 + timedelta(minutes=16)) == "expired"
    assert rec.to_export(T0 + timedelta(minutes=16))["status"] == "expired"
    revoked = rec.with_status("revoked")
    assert revoked.effective_status(T0 + timedelta(days=1)) == "revoked"


def test_export_has_the_documented_fields_in_iso_utc() -> None:
    rec = record(3, revoked_at=T0, status="revoked", revoked_by="x", revoked_reason="y")
    out = rec.to_export(T0)
    assert tuple(out) == EXPORT_FIELDS
    assert out["started_at"] == "2026-01-24T09:00:03Z"
    assert out["revoked_at"] == "2026-01-24T09:00:00Z"
    assert out["request_count"] == 0
    assert record(0).to_export(T0)["revoked_at"] is None


def test_foreign_item_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="missing"):
        SessionRecord.from_item({"id": {"S": "0" * 16}})


def test_access_key_ids_round_trip_as_a_string_set() -> None:
    from dataclasses import replace

    rec = replace(record(2), access_key_ids=("ASIAB0000000000002", "ASIAA0000000000001"))
    item = rec.to_item()
    assert item["access_key_ids"] == {"SS": ["ASIAA0000000000001", "ASIAB0000000000002"]}
    back = SessionRecord.from_item(item)
    assert back.access_key_ids == ("ASIAA0000000000001", "ASIAB0000000000002")
    assert "access_key_ids" not in record(3).to_item()  # DynamoDB refuses an empty set
    with pytest.raises(ValueError, match="malformed"):
        SessionRecord.from_item({**item, "access_key_ids": {"SS": "ASIA"}})

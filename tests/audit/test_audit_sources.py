"""Event sources: a folder and S3 in CloudTrail's delivery layout, and LookupEvents."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from audithelpers import T0, assume_role, gz_records, log_key, other_event, write_log

from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.sources import (
    Pacing,
    Window,
    folder_events,
    lookup_events,
    parse_s3_url,
    s3_events,
)
from sentinelgw.errors import AuditError

WINDOW = Window(T0, T0 + timedelta(hours=6))


def ids(events: Any) -> set[str]:
    return {e.event_id for e in events}


# --- folder -------------------------------------------------------------------------------


def test_folder_window_edges_are_inclusive(tmp_path: Path) -> None:
    at_start = assume_role(at=WINDOW.start)
    at_end = assume_role(at=WINDOW.end)
    before = assume_role(at=WINDOW.start - timedelta(seconds=1))
    after = assume_role(at=WINDOW.end + timedelta(seconds=1))
    write_log(tmp_path, [before, at_start, other_event()], at=T0)
    write_log(tmp_path, [at_end, after], at=T0 + timedelta(hours=6))
    stats = ParseStats()
    got = ids(folder_events(tmp_path, WINDOW, stats))
    assert got == {at_start["eventID"], at_end["eventID"]}
    assert stats.events == 2 and stats.malformed == 0


def test_folder_prunes_date_folders_outside_the_window(tmp_path: Path) -> None:
    inside = assume_role(at=T0)
    # Late delivery: an event of the window in the next day's folder is still found.
    late = assume_role(at=WINDOW.end)
    write_log(tmp_path, [inside], at=T0)
    write_log(tmp_path, [late], at=T0 + timedelta(days=1))
    far = write_log(tmp_path, [assume_role(at=T0)], at=T0 - timedelta(days=40))
    far.write_bytes(b"not gzip at all")  # would be counted as malformed if it were read
    write_log(tmp_path, [assume_role(at=T0)], at=T0 + timedelta(days=400))
    stats = ParseStats()
    assert ids(folder_events(tmp_path, WINDOW, stats)) == {inside["eventID"], late["eventID"]}
    assert stats.files == 2 and stats.malformed == 0


def test_folder_reads_loose_json_and_gz_files_anywhere(tmp_path: Path) -> None:
    a, b = assume_role(at=T0), assume_role(at=T0 + timedelta(minutes=5))
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "one.json").write_text(json.dumps({"Records": [a]}))
    (tmp_path / "two.json.gz").write_bytes(gz_records([b]))
    (tmp_path / "notes.txt").write_text("AssumeRole")
    assert ids(folder_events(tmp_path, WINDOW, ParseStats())) == {a["eventID"], b["eventID"]}


def test_folder_skips_malformed_files_and_records_with_a_count(tmp_path: Path) -> None:
    good = assume_role(at=T0)
    bad_record = assume_role(at=T0)
    bad_record["eventTime"] = "yesterday"
    write_log(tmp_path, [good, bad_record, "a string", 42])
    day = tmp_path / Path(log_key(T0)).parent
    (day / "broken.json.gz").write_bytes(b"\x1f\x8b" + b"AssumeRole" * 3)
    (day / "truncated.json.gz").write_bytes(
        gzip.compress(b'{"Records": [{"eventName": "AssumeRole"')[:-4]
    )
    (day / "badjson.json").write_text('{"Records": [{"eventName": "AssumeRole", ')
    (day / "norecords.json").write_text('{"eventName": "AssumeRole"}')
    stats = ParseStats()
    assert ids(folder_events(tmp_path, WINDOW, stats)) == {good["eventID"]}
    # bad eventTime, a string record, a number record, broken gzip, truncated gzip,
    # bad JSON, no Records list
    assert stats.malformed == 7


def test_folder_source_must_exist(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="not a folder"):
        list(folder_events(tmp_path / "missing", WINDOW, ParseStats()))


# --- S3 -----------------------------------------------------------------------------------


def put(s3: Any, bucket: str, records: list[Any], **kw: Any) -> str:
    key = log_key(kw.pop("at", T0), **kw)
    s3.put_object(Bucket=bucket, Key=key, Body=gz_records(records))
    return key


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://b") == ("b", "AWSLogs/")
    assert parse_s3_url("s3://b/trails/") == ("b", "trails/AWSLogs/")
    assert parse_s3_url("s3://b/trails/AWSLogs") == ("b", "trails/AWSLogs/")
    with pytest.raises(AuditError):
        parse_s3_url("s3:///x")


def test_s3_source_reads_accounts_regions_and_organisation_trails(s3: Any, bucket: str) -> None:
    a = assume_role(at=T0)
    b = assume_role(at=T0 + timedelta(hours=1))
    c = assume_role(at=T0 + timedelta(hours=2))
    put(s3, bucket, [a, other_event()], prefix="trails")
    put(s3, bucket, [b], prefix="trails", region="eu-west-1", account="210987654321")
    put(s3, bucket, [c], prefix="trails", org="o-abc123def4", account="111122223333")
    put(s3, bucket, [assume_role(at=T0)], prefix="trails", at=T0 - timedelta(days=3))
    put(s3, bucket, [assume_role(at=T0)], prefix="elsewhere")
    stats = ParseStats()
    got = ids(s3_events(s3, f"s3://{bucket}/trails", WINDOW, stats))
    assert got == {a["eventID"], b["eventID"], c["eventID"]}
    assert stats.files == 3  # the file three days back was never listed or read


def test_s3_source_streams_many_files_in_parallel(s3: Any, bucket: str) -> None:
    expected = set()
    for n in range(40):
        rec = assume_role(at=T0 + timedelta(minutes=n))
        expected.add(rec["eventID"])
        put(s3, bucket, [rec, other_event()], at=T0 + timedelta(minutes=n))
    stats = ParseStats()
    assert ids(s3_events(s3, f"s3://{bucket}", WINDOW, stats, workers=4)) == expected
    assert stats.files == 40


def test_s3_source_missing_bucket_names_the_call(s3: Any) -> None:
    with pytest.raises(AuditError, match="s3:ListObjectsV2"):
        list(s3_events(s3, "s3://no-such-bucket-for-audit", WINDOW, ParseStats()))


# --- LookupEvents -------------------------------------------------------------------------


class Sleeper:
    """A clock that only moves when slept on: pauses are recorded, never waited for."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 0.0

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def cloudtrail(sandbox: Any) -> Any:
    """A client with botocore's retries off (retries, not attempts), as the audit makes it."""
    from sentinelgw.awsclients import client

    return client("cloudtrail", region=sandbox.region, max_attempts=0)


def test_lookup_follows_next_token_across_pages(
    sandbox: Any, recorder: Any, audit_env: Any
) -> None:
    expected = set()
    for n in range(120):
        rec = recorder.add_event(assume_role(at=T0 + timedelta(seconds=n)))
        expected.add(rec["eventID"])
    recorder.add_event(other_event(T0))
    recorder.add_event(assume_role(at=WINDOW.end + timedelta(seconds=1)))
    stats, sleeper = ParseStats(), Sleeper()
    got = ids(lookup_events(cloudtrail(sandbox), WINDOW, stats, sleep=sleeper, clock=sleeper.clock))
    assert got == expected
    assert stats.pages == 3  # 50 + 50 + 20
    assert recorder.lookup_calls == 3


def test_lookup_paces_requests_under_two_per_second(
    sandbox: Any, recorder: Any, audit_env: Any
) -> None:
    for n in range(60):
        recorder.add_event(assume_role(at=T0 + timedelta(seconds=n)))
    sleeper = Sleeper()
    list(
        lookup_events(cloudtrail(sandbox), WINDOW, ParseStats(), sleep=sleeper, clock=sleeper.clock)
    )
    # No time passes between calls here, so the second page waits the full interval.
    assert sleeper.calls == [0.5]


def test_lookup_backs_off_after_one_throttling_response(
    sandbox: Any, recorder: Any, audit_env: Any
) -> None:
    rec = recorder.add_event(assume_role(at=T0))
    recorder.throttle_next(1)
    stats, sleeper = ParseStats(), Sleeper()
    got = ids(lookup_events(cloudtrail(sandbox), WINDOW, stats, sleep=sleeper, clock=sleeper.clock))
    assert got == {rec["eventID"]}
    assert stats.throttled == 1
    assert recorder.lookup_calls == 2
    backoff = sleeper.calls[0]
    assert 0.25 <= backoff <= 0.5  # equal jitter on the first 0.5 s step
    # Pacing still holds after the backoff: the retry is at least 0.5 s after the first call.
    assert sum(sleeper.calls) >= 0.5


def test_lookup_gives_up_after_bounded_attempts(
    sandbox: Any, recorder: Any, audit_env: Any
) -> None:
    recorder.throttle_next(10)
    sleeper = Sleeper()
    with pytest.raises(AuditError, match="cloudtrail:LookupEvents was throttled"):
        list(
            lookup_events(
                cloudtrail(sandbox),
                WINDOW,
                ParseStats(),
                sleep=sleeper,
                clock=sleeper.clock,
                pacing=Pacing(max_attempts=3, min_interval=0),
            )
        )
    assert recorder.lookup_calls == 3
    assert len(sleeper.calls) == 2
    assert 0.25 <= sleeper.calls[0] <= 0.5 and 0.5 <= sleeper.calls[1] <= 1.0  # doubling


def test_lookup_counts_malformed_cloudtrail_event_json(
    sandbox: Any, recorder: Any, audit_env: Any
) -> None:
    good = recorder.add_event(assume_role(at=T0))
    bad = assume_role(at=T0 + timedelta(seconds=1))
    bad["requestParameters"] = None  # no roleArn
    recorder.add_event(bad)
    stats = ParseStats()
    assert ids(lookup_events(cloudtrail(sandbox), WINDOW, stats, sleep=Sleeper())) == {
        good["eventID"]
    }
    assert stats.malformed == 1

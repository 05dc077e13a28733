"""Hostile CloudTrail input for the audit: whole folders of arbitrary ``.json`` and
``.json.gz`` files never crash the folder source or ``sentinel audit``; bad files and records
are only counted as skipped. (``tests/audit`` fuzzes single records and single files.)"""

from __future__ import annotations

import gzip
import json
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.sources import folder_events
from sentinelgw.audit.window import Window
from sentinelgw.timeutil import iso

T0 = datetime(2025, 6, 2, 8, 0, 0, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
ROLE = "arn:aws:iam::123456789012:role/sentinel-dev"
DEEP = b"[" * 100_000 + b'"AssumeRole"' + b"]" * 100_000
DEEPISH = b"[" * 5_000 + b'"AssumeRole"' + b"]" * 5_000  # past the interpreter's limit too


def record(at: datetime = T0) -> dict[str, Any]:
    return {
        "eventName": "AssumeRole",
        "eventSource": "sts.amazonaws.com",
        "eventTime": iso(at),
        "eventID": str(uuid.uuid4()),
        "requestParameters": {"roleArn": ROLE, "roleSessionName": "s"},
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/eve"},
    }


def log(records: list[Any]) -> bytes:
    return json.dumps({"Records": records}).encode()


def mutate(data: bytes, cuts: list[int], flips: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for pos, value in flips:
        if buf:
            buf[pos % len(buf)] = value
    for cut in cuts:
        if buf:
            del buf[cut % len(buf) :]
    return bytes(buf)


valid_file = st.lists(st.just(None), min_size=1, max_size=3).map(
    lambda xs: log([record() for _ in xs])
)
file_bytes = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: b + b"AssumeRole"),
    st.binary(max_size=300).map(gzip.compress),
    st.builds(
        mutate,
        valid_file,
        st.lists(st.integers(0, 10_000), max_size=1),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    ),
    st.builds(
        mutate,
        valid_file.map(gzip.compress),
        st.lists(st.integers(0, 10_000), max_size=1),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
    ),
    st.sampled_from([DEEPISH, gzip.compress(DEEPISH), b'{"Records": ' + DEEPISH + b"}"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([".json", ".json.gz"]), file_bytes), max_size=4))
def test_arbitrary_files_in_a_folder_never_crash(files: list[tuple[str, bytes]]) -> None:
    good = record(T0 + timedelta(minutes=1))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n, (suffix, data) in enumerate(files):
            (root / f"f{n}{suffix}").write_bytes(data)
        (root / "zz-good.json.gz").write_bytes(gzip.compress(log([good])))
        stats = ParseStats()
        events = list(folder_events(root, WINDOW, stats, workers=2))
    assert good["eventID"] in {e.event_id for e in events}
    assert all(WINDOW.contains(e.event_time) for e in events)
    assert stats.files + stats.malformed >= 1


@pytest.mark.parametrize(
    "data",
    [DEEP, gzip.compress(DEEP), b'{"Records": ' + DEEP + b"}"],
    ids=["json", "gzip", "inside-records"],
)
def test_deeply_nested_json_is_skipped_not_a_crash(tmp_path: Path, data: bytes) -> None:
    """Regression: json.loads raises RecursionError (not ValueError) on deep nesting, which
    escaped the folder source as an internal error."""
    (tmp_path / "deep.json").write_bytes(data)
    stats = ParseStats()
    assert list(folder_events(tmp_path, WINDOW, stats)) == []
    assert stats.malformed == 1


def test_deeply_nested_cloudtrail_event_from_lookup_is_skipped() -> None:
    from sentinelgw.audit.sources import _from_lookup_item

    stats = ParseStats()
    item = {"EventId": "e1", "EventName": "AssumeRole", "CloudTrailEvent": DEEP.decode()}
    assert _from_lookup_item(item, WINDOW, stats) is None
    assert stats.malformed == 1


def test_audit_cli_over_a_hostile_folder(run_sentinel: Any, tmp_path: Path) -> None:
    good = record(T0 + timedelta(minutes=5))
    (tmp_path / "good.json.gz").write_bytes(gzip.compress(log([good, "junk", 7])))
    (tmp_path / "deep.json").write_bytes(DEEP)
    (tmp_path / "binary.json.gz").write_bytes(b"\x1f\x8b\x08" + bytes(range(256)))
    (tmp_path / "utf16.json").write_bytes(log([record()]).decode().encode("utf-16"))
    (tmp_path / "notutf8.json").write_bytes(
        b'{"Records": [{"eventName": "AssumeRole", "x": "\xff\xfe"}]}'
    )
    since, until = iso(WINDOW.start), iso(WINDOW.end)
    args = [
        "audit",
        "untracked-sessions",
        "--since",
        str(since),
        "--until",
        str(until),
        "--source",
        str(tmp_path),
    ]
    closed = run_sentinel(args)  # unreadable files fail the audit closed
    assert closed.returncode == 2 and "deep.json" in closed.stderr, closed.stderr
    for fmt in ("json", "human"):
        out = run_sentinel([*args, "--allow-unreadable", "--format", fmt])
        assert out.returncode == 1, out.stderr  # the good event is untracked: a gap
        assert "Traceback" not in out.stderr and "internal error" not in out.stderr
        assert "malformed" in out.stderr
        if fmt == "json":
            doc = json.loads(out.stdout)
            assert doc["total_events"] >= 1

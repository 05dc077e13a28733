"""Log files that fail the audit closed, files of any size streamed, and duplicates on disk."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from audithelpers import (
    ACCOUNT,
    OTHER_ACCOUNT,
    T0,
    assume_role,
    cross_account_pair,
    gz_records,
    log_key,
    other_event,
    saml,
    write_log,
)

from sentinelgw.audit import stream
from sentinelgw.audit.decode import Unreadable
from sentinelgw.audit.events import ParseStats
from sentinelgw.audit.sources import folder_events
from sentinelgw.audit.window import Window
from sentinelgw.timeutil import iso

WINDOW = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
ARGS = ["--since", iso(WINDOW.start) or "", "--until", iso(WINDOW.end) or ""]
Run = Callable[..., Any]


@pytest.fixture
def run(run_sentinel: Run, audit_env: dict[str, str]) -> Run:
    def go(*args: str) -> Any:
        return run_sentinel(["audit", "untracked-sessions", *ARGS, *args], env=audit_env)

    return go


# --- a file over 512 MiB inflated, generated on the fly ------------------------------------


def write_padded_log(
    path: Path, first: dict[str, Any], last: dict[str, Any], padding_mib: int
) -> None:
    """A gzip log whose two records sit around ``padding_mib`` MiB of whitespace.

    Written through a streaming GzipFile one MiB at a time: the inflated text never exists
    in memory, and the compressed file is a few MB.
    """
    pad = b" \n" * (1 << 19)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        gz.write(b'{"Records": [' + json.dumps(first).encode() + b",")
        for _ in range(padding_mib):
            gz.write(pad)
        gz.write(json.dumps(other_event()).encode() + b",\n" + json.dumps(last).encode() + b"]}\n")


def test_a_file_over_512_mib_inflated_is_streamed_not_skipped(tmp_path: Path) -> None:
    first = assume_role(at=T0)
    last = saml(at=T0 + timedelta(minutes=1))  # after the padding: only found if streamed
    path = tmp_path / log_key(T0)
    path.parent.mkdir(parents=True)
    write_padded_log(path, first, last, padding_mib=520)
    assert path.stat().st_size < 16 << 20
    stats = ParseStats()
    events = list(folder_events(tmp_path, WINDOW, stats, workers=2))
    assert [e.event_id for e in events] == [first["eventID"], last["eventID"]]
    assert stats.streamed == 1 and stats.unreadable == [] and stats.malformed == 0


# --- the streaming parser agrees with the whole-file decoder -------------------------------


def streamed(data: bytes, monkeypatch: pytest.MonkeyPatch, stats: ParseStats) -> list[Any]:
    monkeypatch.setattr(stream, "WHOLE_LIMIT", 4)  # force the streaming path
    monkeypatch.setattr(stream, "READ_SIZE", 7)  # and cut records at odd places
    out = list(stream.read_events(lambda: io.BytesIO(data), "f", stats))
    assert stats.streamed == 1
    return out


def test_streaming_and_whole_decoding_give_the_same_events(monkeypatch: pytest.MonkeyPatch) -> None:
    recs = [assume_role(at=T0 + timedelta(seconds=n)) for n in range(5)]
    recs[2]["eventTime"] = "yesterday"  # malformed: counted at its index
    data = gzip.compress(json.dumps({"Records": [other_event(), *recs, 7]}).encode())
    whole_stats, stream_stats = ParseStats(), ParseStats()
    whole = list(stream.read_events(lambda: io.BytesIO(data), "f", whole_stats))
    assert whole == streamed(data, monkeypatch, stream_stats)
    assert len(whole) == 4
    for stats in (whole_stats, stream_stats):
        assert [(m.where, m.index) for m in stats.bad_records] == [("f", 3), ("f", 6)]


@pytest.mark.parametrize(
    "text",
    [
        b'{"Records": [{"eventName": "AssumeRole"}',  # truncated
        b'{"Records": [{"eventName": "AssumeRole"}]} trailing',
        b'{"Other": []}',
        b'{"Records": [{"eventName": "AssumeRole"} {"eventName": "x"}]}',
        b'{"Records": [{"eventName": "AssumeRole", "x": "\xff"}]}',
    ],
    ids=["truncated", "trailing", "no-records", "no-comma", "not-utf8"],
)
def test_a_damaged_streamed_file_is_unreadable(
    text: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Unreadable):
        streamed(gzip.compress(text), monkeypatch, ParseStats())


def test_truncated_gzip_is_unreadable() -> None:
    data = gz_records([assume_role()])[:-6]
    with pytest.raises(Unreadable, match="truncated"):
        list(stream.read_events(lambda: io.BytesIO(data), "f", ParseStats()))


# --- fail closed, through the installed command --------------------------------------------


def test_a_truncated_file_fails_the_audit_unless_allowed(
    run: Run, store: Any, tmp_path: Path
) -> None:
    good = write_log(tmp_path, [assume_role(at=T0)])
    bad = good.parent / "truncated.json.gz"
    bad.write_bytes(gz_records([assume_role(at=T0)])[:-10])
    res = run("--source", str(tmp_path), "--format", "json")
    assert res.returncode == 2 and res.stdout == ""
    assert "truncated.json.gz" in res.stderr and "--allow-unreadable" in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    res = run("--source", str(tmp_path), "--format", "json", "--allow-unreadable")
    assert res.returncode == 1, res.stderr  # the good file's event is a gap
    doc = json.loads(res.stdout)
    assert doc["unreadable"] == [str(bad)] and doc["total_events"] == 1


def test_malformed_records_are_named_by_file_and_index(
    run: Run, store: Any, tmp_path: Path
) -> None:
    bad = assume_role(at=T0)
    bad["eventTime"] = "yesterday"
    path = write_log(tmp_path, [assume_role(at=T0), "a string", bad])
    res = run("--source", str(tmp_path), "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert [(m["file"], m["index"]) for m in doc["malformed"]] == [(str(path), 1), (str(path), 2)]
    assert "eventTime" in doc["malformed"][1]["reason"]
    assert "skipped 2 malformed" in res.stderr


# --- duplicates on disk --------------------------------------------------------------------


def test_duplicates_across_files_and_accounts_count_once(
    run: Run, store: Any, tmp_path: Path
) -> None:
    once = assume_role(at=T0)
    first = write_log(tmp_path, [once])
    shutil.copy(first, first.with_name("redelivered.json.gz"))  # the same file twice
    caller_copy, role_copy = cross_account_pair(at=T0 + timedelta(minutes=1))
    write_log(tmp_path, [caller_copy], account=ACCOUNT, org="o-abc123def4")
    write_log(tmp_path, [role_copy], account=OTHER_ACCOUNT, org="o-abc123def4")
    res = run("--source", str(tmp_path), "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["total_events"] == 2
    accounts = {i["event_id"]: i["account"] for i in doc["untracked_sessions"]}
    assert accounts == {
        once["eventID"]: ACCOUNT,
        caller_copy["eventID"]: ",".join(sorted((ACCOUNT, OTHER_ACCOUNT))),
    }


def test_digest_folders_are_not_log_files(tmp_path: Path) -> None:
    write_log(tmp_path, [assume_role(at=T0)])
    digest = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / "us-east-1" / "2025"
    digest.mkdir(parents=True)
    (digest / "digest.json.gz").write_bytes(gzip.compress(b'{"digestStartTime": "x"}'))
    stats = ParseStats()
    assert len(list(folder_events(tmp_path, WINDOW, stats))) == 1
    assert stats.unreadable == []

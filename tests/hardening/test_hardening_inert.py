"""Untrusted record content is rendered inert, and one bad item never breaks a listing.

Session records are written by every user of the table, and a role session name (which
becomes the record's user) is chosen by the caller, so each field can hold markup, terminal
escapes, CR/LF or a spreadsheet formula. Human output shows them escaped, CSV neutralises
formulas, JSON stays exact.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.sessions.sessionhelpers import make_client, record, seed

from sentinelgw.inert import FORMULA_PREFIXES, CsvWriter, csv_safe, text, visible
from sentinelgw.sessions.model import EXPORT_FIELDS
from sentinelgw.sessions.schema import ensure_table

Run = Callable[..., CompletedProcess[str]]

ESC_TITLE = "\x1b]0;pwned\x07"  # OSC: set the terminal title
ESC_CLEAR = "\x1b[2J"  # CSI: clear the screen
FORGED = "x\r\n0000000000000001,mallory,prod,,active"


@pytest.fixture
def table(sandbox: Any) -> str:
    name = f"inert-{uuid.uuid4().hex[:12]}"
    ensure_table(make_client(sandbox.endpoint_url), name)
    return name


@pytest.fixture
def ddb(sandbox: Any) -> Any:
    return make_client(sandbox.endpoint_url)


def listing(run: Run, table: str, fmt: str, *extra: str) -> CompletedProcess[str]:
    return run(["server-sessions", "--table", table, "--format", fmt, *extra])


# -- the primitives ------------------------------------------------------------------------


@given(st.text())
def test_visible_output_never_holds_a_control_character(s: str) -> None:
    shown = visible(s)
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\u2028" not in shown and "\u2029" not in shown


@given(st.text(), st.text())
def test_visible_is_unambiguous(a: str, b: str) -> None:
    # Two different values never render the same, so an escape cannot be faked by typing it.
    assert (visible(a) == visible(b)) == (a == b)


def test_visible_escapes_a_typed_backslash_escape_differently_from_a_real_one() -> None:
    assert visible("\x1b[2J") == "\\x1b[2J"
    assert visible("\\x1b[2J") == "\\\\x1b[2J"
    assert visible("a\r\nb") == "a\\r\\nb"


def test_markup_in_a_rich_text_is_never_interpreted() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(text("[/]prod [bold red]x[/bold red]"))
    assert console.file.getvalue().strip() == "[/]prod [bold red]x[/bold red]"


@given(st.text())
def test_any_value_prints_in_a_rich_table_as_its_escaped_text(s: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=io.StringIO(), width=4000, color_system=None)
    grid = Table()
    grid.add_column(text("[/]col"))
    grid.add_row(text(s))
    console.print(grid)
    out = console.file.getvalue()
    assert "\x1b" not in out and "\r" not in out
    assert visible(s).strip() in out


@given(st.text())
def test_csv_safe_never_starts_with_a_formula_prefix(s: str) -> None:
    cell = csv_safe(s)
    assert not cell.startswith(FORMULA_PREFIXES)
    assert cell in (visible(s), "'" + visible(s))


@given(st.text())
def test_csv_cells_hold_no_control_character(s: str) -> None:
    cell = csv_safe(s)
    assert not any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in cell)


def test_esc_and_bel_in_a_revoke_reason_are_escaped_in_csv() -> None:
    buf = io.StringIO(newline="")
    CsvWriter(buf).row(["s1", f"incident{ESC_TITLE}", "agent\x07"])
    assert "\x1b" not in buf.getvalue() and "\x07" not in buf.getvalue()
    assert "incident\\x1b]0;pwned\\x07" in buf.getvalue()


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_csv_rows_round_trip_and_never_split(cells: list[str]) -> None:
    buf = io.StringIO(newline="")
    CsvWriter(buf).row(cells)
    rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert rows == [[csv_safe(c) for c in cells]]


# -- listings of hostile records -----------------------------------------------------------


def test_markup_in_profile_name_does_not_crash_listing(
    run_sentinel: Run, ddb: Any, table: str
) -> None:
    seed(ddb, table, [record(1, profile="[/]prod"), record(2, user="[bold]eve[/bold]")])
    proc = listing(run_sentinel, table, "human")
    assert proc.returncode == 0, proc.stderr
    assert "[/]prod" in proc.stdout and "[bold]eve[/bold]" in proc.stdout


def test_markup_in_session_fields_does_not_crash_show_or_revoke(
    run_sentinel: Run, ddb: Any, table: str
) -> None:
    rec = record(3, profile="[/]prod", user="[red]x")
    seed(ddb, table, [rec])
    shown = run_sentinel(["server-session", rec.id, "--table", table])
    assert shown.returncode == 0 and "[/]prod" in shown.stdout, shown.stderr
    revoked = run_sentinel(
        ["server-revoke", rec.id, "--table", table, "--reason", "[/]why", "--soft"]
    )
    assert revoked.returncode == 0 and "[/]prod" in revoked.stdout, revoked.stderr


def test_terminal_escapes_in_host_and_user_are_shown_escaped(
    run_sentinel: Run, ddb: Any, table: str
) -> None:
    seed(ddb, table, [record(4, user=f"eve{ESC_TITLE}", host=f"h{ESC_CLEAR}")])
    for proc in (
        listing(run_sentinel, table, "human"),
        run_sentinel(["server-session", f"{4:016x}", "--table", table]),
    ):
        assert proc.returncode == 0, proc.stderr
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
        assert "\\x1b]0;pwned\\x07" in proc.stdout or "\\x1b[2J" in proc.stdout


def test_crlf_in_reason_cannot_forge_a_row(run_sentinel: Run, ddb: Any, table: str) -> None:
    seed(
        ddb,
        table,
        [
            record(
                5,
                status="revoked",
                revoked_reason=FORGED,
                revoked_by="arn:aws:iam::123456789012:user/sec",
            )
        ],
    )
    out = listing(run_sentinel, table, "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout, newline="")))
    assert len(rows) == 2, rows  # header + the one record, whatever the reason holds
    assert rows[1][rows[0].index("revoked_reason")] == visible(FORGED)
    shown = run_sentinel(["server-session", f"{5:016x}", "--table", table])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert not any(line.startswith("0000000000000001") for line in lines)
    assert len(lines) == len(EXPORT_FIELDS)  # one line per field, however hostile


def test_crlf_in_profile_cannot_forge_a_table_row(run_sentinel: Run, ddb: Any, table: str) -> None:
    seed(ddb, table, [record(6, profile="prod\r\nmallory")])
    out = listing(run_sentinel, table, "human")
    assert out.returncode == 0, out.stderr
    assert "prod\\r\\nmallory" in out.stdout
    assert not any(line.lstrip("│| ").startswith("mallory") for line in out.stdout.splitlines())


def test_formula_in_role_session_name_is_neutralised_in_csv(
    run_sentinel: Run, ddb: Any, table: str
) -> None:
    # =1+2+3 is a valid role session name, so any caller can make it a record's user.
    seed(
        ddb,
        table,
        [record(7, user="=1+2+3", host="@SUM(A1:A9)", profile='=HYPERLINK("http://x","y")')],
    )
    out = listing(run_sentinel, table, "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
    assert rows[0]["user"] == "'=1+2+3"
    assert rows[0]["host"] == "'@SUM(A1:A9)"
    assert rows[0]["profile"].startswith("'=HYPERLINK")


def test_json_export_stays_exact(run_sentinel: Run, ddb: Any, table: str) -> None:
    values = {"user": "=1+2+3", "profile": "[/]prod", "host": f"h{ESC_CLEAR}\r\n"}
    seed(ddb, table, [record(8, **values)])
    out = listing(run_sentinel, table, "json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)[0]
    assert {k: row[k] for k in values} == values


def test_markup_in_an_error_message_is_printed_escaped(run_sentinel: Run, table: str) -> None:
    proc = run_sentinel(["server-sessions", "--table", f"{table}[/]\x1b[2J"])
    assert proc.returncode == 2
    assert "\x1b" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


# -- one bad item ----------------------------------------------------------------------------


def put_raw(ddb: Any, table: str, item: dict[str, Any]) -> None:
    ddb.put_item(TableName=table, Item=item)


def broken_item(n: int) -> dict[str, Any]:
    item = record(n).to_item()
    del item["expires_at"]
    return item


@pytest.mark.parametrize("fmt", ["human", "json", "csv"])
def test_item_missing_a_field_does_not_break_the_listing(
    run_sentinel: Run, ddb: Any, table: str, fmt: str
) -> None:
    seed(ddb, table, [record(10), record(11)])
    put_raw(ddb, table, broken_item(12))
    proc = listing(run_sentinel, table, fmt)
    assert proc.returncode == 0, proc.stderr
    assert f"{10:016x}" in proc.stdout and f"{11:016x}" in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and f"{12:016x}" in warnings[0] and "expires_at" in warnings[0]


def test_strict_listing_exits_2_on_an_unreadable_item(
    run_sentinel: Run, ddb: Any, table: str
) -> None:
    seed(ddb, table, [record(13)])
    put_raw(ddb, table, broken_item(14))
    proc = listing(run_sentinel, table, "json", "--strict")
    assert proc.returncode == 2
    assert f"{13:016x}" in proc.stdout
    assert "could not be read" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_item_with_hostile_id_is_named_escaped(
    run_sentinel: Run, ddb: Any, table: str
) -> None:
    item = broken_item(15)
    item["id"] = {"S": "[/]\x1b[2Jevil"}
    put_raw(ddb, table, item)
    proc = listing(run_sentinel, table, "human", "--user", "alice")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr and "[/]\\x1b[2Jevil" in proc.stderr


def test_hidden_status_is_listed_as_stored(run_sentinel: Run, ddb: Any, table: str) -> None:
    seed(ddb, table, [record(16), record(17, status="hidden")])
    for extra in ((), ("--user", "alice"), ("--profile", "prod")):
        proc = listing(run_sentinel, table, "json", *extra)
        assert proc.returncode == 0, proc.stderr
        by_id = {row["id"]: row["status"] for row in json.loads(proc.stdout)}
        assert by_id == {f"{16:016x}": "expired", f"{17:016x}": "hidden"}, extra
    human = listing(run_sentinel, table, "human")
    assert "hidden" in human.stdout


def test_hidden_status_is_newest_first_with_the_rest(
    run_sentinel: Run, ddb: Any, table: str
) -> None:
    seed(ddb, table, [record(20), record(21, status="hidden"), record(22, status="revoked")])
    proc = listing(run_sentinel, table, "json")
    assert [row["id"] for row in json.loads(proc.stdout)] == [f"{n:016x}" for n in (22, 21, 20)]


def test_hidden_status_record_does_not_break_the_audit(
    run_sentinel: Run, ddb: Any, table: str, tmp_path: Path
) -> None:
    hidden = record(30, status="hidden")
    seed(ddb, table, [hidden])
    event = {
        "eventName": "AssumeRole",
        "eventSource": "sts.amazonaws.com",
        "eventTime": "2026-01-24T09:00:40Z",
        "eventID": str(uuid.uuid4()),
        "awsRegion": "us-east-1",
        "requestParameters": {
            "roleArn": hidden.role_arn,
            "roleSessionName": hidden.source_identity,
            "sourceIdentity": hidden.source_identity,
        },
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
    }
    trail = tmp_path / "trail"
    trail.mkdir()
    (trail / "events.json").write_text(json.dumps({"Records": [event]}))
    proc = run_sentinel(
        [
            "audit",
            "untracked-sessions",
            "--table",
            table,
            "--source",
            str(trail),
            "--since",
            "2026-01-24T08:00:00Z",
            "--until",
            "2026-01-24T10:00:00Z",
            "--format",
            "json",
        ]
    )
    assert proc.returncode in (0, 1), proc.stderr  # an answer, not an infrastructure error
    assert "Traceback" not in proc.stderr


def test_unreadable_session_item_does_not_stop_the_audit(
    run_sentinel: Run, ddb: Any, table: str, tmp_path: Path
) -> None:
    """A broken item is skipped with a warning naming it; its event has no record, so it is a
    gap (orphaned), never tracked."""
    broken = record(31)
    item = broken.to_item()
    del item["expires_at"]
    put_raw(ddb, table, item)
    event = {
        "eventName": "AssumeRole",
        "eventSource": "sts.amazonaws.com",
        "eventTime": "2026-01-24T09:00:40Z",
        "eventID": str(uuid.uuid4()),
        "awsRegion": "us-east-1",
        "requestParameters": {
            "roleArn": broken.role_arn,
            "roleSessionName": broken.source_identity,
            "sourceIdentity": broken.source_identity,
        },
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
    }
    trail = tmp_path / "trail"
    trail.mkdir()
    (trail / "events.json").write_text(json.dumps({"Records": [event]}))
    proc = run_sentinel(
        [
            "audit",
            "untracked-sessions",
            "--table",
            table,
            "--source",
            str(trail),
            "--since",
            "2026-01-24T08:00:00Z",
            "--until",
            "2026-01-24T10:00:00Z",
            "--format",
            "json",
        ]
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["counts"]["orphaned"] == 1
    warnings = [line for line in proc.stderr.splitlines() if "session table" in line]
    assert len(warnings) == 1 and f"{31:016x}" in warnings[0] and "expires_at" in warnings[0]

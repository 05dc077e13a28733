"""The installed ``sentinel audit`` commands against the sandbox: output, filters, exit codes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from audithelpers import DEV_ROLE, PROD_ROLE, T0, assume_role, gz_records, log_key, session

from sentinelgw.audit.report import EVENT_FIELDS
from sentinelgw.timeutil import iso

SINCE, UNTIL = iso(T0 - timedelta(hours=1)), iso(T0 + timedelta(hours=1))
WINDOW = ["--since", SINCE, "--until", UNTIL]
Run = Callable[..., Any]


@pytest.fixture
def run(run_sentinel: Run, audit_env: dict[str, str]) -> Run:
    def go(*args: str, env: dict[str, str] | None = None) -> Any:
        return run_sentinel(["audit", *args], env=env or audit_env)

    return go


def seed(recorder: Any, store: Any) -> dict[str, Any]:
    """One tracked prod event and one of each untracked kind, inside the window."""
    tracked = session(store, profile="prod")
    recs = {
        "tracked": assume_role(source_identity=tracked, at=T0),
        "none": assume_role(at=T0 + timedelta(minutes=1), role_arn=DEV_ROLE),
        "other": assume_role(source_identity="terraform-ci", at=T0 + timedelta(minutes=2)),
        "orphan": assume_role(
            source_identity="sentinel.alice.00000000deadbeef", at=T0 + timedelta(minutes=3)
        ),
    }
    recorder.add_event(assume_role(at=T0 - timedelta(hours=2)))  # outside the window
    return {k: recorder.add_event(v) for k, v in recs.items()}


def test_untracked_sessions_json_from_lookup_events(run: Run, recorder: Any, store: Any) -> None:
    recs = seed(recorder, store)
    res = run("untracked-sessions", *WINDOW, "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert list(doc)[:7] == [
        "start_time",
        "end_time",
        "total_events",
        "tracked_events",
        "untracked_events",
        "orphaned_events",
        "untracked_sessions",
    ]
    assert (doc["start_time"], doc["end_time"]) == (SINCE, UNTIL)
    assert (
        doc["total_events"],
        doc["tracked_events"],
        doc["untracked_events"],
        doc["orphaned_events"],
    ) == (4, 1, 3, 1)
    items = doc["untracked_sessions"]
    assert [i["category"] for i in items] == [
        "no_source_identity",
        "non_sentinel_format",
        "orphaned",
    ]
    assert list(doc)[7:] == ["counts", "unreadable", "malformed"]
    assert list(items[0]) == list(EVENT_FIELDS)
    assert items[0]["caller_arn"] == "arn:aws:iam::123456789012:user/alice"
    assert items[0]["event_name"] == "AssumeRole" and items[0]["gap"] is True
    assert items[0]["event_id"] == recs["none"]["eventID"]
    assert items[0]["profile"] == "dev" and items[0]["role_arn"] == DEV_ROLE
    assert items[0]["source_ip"] == "192.0.2.10" and items[0]["user_agent"] == "aws-cli/2.15.0"
    assert items[2]["source_identity"] == "sentinel.alice.00000000deadbeef"
    assert items[2]["profile"] == "prod,prod-sso"
    assert "sentinel-sessions" in items[2]["reason"]


def test_nothing_untracked_exits_zero(run: Run, recorder: Any, store: Any) -> None:
    recorder.add_event(assume_role(source_identity=session(store), at=T0))
    res = run("untracked-sessions", *WINDOW, "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["untracked_sessions"] == []
    human = run("untracked-sessions", *WINDOW)
    assert human.returncode == 0
    assert "1 tracked, 0 untracked" in human.stdout and "No untracked sessions" in human.stdout


def test_human_output_has_a_table_and_a_summary(run: Run, recorder: Any, store: Any) -> None:
    seed(recorder, store)
    res = run("untracked-sessions", *WINDOW)
    assert res.returncode == 1
    assert "terraform-ci" in res.stdout and "orphaned" in res.stdout
    assert "4 STS issuance events" in res.stdout and "3 untracked (1 orphaned)" in res.stdout
    assert res.stderr == ""  # no progress output when stderr is not a terminal


def test_profile_and_role_filters(run: Run, recorder: Any, store: Any) -> None:
    seed(recorder, store)
    dev = json.loads(
        run("untracked-sessions", *WINDOW, "--profile", "dev", "--format", "json").stdout
    )
    assert dev["total_events"] == 1
    assert [i["category"] for i in dev["untracked_sessions"]] == ["no_source_identity"]
    prod = json.loads(
        run("untracked-sessions", *WINDOW, "--role", PROD_ROLE, "--format", "json").stdout
    )
    assert (prod["total_events"], prod["tracked_events"]) == (3, 1)
    res = run("untracked-sessions", *WINDOW, "--profile", "prod", "--format", "json")
    assert json.loads(res.stdout)["total_events"] == 3  # prod-sso shares the role


def test_one_throttling_response_is_absorbed(run: Run, recorder: Any, store: Any) -> None:
    seed(recorder, store)
    recorder.throttle_next(1)
    res = run("untracked-sessions", *WINDOW, "--format", "json")
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout)["total_events"] == 4
    assert recorder.lookup_calls == 2


@pytest.mark.parametrize(
    "args,quoted",
    [
        (["--since", "yesterday"], "'yesterday'"),
        (["--since", "7d", "--until", "soon"], "'soon'"),
        (["--since", "1h", "--until", "2h"], "'1h'"),
    ],
)
def test_bad_window_exits_two_quoting_the_value(run: Run, args: list[str], quoted: str) -> None:
    for command in ("untracked-sessions", "session-compliance"):
        res = run(command, *args)
        assert res.returncode == 2
        assert quoted in res.stderr and "Traceback" not in res.stderr
        assert res.stderr.count("\n") == 1


def test_unreachable_cloudtrail_exits_two_naming_the_call(
    run: Run, audit_env: dict[str, str]
) -> None:
    env = {**audit_env, "AWS_ENDPOINT_URL_CLOUDTRAIL": "http://127.0.0.1:9"}
    res = run("untracked-sessions", "--since", "1h", env=env)
    assert res.returncode == 2
    assert "cloudtrail:LookupEvents" in res.stderr and "Traceback" not in res.stderr


def test_folder_source(run: Run, store: Any, tmp_path: Path) -> None:
    tracked = session(store, profile="dev", role_arn=DEV_ROLE)
    path = tmp_path / log_key(T0)
    path.parent.mkdir(parents=True)
    path.write_bytes(
        gz_records(
            [
                assume_role(source_identity=tracked, role_arn=DEV_ROLE),
                assume_role(role_arn=DEV_ROLE),
                "not a record",
            ]
        )
    )
    res = run("untracked-sessions", *WINDOW, "--source", str(tmp_path), "--format", "json")
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert (doc["total_events"], doc["tracked_events"]) == (2, 1)
    assert "skipped 1 malformed" in res.stderr


def test_s3_source(run: Run, store: Any, s3: Any, bucket: str) -> None:
    tracked = session(store)
    s3.put_object(
        Bucket=bucket,
        Key=log_key(T0, prefix="ct"),
        Body=gz_records([assume_role(source_identity=tracked)]),
    )
    res = run("untracked-sessions", *WINDOW, "--source", f"s3://{bucket}/ct", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["tracked_events"] == 1


def test_compliance_gap_on_a_required_profile_exits_one(
    run: Run, recorder: Any, store: Any
) -> None:
    seed(recorder, store)
    res = run("session-compliance", *WINDOW, "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    rows = {r["profile"]: r for r in doc["profiles"]}
    assert list(rows["prod"]) == [
        "profile",
        "required",
        "tracked",
        "untracked",
        "compliance",
        "gap",
    ]
    assert rows["prod"] == {
        "profile": "prod",
        "required": True,
        "tracked": 1,
        "untracked": 2,
        "compliance": 33.33,
        "gap": True,
    }
    assert rows["prod-sso"]["untracked"] == 2 and rows["prod-sso"]["gap"]
    assert rows["dev"] == {
        "profile": "dev",
        "required": False,
        "tracked": 0,
        "untracked": 1,
        "compliance": 0.0,
        "gap": False,
    }
    summary = doc["summary"]
    assert (summary["total_events"], summary["tracked_events"]) == (4, 1)
    assert summary["gaps"] == ["prod", "prod-sso"] and not summary["compliant"]


def test_compliance_without_required_gaps_exits_zero(
    run: Run, recorder: Any, store: Any, tmp_path: Path
) -> None:
    recorder.add_event(assume_role(role_arn=DEV_ROLE, at=T0))  # dev does not require tracking
    recorder.add_event(assume_role(source_identity=session(store), at=T0))
    res = run("session-compliance", *WINDOW, "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    by = {r["profile"]: r for r in rows}
    assert by["dev"] == {
        "profile": "dev",
        "required": "false",
        "tracked": "0",
        "untracked": "1",
        "compliance": "0.0",
        "gap": "false",
    }
    assert by["prod"]["compliance"] == "100.0" and by["prod"]["required"] == "true"
    # The same events under a stricter --policy file: now dev is a gap.
    strict = tmp_path / "strict.yaml"
    strict.write_text("policies:\n  - match: {profile: '*'}\n    effect: require_server_session\n")
    res = run("session-compliance", *WINDOW, "--policy", str(strict), "--profile", "dev")
    assert res.returncode == 1
    assert "dev" in res.stdout and "GAP" in res.stdout and "gap: untracked access" in res.stdout


def test_compliance_with_no_events_is_full(run: Run, recorder: Any) -> None:
    res = run("session-compliance", *WINDOW, "--profile", "prod", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["profiles"] == [
        {
            "profile": "prod",
            "required": True,
            "tracked": 0,
            "untracked": 0,
            "compliance": 100.0,
            "gap": False,
        }
    ]


def test_main_returns_the_command_exit_code(
    recorder: Any, store: Any, audit_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentinelgw.cli.main import main

    seed(recorder, store)
    assert main(["audit", "untracked-sessions", *WINDOW, "--format", "json"]) == 1
    assert main(["audit", "untracked-sessions", *WINDOW, "--profile", "nobody"]) == 2
    assert json.loads(capsys.readouterr().out.split("\n}\n")[0] + "}")["untracked_events"] == 3


# --- filters, formats and the human rendering ----------------------------------------------


@pytest.mark.parametrize("command", ["untracked-sessions", "session-compliance"])
def test_unknown_profile_is_a_usage_error_listing_the_known_ones(run: Run, command: str) -> None:
    res = run(command, *WINDOW, "--profile", "nosuch")
    assert res.returncode == 2 and res.stdout == ""
    assert "'nosuch'" in res.stderr and "prod" in res.stderr and "dev" in res.stderr
    assert res.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "role", ["notanarn", "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::12345:role/x"]
)
def test_a_role_filter_that_is_not_a_role_arn_is_a_usage_error(run: Run, role: str) -> None:
    res = run("untracked-sessions", *WINDOW, "--role", role)
    assert res.returncode == 2 and "not an IAM role ARN" in res.stderr
    assert PROD_ROLE in res.stderr  # the roles the config knows


def test_a_profile_named_only_by_the_policy_is_accepted(
    run: Run, recorder: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "policies:\n  - match: {profile: audit-only}\n    effect: require_server_session\n"
    )
    res = run(
        "session-compliance",
        *WINDOW,
        "--policy",
        str(policy),
        "--profile",
        "audit-only",
        "--format",
        "json",
    )
    assert res.returncode == 0, res.stderr
    assert [r["profile"] for r in json.loads(res.stdout)["profiles"]] == ["audit-only"]


def test_all_lists_every_event_and_csv_has_the_same_fields(
    run: Run, recorder: Any, store: Any
) -> None:
    from audithelpers import by_service, failed

    seed(recorder, store)
    recorder.add_event(failed(assume_role(at=T0 + timedelta(minutes=4))))
    recorder.add_event(by_service(at=T0 + timedelta(minutes=5)))
    doc = json.loads(run("untracked-sessions", *WINDOW, "--all", "--format", "json").stdout)
    assert doc["counts"] == {
        "failed": 1,
        "aws_service": 1,
        "tracked": 1,
        "replayed": 0,
        "orphaned": 1,
        "non_sentinel_format": 1,
        "no_source_identity": 1,
    }
    assert len(doc["events"]) == 6 and doc["untracked_events"] == 3
    assert all(list(e) == list(EVENT_FIELDS) for e in doc["events"])
    by_cat = {e["category"]: e for e in doc["events"]}
    assert by_cat["failed"]["error_code"] == "AccessDenied" and not by_cat["failed"]["gap"]
    assert by_cat["failed"]["role_arn"] is None
    assert by_cat["aws_service"]["invoked_by"] == "lambda.amazonaws.com"
    assert by_cat["tracked"]["session_id"] is not None
    res = run("untracked-sessions", *WINDOW, "--all", "--format", "csv")
    assert res.returncode == 1
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0]) == list(EVENT_FIELDS) and len(rows) == 6
    assert {r["event_id"] for r in rows} == {e["event_id"] for e in doc["events"]}
    failed_row = next(r for r in rows if r["category"] == "failed")
    assert failed_row["role_arn"] == "" and failed_row["gap"] == "false"
    gaps = list(
        csv.DictReader(io.StringIO(run("untracked-sessions", *WINDOW, "--format", "csv").stdout))
    )
    assert sorted(r["category"] for r in gaps) == [
        "no_source_identity",
        "non_sentinel_format",
        "orphaned",
    ]


def test_aws_service_calls_become_gaps_when_included(run: Run, recorder: Any) -> None:
    from audithelpers import by_service

    recorder.add_event(by_service(at=T0))
    assert run("untracked-sessions", *WINDOW).returncode == 0
    res = run("untracked-sessions", *WINDOW, "--include-aws-service", "--format", "json")
    assert res.returncode == 1
    assert json.loads(res.stdout)["untracked_sessions"][0]["category"] == "aws_service"


def test_compliance_counts_by_category(run: Run, recorder: Any, store: Any) -> None:
    from audithelpers import failed, saml

    seed(recorder, store)
    recorder.add_event(failed(assume_role(at=T0)))
    recorder.add_event(saml(at=T0, role_arn=PROD_ROLE))
    doc = json.loads(run("session-compliance", *WINDOW, "--format", "json").stdout)
    s = doc["summary"]
    assert s["counts"]["failed"] == 1 and s["counts"]["no_source_identity"] == 2
    assert (s["total_events"], s["tracked_events"], s["untracked_events"]) == (6, 1, 4)
    rows = {r["profile"]: r for r in doc["profiles"]}
    assert rows["prod"]["untracked"] == 3  # the SAML sign-in into prod is a gap for prod


HOSTILE = "\x1b[2J\x1b]0;pwned\x07[bold red]x[/]\u202eevil\nnext"


def hostile_report(width: int) -> str:
    from audithelpers import cross_account_pair

    from sentinelgw.audit.classify import Classifier
    from sentinelgw.audit.events import ParseStats, parse_record
    from sentinelgw.audit.pipeline import Deduplicator
    from sentinelgw.audit.profiles import ProfileResolver
    from sentinelgw.audit.render import untracked_human
    from sentinelgw.audit.report import build_untracked
    from sentinelgw.audit.window import Window

    long_role = (
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
    )
    rec = assume_role(
        at=T0,
        role_arn=long_role,
        source_identity="x" * 60,
        user_agent=HOSTILE + " aws-cli/2.15.0 Python/3.11.6 Linux/6.5 " * 3,
    )
    rec["userIdentity"]["arn"] = (
        "arn:aws:sts::123456789012:assumed-role/"
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/"
        "alice.very.long.name@example.com"
    )
    pair = cross_account_pair(at=T0 + timedelta(minutes=1))
    dedup = Deduplicator()
    events = [parse_record(r, ParseStats()) for r in (rec, *pair)]
    classified = Classifier(None, ProfileResolver({})).classify(
        dedup.filter(e for e in events if e is not None)
    )
    report = build_untracked(
        classified, Window(T0, T0 + timedelta(hours=1)), accounts=dedup.accounts
    )
    return untracked_human(report, width)


@pytest.mark.parametrize("width", [80, 120])
def test_human_output_is_readable_at_80_and_120_columns(width: int) -> None:
    out = hostile_report(width)
    lines = out.splitlines()
    # The event blocks fit the width; the summary is one soft line the terminal wraps.
    assert lines[-1].startswith("2 STS issuance events")
    assert max(len(line) for line in lines[:-1]) <= width
    headings = [line for line in lines if line.startswith(f"{T0.year}-")]
    assert [h.split()[:2] for h in headings] == [
        [iso(T0), "non_sentinel_format"],
        [iso(T0 + timedelta(minutes=1)), "no_source_identity"],
    ]
    who = [line for line in lines if line.startswith("who")]
    assert len(who) == 2 and all(len(line.split()) >= 2 for line in who)  # never an empty cell
    assert "alice.very.long.name@example.com" in "".join(lines).replace(" ", "")
    assert "123456789012,210987654321" in out.replace(" ", "")  # both accounts of the pair


def test_hostile_values_are_rendered_inert() -> None:
    out = hostile_report(120)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b[2J" in out and "\\u202e" in out
    assert "[bold red]x[/]" in out  # shown as typed, never interpreted as markup


def test_replays_of_a_real_session_through_the_sandbox(
    run: Run, recorder: Any, store: Any, sandbox: Any, sts: Any
) -> None:
    """Real AssumeRole calls recorded by the sandbox: the session's own call is tracked, the
    same SourceIdentity on another role or after revocation is replayed."""
    from datetime import UTC, datetime

    from audithelpers import revoke

    now = datetime.now(UTC)
    live = session(
        store, profile="prod", role_arn=sandbox.role_arns["prod"], at=now - timedelta(minutes=1)
    )
    revoked = session(
        store, profile="prod", role_arn=sandbox.role_arns["prod"], at=now - timedelta(minutes=30)
    )
    revoke(store, revoked, now - timedelta(minutes=20))
    for sid, role in ((live, "prod"), (live, "dev"), (revoked, "prod")):
        sts.assume_role(
            RoleArn=sandbox.role_arns[role], RoleSessionName="replay", SourceIdentity=sid
        )
    res = run("untracked-sessions", "--since", "10m", "--all", "--format", "json")
    assert res.returncode == 1, res.stderr
    got = sorted(
        (e["role_arn"] == sandbox.role_arns["prod"], e["source_identity"] == live, e["category"])
        for e in json.loads(res.stdout)["events"]
    )
    assert got == [(False, True, "replayed"), (True, False, "replayed"), (True, True, "tracked")]


def test_since_beyond_lookup_events_window_warns(run_sentinel, sandbox_env):
    """LookupEvents keeps 90 days: asking for more says so on stderr."""
    proc = run_sentinel(
        ["audit", "untracked-sessions", "--since", "120d", "--format", "json"], env=sandbox_env
    )
    assert "CloudTrail LookupEvents keeps only the last 90 days" in proc.stderr
    quiet = run_sentinel(
        ["audit", "untracked-sessions", "--since", "7d", "--format", "json"], env=sandbox_env
    )
    assert "90 days" not in quiet.stderr

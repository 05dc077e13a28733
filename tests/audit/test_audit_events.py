"""Parsing CloudTrail issuance records: which SourceIdentity is whose, and malformed input."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

from audithelpers import PROD_ROLE, T0, assume_role, other_event
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelgw.audit.events import ParseStats, parse_record
from sentinelgw.audit.sources import parse_log_bytes
from sentinelgw.audit.window import Window

WINDOW = Window(T0 - timedelta(days=1), T0 + timedelta(days=1))


def test_own_source_identity_comes_from_request_parameters() -> None:
    ev = parse_record(assume_role(source_identity="sentinel.alice.0123456789abcdef"), ParseStats())
    assert ev is not None
    assert ev.source_identity == "sentinel.alice.0123456789abcdef"
    assert ev.chained_source_identity is None
    assert ev.role_arn == PROD_ROLE
    assert ev.principal_id == "AIDAEXAMPLEALICE"
    assert ev.caller_arn.endswith(":user/alice")
    assert ev.event_time == T0


def test_response_elements_are_the_fallback() -> None:
    ev = parse_record(
        assume_role(source_identity="sentinel.bob.00000000000000aa", echo_only=True), ParseStats()
    )
    assert ev is not None and ev.source_identity == "sentinel.bob.00000000000000aa"


def test_chained_identity_is_kept_separately_and_inherited() -> None:
    # The request carried none; the response echoes the inherited value, as CloudTrail does.
    rec = assume_role(chained="sentinel.alice.00000000000000bb")
    assert rec["responseElements"]["sourceIdentity"] == "sentinel.alice.00000000000000bb"
    ev = parse_record(rec, ParseStats())
    assert ev is not None
    assert ev.source_identity is None
    assert ev.chained_source_identity == "sentinel.alice.00000000000000bb"
    assert ev.effective_source_identity == "sentinel.alice.00000000000000bb"
    assert ev.inherited


def test_callers_identity_never_overrides_the_requests_own() -> None:
    rec = assume_role(
        source_identity="sentinel.carol.00000000000000cc", chained="sentinel.alice.00000000000000bb"
    )
    ev = parse_record(rec, ParseStats())
    assert ev is not None
    assert ev.effective_source_identity == "sentinel.carol.00000000000000cc"
    assert not ev.inherited


def test_other_events_are_ignored_without_counting_as_malformed() -> None:
    stats = ParseStats()
    assert parse_record(other_event(), stats) is None
    rec = assume_role()
    rec["eventName"] = "GetCallerIdentity"  # an STS call that issues nothing
    assert parse_record(rec, stats) is None
    rec["eventName"] = "AssumeRoleWithSAML"  # issues credentials: audited
    assert parse_record(rec, stats) is not None
    assert stats.malformed == 0


def test_assume_role_without_role_arn_is_counted_as_malformed() -> None:
    stats = ParseStats()
    rec = assume_role()
    del rec["requestParameters"]["roleArn"]
    assert parse_record(rec, stats) is None
    assert stats.malformed == 1
    assert "roleArn" in stats.examples[0]


def test_a_log_file_is_filtered_to_assume_role_and_the_window() -> None:
    inside = assume_role(at=T0)
    outside = assume_role(at=T0 + timedelta(days=2))
    data = gzip.compress(json.dumps({"Records": [other_event(), inside, outside]}).encode())
    stats = ParseStats()
    events = parse_log_bytes("f.json.gz", data, WINDOW, stats)
    assert [e.event_id for e in events] == [inside["eventID"]]
    assert stats.malformed == 0


def test_a_file_without_issuance_text_is_validated_but_not_audited() -> None:
    stats = ParseStats()
    data = json.dumps({"Records": [other_event(), other_event()]}).encode()
    assert parse_log_bytes("f.json", data, WINDOW, stats) == []
    assert stats.files_skipped == 1 and stats.malformed == 0 and stats.records == 0
    # Not valid JSON: fails closed, even without any issuance text in it.
    assert parse_log_bytes("g.json", b'{"Records": [oops', WINDOW, stats) == []
    assert stats.unreadable == ["g.json"] and stats.malformed == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "eventName",
                    "eventTime",
                    "eventID",
                    "requestParameters",
                    "roleArn",
                    "sourceIdentity",
                    "userIdentity",
                    "sessionContext",
                    "responseElements",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_records_never_crash(value: Any) -> None:
    parse_record(value, ParseStats())
    if isinstance(value, dict):
        parse_record({**value, "eventName": "AssumeRole"}, ParseStats())


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=5), st.binary(max_size=40))
def test_arbitrary_files_never_crash(records: list[Any], junk: bytes) -> None:
    stats = ParseStats()
    good = json.dumps({"Records": [*records, assume_role()]}).encode()
    for data in (
        good,
        gzip.compress(good),
        b"\x1f\x8b" + junk,
        junk + b'"AssumeRole"',
        gzip.compress(junk + b'"AssumeRole"'),
    ):
        events = parse_log_bytes("f", data, WINDOW, stats)
        assert all(WINDOW.contains(e.event_time) for e in events)


def test_concatenated_gzip_members_and_nul_padding_are_read() -> None:
    inside = assume_role(at=T0)
    text = json.dumps({"Records": [inside]}).encode()
    data = gzip.compress(text[:20]) + gzip.compress(text[20:]) + b"\0" * 64
    stats = ParseStats()
    assert [e.event_id for e in parse_log_bytes("f.json.gz", data, WINDOW, stats)] == [
        inside["eventID"]
    ]
    assert stats.unreadable == []


def test_a_highly_compressed_file_is_inflated_in_bounded_steps() -> None:
    """Formerly skipped as a "gzip bomb"; now read, because nothing may be left out."""
    from sentinelgw.audit import stream

    inside = assume_role(at=T0)
    text = b'{"Records": [' + json.dumps(inside).encode() + b"]" + b" " * (8 << 20) + b"}"
    chunks = list(stream.inflate(__import__("io").BytesIO(gzip.compress(text))))
    assert max(len(c) for c in chunks) <= stream.INFLATE_SIZE
    assert b"".join(chunks) == text


issuance_records = st.fixed_dictionaries(
    {
        "eventName": st.sampled_from(
            ["AssumeRole", "AssumeRoleWithSAML", "GetSessionToken", "AssumeRoot", "ListBuckets"]
        )
    },
    optional={
        "eventSource": st.sampled_from(["sts.amazonaws.com", "s3.amazonaws.com"]),
        "eventTime": st.sampled_from(["2025-11-03T12:00:00Z", "", "yesterday", None]),
        "eventID": st.sampled_from(["e1", "", None]),
        "sharedEventID": st.sampled_from(["s1", ""]),
        "errorCode": st.sampled_from(["AccessDenied", "", None]),
        "recipientAccountId": st.sampled_from(["123456789012", ""]),
        "userIdentity": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "type": st.sampled_from(["AWSService", "IAMUser", ""]),
                    "invokedBy": st.sampled_from(["lambda.amazonaws.com", ""]),
                    "arn": st.text(max_size=5),
                    "sessionContext": st.fixed_dictionaries(
                        {},
                        optional={
                            "sourceIdentity": st.sampled_from(
                                ["sentinel.a.0123456789abcdef", "x", ""]
                            ),
                            "sessionIssuer": st.fixed_dictionaries(
                                {}, optional={"arn": st.sampled_from([PROD_ROLE, ""])}
                            ),
                        },
                    ),
                },
            ),
        ),
        "requestParameters": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "roleArn": st.sampled_from([PROD_ROLE, ""]),
                    "roleSessionName": st.text(max_size=5),
                    "name": st.text(max_size=5),
                    "sourceIdentity": st.sampled_from(["sentinel.b.0123456789abcdef", "y", ""]),
                },
            ),
        ),
        "responseElements": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "sourceIdentity": st.sampled_from(["sentinel.a.0123456789abcdef", "z", ""])
                },
            ),
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(issuance_records)
def test_the_fast_decoder_and_the_dict_reader_agree(record: dict[str, Any]) -> None:
    """Files are decoded into typed structs; Athena-style dicts are read field by field."""
    from sentinelgw.audit.decode import decode_record

    typed, loose = ParseStats(), ParseStats()
    fast = decode_record(json.dumps(record), typed, where="f", index=0)
    slow = parse_record(record, loose, where="f", index=0)
    assert fast == slow
    assert typed.bad_records == loose.bad_records

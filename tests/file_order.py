"""The order the test workers take files in: the longest first.

With four workers each taking one file at a time (``--dist loadfile``, and run.py passes
``--no-loadscope-reorder`` so xdist keeps this order), the run ends when the last file ends.
Files that take long with few tests (a child process, a real ``sentinel``, a sandbox of their
own) used to come last, sorted by their number of tests, and the run ended on one of them
while the other workers waited: a tail of about 12 s. So files go in the order of their wall
time, measured with four workers on the 2-core machine (2026-12-06, whole seconds); a file
not listed counts a tenth of a second per test, or 30 s if a test of it is marked slow.
The figures need not be exact, only in about the right order; a file renamed or removed
fails ``tests/core/test_file_order.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent

SECONDS = {
    "sandbox/test_demo.py": 85,
    "service/test_tvm_uncooperative.py": 41,
    "exec/test_server_mode.py": 32,
    "service/test_access_requests.py": 29,
    "service/test_approvals_enforced.py": 25,
    "ux/test_docs.py": 22,
    "service/test_remote_session_life.py": 21,
    "service/test_breakglass.py": 21,
    "sandbox/test_dev_cmd.py": 20,
    "credentials/test_keystore.py": 17,
    "hardening/test_hardening_faults.py": 16,
    "hardening/test_hardening_hostile.py": 14,
    "hardening/test_hardening_load.py": 13,
    "service/deploy/test_deploy_check.py": 11,
    "sessions/test_revocation_live.py": 9,
    "sessions/test_revocation_chains.py": 9,
    "exec/test_exec_cli_mode.py": 9,
    "ux/test_server_messages.py": 8,
    "hardening/test_hardening_secrets.py": 8,
    "ux/test_exec_command_line.py": 7,
    "policy/test_policy_fuzz.py": 6,
    "sessions/test_session_export_memory.py": 6,
    "service/deploy/test_deploy_permissions.py": 6,
    "service/test_permission_denied_as_alice.py": 6,
    "service/test_breakglass_mfa.py": 6,
    "sessions/test_revocation.py": 6,
    "sessions/test_revocation_quota.py": 5,
    "sessions/test_blocks_local.py": 5,
    "sessions/test_revoke_user.py": 5,
    "service/deploy/test_deploy_sandbox.py": 5,
    "core/test_aws_errors.py": 5,
    "audit/test_session_activity_live.py": 5,
    "service/test_tvm_api.py": 5,
    "audit/test_audit_events.py": 4,
    "service/test_tvm_modes.py": 4,
    "sessions/test_block_race.py": 4,
    "hardening/test_hardening_inert.py": 4,
    "sessions/test_session_store.py": 4,
    "ux/test_tables.py": 4,
    "sandbox/test_motofix.py": 4,
    "service/deploy/test_deploy_cloudformation.py": 4,
    "audit/test_audit_files.py": 4,
    "service/test_remote_describe.py": 4,
    "ux/test_habits.py": 4,
    "credentials/test_profile_kinds.py": 4,
    "service/deploy/test_deploy_stack.py": 4,
    "service/test_tvm_client.py": 4,
    "ux/test_new_commands.py": 4,
    "service/test_tvm_activity.py": 4,
    "hardening/test_hardening_claims.py": 3,
    "audit/test_audit_cli.py": 3,
    "audit/test_athena_api.py": 3,
    "sandbox/test_sandbox_revocation.py": 3,
}


def expected_seconds(path: Path, tests: int, slow: bool) -> float:
    """The file's wall time as measured, or the estimate for a file not listed."""
    try:
        key = path.resolve().relative_to(TESTS).as_posix()
    except ValueError:
        key = ""
    if key in SECONDS:
        return SECONDS[key]
    return 30.0 if slow else 0.1 * tests


def order(items: list[Any]) -> None:
    """Sort ``items`` (pytest items) by file, longest file first; each file's own order kept."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    count: dict[Any, int] = {}
    for item in items:
        count[item.path] = count.get(item.path, 0) + 1
    seconds = {p: expected_seconds(p, n, p in slow) for p, n in count.items()}
    items.sort(key=lambda item: -seconds[item.path])  # stable: a file's tests stay together

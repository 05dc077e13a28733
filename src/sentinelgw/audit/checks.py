"""Checks around an audit run: filters that must name something real, and failing closed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sentinelgw.audit.profiles import ProfileResolver, is_role_arn
from sentinelgw.errors import AuditError, UsageError


def check_filters(
    role: str | None,
    profile: str | None,
    resolver: ProfileResolver,
    policy_profiles: Callable[[], list[str]] | None = None,
) -> None:
    """``--role`` must be an IAM role ARN and ``--profile`` a profile something names.

    ``policy_profiles`` is called only when the AWS config does not name the profile; it
    returns the profile names the policy spells out. A typo would otherwise match no event
    and report "compliant".
    """
    if role is not None and not is_role_arn(role):
        known = resolver.role_arns()
        raise UsageError(
            f"--role {role!r} is not an IAM role ARN",
            hint="Use arn:aws:iam::<account>:role/<name>; roles in the AWS config: "
            + (", ".join(known) if known else "none"),
        )
    if profile is None or profile in resolver.known_profiles():
        return
    named = sorted(policy_profiles()) if policy_profiles is not None else []
    if profile in named:
        return
    known = sorted(set(resolver.known_profiles()) | set(named))
    raise UsageError(
        f"--profile {profile!r} is named by neither the AWS config nor the policy",
        hint="Known profiles: " + (", ".join(known) if known else "none"),
    )


def named_profiles(policy: Any) -> list[str]:
    """The profile names a policy's rules spell out; wildcard patterns name none."""
    return [
        p for rule in policy.rules for p in rule.profiles or () if not any(c in p for c in "*?[")
    ]


def fail_closed(unreadable: Sequence[str], *, allowed: bool) -> None:
    """Refuse a result that left log files out, unless ``--allow-unreadable`` allowed it."""
    if not unreadable or allowed:
        return
    shown = ", ".join(unreadable[:5])
    if len(unreadable) > 5:
        shown += f" and {len(unreadable) - 5} more"
    raise AuditError(
        f"{len(unreadable)} CloudTrail log file{'s' if len(unreadable) != 1 else ''} could not "
        f"be read, inflated or parsed: {shown}",
        hint="Fix or remove them, or pass --allow-unreadable to report without them",
    )

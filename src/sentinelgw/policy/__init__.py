"""Sentinel's policy engine: model, loader and validation, pure evaluation, sources.

See ``docs/policies.md`` for the YAML forms and the semantics, and ``docs/architecture.md``
for the contract other parts code against.
"""

from __future__ import annotations

from sentinelgw.policy.evaluate import (
    denial_message,
    evaluate,
    fix_command,
    required_for_profile,
)
from sentinelgw.policy.explain import explain_data
from sentinelgw.policy.loader import load_policy_text, policy_from_doc
from sentinelgw.policy.model import (
    DENIALS,
    Decision,
    Effect,
    Mode,
    Policy,
    Request,
    Rule,
    TimeWindow,
)

__all__ = [
    "DENIALS",
    "Decision",
    "Effect",
    "Mode",
    "Policy",
    "Request",
    "Rule",
    "TimeWindow",
    "denial_message",
    "evaluate",
    "explain_data",
    "fix_command",
    "load_policy_text",
    "policy_from_doc",
    "required_for_profile",
]

"""The AWS clients a deployment uses, and reads that treat "not found" as an answer."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sentinelgw.awserrors import aws_call
from sentinelgw.errors import AWSError

T = TypeVar("T")

NOT_FOUND = frozenset({"NoSuchEntity", "ResourceNotFoundException", "ParameterNotFound"})


@dataclass(frozen=True)
class DeployClients:
    """boto3 clients for one account and region."""

    iam: Any
    dynamodb: Any
    ssm: Any
    lambda_: Any
    cloudformation: Any = None
    s3: Any = None


def read_or_none(service: str, operation: str, fn: Callable[[], T], resource: str) -> T | None:
    """Run a read through :func:`~sentinelgw.awserrors.aws_call`; ``None`` when AWS answers
    that the resource does not exist."""
    try:
        with aws_call(service, operation, resource):
            return fn()
    except AWSError as exc:
        if exc.aws_code in NOT_FOUND:
            return None
        raise


def policy_document(raw: Any) -> dict[str, Any]:
    """An IAM policy document as a dict, whether boto3 decoded it or not.

    IAM returns documents URL-encoded; boto3 decodes most of them, but not every operation's.
    Anything that is not a JSON object becomes an empty document, which grants nothing.
    """
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        for text in (raw, urllib.parse.unquote(raw)):
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            return doc if isinstance(doc, dict) else {}
    return {}


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a document; a single statement object counts as a list of one."""
    raw = doc.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    return [s for s in items if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    """IAM allows a string where a list is meant: ``"a"`` and ``["a"]`` mean the same."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def normalized(doc: dict[str, Any]) -> dict[str, Any]:
    """A document in a canonical form, so equal policies compare equal.

    Lists of actions, resources and principals are sorted and a lone string becomes a list;
    ``Sid`` is kept, because a reader of the account sees it.
    """
    return {
        "Version": doc.get("Version"),
        "Statement": [_normalized_statement(s) for s in statements(doc)],
    }


def _normalized_statement(statement: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Action", "NotAction", "Resource", "NotResource"):
            out[key] = sorted(str(v) for v in as_list(value))
        elif key in ("Principal", "NotPrincipal") and isinstance(value, dict):
            out[key] = {k: sorted(str(x) for x in as_list(v)) for k, v in value.items()}
        else:
            out[key] = value
    return out

"""Lists the credential service answers (your requests, grants, sessions) in every format.

The service answers ``{"user": ..., KEY: [rows]}``; each listing command differs only in its
columns, its CSV fields and how a row is prepared for a table, so one function prints them all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sentinelgw.cli.tables import Column, render
from sentinelgw.inert import CsvWriter, visible


@dataclass(frozen=True)
class Listing:
    """How one command shows the rows under ``key`` of a service answer."""

    key: str  # where the rows are in the answer
    noun: str  # "access requests for": the title and the empty line name the user after it
    columns: Sequence[Column]
    csv_fields: Sequence[str] = ()
    prepare: Callable[[dict[str, Any]], dict[str, Any]] = dict  # a row as the table shows it
    grants_at: int | None = None  # where mark_grants puts its column, if the rows may have one
    empty_after: str = ""  # said after the user when there is nothing to list


def show_listing(answer: Mapping[str, Any], listing: Listing, fmt: str) -> None:
    """Print the answer's rows as JSON, CSV (inert) or a table titled with the user."""
    rows = [r for r in answer.get(listing.key) or [] if isinstance(r, dict)]
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = [listing.prepare(r) for r in rows]
    if fmt == "csv":
        writer = CsvWriter(sys.stdout)
        writer.header(listing.csv_fields)
        for row in table:
            writer.row(row.get(f) for f in listing.csv_fields)
        return
    user = visible(str(answer.get("user") or "?"))
    if not rows:
        sys.stdout.write(f"no {listing.noun} {user}{listing.empty_after}\n")
        return
    columns = list(listing.columns)
    if listing.grants_at is not None:
        mark_grants(table, columns, at=listing.grants_at)
    render(table, columns, title=f"{listing.noun} {user} ({len(rows)})")


def mark_grants(rows: list[dict[str, Any]], columns: list[Column], *, at: int) -> None:
    """Loud: when any session ran under a grant, a ``grant`` column (inserted at ``at``) names
    it, ``BREAK-GLASS <id>`` or ``request <id>``."""
    if not any(r.get("breakglass_id") or r.get("request_id") for r in rows):
        return
    for r in rows:
        glass, request = r.get("breakglass_id"), r.get("request_id")
        r["grant"] = f"BREAK-GLASS {glass}" if glass else (f"request {request}" if request else "")
    columns.insert(at, Column("grant", key=True))

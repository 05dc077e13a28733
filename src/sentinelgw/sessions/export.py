"""Streaming JSON and CSV exports of session records.

Both writers consume an iterator and write as they go, so the memory they use does not grow
with the number of sessions: JSON is written as ``[``, one object per line, ``]``; CSV as the
header then one row per record, each cell safe to open in a spreadsheet. Column names are
:data:`EXPORT_FIELDS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from sentinelgw.inert import CsvWriter
from sentinelgw.sessions.model import EXPORT_FIELDS, SessionRecord


def write_json(records: Iterable[SessionRecord], out: TextIO, now: datetime) -> int:
    """Write a JSON array of export objects; returns how many were written."""
    count = 0
    out.write("[")
    for rec in records:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(rec.to_export(now), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_csv(records: Iterable[SessionRecord], out: TextIO, now: datetime) -> int:
    """Write CSV with a header row first; empty cells for absent values.

    Cells are made safe for spreadsheets (formula prefixes neutralised, CR/LF quoted).
    """
    writer = CsvWriter(out)
    writer.header(EXPORT_FIELDS)
    count = 0
    for rec in records:
        row = rec.to_export(now)
        writer.row(row[f] for f in EXPORT_FIELDS)
        count += 1
    return count

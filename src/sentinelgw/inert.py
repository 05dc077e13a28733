"""Rendering untrusted text inert: on a terminal, in rich tables and in CSV cells.

Profile and user names, reasons, hosts, role ARNs and every CloudTrail field come from other
people's writes or from caller-chosen names, so they can hold any character:

- terminal control sequences (ESC ``CSI``/``OSC``, C1 controls, DEL) that recolour, retitle or
  rewrite the screen, and CR/LF that start a fake line or table row;
- rich console markup (``[bold]``, ``[/]``), which rich would interpret or reject with a
  ``MarkupError``;
- spreadsheet formulas (``=HYPERLINK(...)``, ``@SUM(...)``) that run when a CSV is opened.

:func:`visible` escapes every control character as a visible Python-style escape (``\\x1b``,
``\\r``, ``\\n``, ``\\t``, ``\\u2028``) and doubles a literal backslash, so the escaped text
reads back unambiguously. :func:`text` wraps a value in a ``rich.text.Text``, which rich
never parses as markup. :func:`csv_safe` escapes control characters the same way and
neutralises formula prefixes the way OWASP's "CSV Injection" page recommends: a cell starting
with ``=``, ``+``, ``-`` or ``@`` is prefixed with a single quote. :class:`CsvWriter` writes
export rows that way. JSON output needs none of this and stays exact.

This module imports nothing heavy; rich is imported only by :func:`text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.text import Text

# C0 controls, DEL, C1 controls, the Unicode line/paragraph separators and bidi overrides
# that terminals and editors act on, and the backslash (doubled, so escapes stay unambiguous).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
# Also escaped: every other format character (zero-width spaces and joiners, soft hyphen, BOM),
# surrogates, private-use and unassigned code points, which render as nothing or as anything.
_INVISIBLE = ("Cf", "Cs", "Co", "Cn")

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _escape(match: re.Match[str]) -> str:
    return _escape_char(match.group(0))


def visible(value: object) -> str:
    """``value`` as text with every control character shown as a visible escape.

    None becomes the empty string. The result contains no character below U+0020, no DEL, no
    C1 control, no line separator and no invisible format character, so it can neither move
    the cursor nor start a line nor hide what follows.
    """
    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    s = _CONTROL.sub(_escape, s)
    if s.isascii():
        return s
    import unicodedata

    return "".join(_escape_char(ch) if unicodedata.category(ch) in _INVISIBLE else ch for ch in s)


def text(value: object, style: str = "") -> Text:
    """A rich ``Text`` holding :func:`visible` ``(value)``; rich never reads markup in it."""
    from rich.text import Text

    return Text(visible(value), style=style)


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will show as text, never evaluate as a formula, and that
    ``cat`` or ``column`` cannot turn into terminal commands.

    Control characters are escaped as :func:`visible` does for human output (ESC and BEL
    would otherwise reach the terminal of whoever looks at the file; CR and LF would start a
    row in tools that do not read CSV quoting). Then a cell starting with ``=``, ``+``, ``-``
    or ``@`` gets a leading single quote (OWASP's recommendation).
    """
    if value is None:
        return ""
    s = visible(value)
    if s.startswith(FORMULA_PREFIXES):
        return "'" + s
    return s


def csv_row(values: Iterable[Any]) -> list[str]:
    """:func:`csv_safe` applied to every cell of a row."""
    return [csv_safe(v) for v in values]


class CsvWriter:
    """CSV rows with every cell made safe by :func:`csv_safe`.

    Rows end in CRLF (RFC 4180). With that terminator the csv module quotes any cell holding a
    CR or an LF, so a lone CR inside a value can never end a row in a spreadsheet either.
    """

    def __init__(self, out: TextIO) -> None:
        import csv

        self._writer = csv.writer(out, lineterminator="\r\n")

    def header(self, names: Iterable[str]) -> None:
        self._writer.writerow(list(names))

    def row(self, values: Iterable[Any]) -> None:
        self._writer.writerow(csv_row(values))

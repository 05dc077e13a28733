"""Human tables that fit the terminal, and plain columns when the output is not one.

On a terminal the key columns (ids, statuses, times, profiles, users) are always shown whole:

1. every column, two spaces apart, if the widest value of each fits the width;
2. else the same with one space between columns;
3. else without the non-key columns, from the last one back, with a line naming what is hidden;
4. else, when even the key columns do not fit side by side, one block per row ("stacked"),
   each field on its own line, long values wrapped rather than cut.

When stdout is not a terminal (a pipe, a file) the columns are plain text, as wide as their
widest value, never truncated, so ``grep``, ``awk`` and ``sort`` see every value.

Values are untrusted (record fields, CloudTrail fields): control and format characters are
shown escaped (``\\x1b``), and on a terminal every value is a ``rich.text.Text``, so nothing in
a value is read as console markup.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sentinelgw.inert import visible

GAPS = (2, 1)
EMPTY = "-"


@dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its header, whether it must stay visible."""

    field: str
    header: str = ""
    key: bool = False
    right: bool = False

    @property
    def title(self) -> str:
        return self.header or self.field


def cell_text(value: object) -> str:
    """``value`` with control and format characters escaped (:func:`sentinelgw.inert.visible`);
    None or empty is ``-``."""
    if value is None or value == "":
        return EMPTY
    return visible(value)


@dataclass(frozen=True)
class Layout:
    """What fits: the columns shown side by side and the gap between them, or stacked."""

    columns: tuple[Column, ...]
    gap: int
    hidden: tuple[Column, ...]
    stacked: bool


def choose_layout(
    cells: Sequence[Mapping[str, str]], columns: Sequence[Column], width: int
) -> Layout:
    """The first layout (see the module docstring) whose lines fit in ``width`` terminal cells
    (a wide character takes two)."""
    from rich.cells import cell_len

    widths = {
        c.field: max([cell_len(c.title), *(cell_len(r[c.field]) for r in cells)]) for c in columns
    }

    def fits(shown: Sequence[Column], gap: int) -> bool:
        return sum(widths[c.field] for c in shown) + gap * (len(shown) - 1) <= width

    for gap in GAPS:
        if fits(columns, gap):
            return Layout(tuple(columns), gap, (), False)
    optional = [c for c in columns if not c.key]
    shown = list(columns)
    hidden: list[Column] = []
    while optional:
        drop = optional.pop()
        shown.remove(drop)
        hidden.insert(0, drop)
        if fits(shown, GAPS[-1]):
            return Layout(tuple(shown), GAPS[-1], tuple(hidden), False)
    return Layout(tuple(columns), GAPS[0], (), True)


def render(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    out: IO[str] | None = None,
    terminal: bool | None = None,
    width: int | None = None,
) -> None:
    """Print ``rows`` (mappings from field to value) under ``columns``.

    ``terminal`` and ``width`` default to what stdout is; tests pass them to render as a
    terminal of a given width would.
    """
    stream = sys.stdout if out is None else out
    is_tty = stream.isatty() if terminal is None else terminal
    cells = [{c.field: cell_text(row.get(c.field)) for c in columns} for row in rows]
    if not is_tty:
        _plain(cells, columns, stream)
        return
    from rich.console import Console

    console = Console(
        file=stream, width=width, force_terminal=terminal, highlight=False, soft_wrap=False
    )
    layout = choose_layout(cells, columns, console.width)
    if title:
        console.print(_text(title))
    if layout.stacked:
        _stacked(cells, columns, console)
    else:
        _grid(cells, layout, console)


def _text(value: str, style: str = "") -> Any:
    from rich.text import Text

    return Text(value, style=style, no_wrap=False, overflow="fold")


def _plain(cells: Sequence[Mapping[str, str]], columns: Sequence[Column], out: IO[str]) -> None:
    widths = [max([len(c.title), *(len(r[c.field]) for r in cells)]) for c in columns]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if c.right else v.ljust(w)
            for c, v, w in zip(columns, values, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out.write(line([c.title for c in columns]) + "\n")
    for row in cells:
        out.write(line([row[c.field] for c in columns]) + "\n")


def _grid(cells: Sequence[Mapping[str, str]], layout: Layout, console: Any) -> None:
    from rich.table import Table

    grid = Table(
        box=None,
        padding=(0, layout.gap, 0, 0),
        pad_edge=False,
        show_edge=False,
        header_style="bold",
        expand=False,
    )
    for col in layout.columns:
        grid.add_column(
            _text(col.title),
            justify="right" if col.right else "left",
            no_wrap=True,
            overflow="ignore",
        )
    for row in cells:
        grid.add_row(*(_text(row[c.field]) for c in layout.columns))
    console.print(grid)
    if layout.hidden:
        names = ", ".join(c.title for c in layout.hidden)
        console.print(
            _text(
                f"(not shown at this width: {names}; see them in a wider "
                "terminal or with --format json)",
                style="dim",
            )
        )


def _stacked(cells: Sequence[Mapping[str, str]], columns: Sequence[Column], console: Any) -> None:
    from rich.text import Text

    label_width = max(len(c.title) for c in columns)
    for i, row in enumerate(cells):
        if i:
            console.print()
        for col in columns:
            line = Text(f"{col.title:<{label_width}}  ", style="bold")
            line.append(row[col.field])
            line.overflow = "fold"
            console.print(line)

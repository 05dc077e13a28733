"""Reading one log file of any size: inflate as a stream, parse whole or record by record.

CloudTrail delivers files of a few MB, and those are decoded whole (the fast path). A file
whose inflated text passes :data:`WHOLE_LIMIT` is never held in memory and never skipped: its
``{"Records": [...]}`` array is parsed one record at a time from the inflated stream, so memory
stays around one chunk plus one record. Long runs of whitespace between records are skipped
with a regular expression, so padding costs little more than inflating it.

Damage (a truncated or corrupt gzip stream, JSON that does not parse, no ``Records`` list)
raises :class:`~sentinelgw.audit.decode.Unreadable`; the caller names the file.
"""

from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from sentinelgw.audit.decode import Unreadable, decode_log, validate_log
from sentinelgw.audit.events import IssuanceEvent, ParseStats, parse_record

READ_SIZE = 1 << 20  # compressed bytes per read
INFLATE_SIZE = 4 << 20  # most inflated bytes produced per step, so a bomb never lands at once
WHOLE_LIMIT = 32 << 20  # inflated bytes decoded whole; beyond this the file is streamed
MAX_RECORD_CHARS = 64 << 20  # one record larger than this is not CloudTrail's
BATCH = 2000  # events handed on at a time from a streamed file

# Text that every file holding an issuance event contains: an eventName value. CloudTrail never
# escapes these names, but JSON could, so a file with any \u escape is audited too.
_NEEDLES = (b'"AssumeRo', b'"GetSessionToken"', b'"GetFederationToken"', b"\\u")
_WS = re.compile(r"[ \t\r\n]*")
_HEAD = re.compile(r'\{[ \t\r\n]*"Records"[ \t\r\n]*:[ \t\r\n]*\[')


class RecordParser(Protocol):
    """Reads one record (a decoded JSON value) of a streamed file; None when not wanted."""

    def __call__(
        self, record: Any, stats: ParseStats, *, where: str | None = ..., index: int | None = ...
    ) -> Any: ...


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def inflate(fh: Readable) -> Iterator[bytes]:
    """The content of a file, inflated if it is gzip (every member), in bounded chunks."""
    data = fh.read(READ_SIZE)
    if data[:2] != b"\x1f\x8b":
        while data:
            yield data
            data = fh.read(READ_SIZE)
        return
    d = zlib.decompressobj(wbits=31)
    fed = False  # has the current gzip member consumed any input?
    while True:
        while data:
            if not fed:
                data = data.lstrip(b"\x00")  # NUL padding between or after members
                if not data:
                    break
                fed = True
            out = d.decompress(data, INFLATE_SIZE)
            if out:
                yield out
            data = d.unconsumed_tail
            while not data and not d.eof and len(out) == INFLATE_SIZE:  # held back output
                out = d.decompress(b"", INFLATE_SIZE)
                if out:
                    yield out
                data = d.unconsumed_tail
            if d.eof:  # another member may follow (concatenated gzip)
                data = d.unused_data
                d, fed = zlib.decompressobj(wbits=31), False
        data = fh.read(READ_SIZE)
        if not data:
            break
    if fed:
        raise Unreadable("truncated gzip stream")


def read_log(
    chunks: Iterable[bytes], where: str, stats: ParseStats, parse: RecordParser = parse_record
) -> Iterator[bytes | list[Any]]:
    """One file's inflated chunks as its whole text (bytes, for :func:`decode_whole`) or, for
    a file past :data:`WHOLE_LIMIT`, as batches of events; raises :class:`Unreadable`.

    Whole files are handed on undecoded so that the thread that inflates them (zlib releases
    the GIL) does no Python-heavy work and the consumer decodes them.
    """
    it = iter(chunks)
    held: list[bytes] = []
    size = 0
    for chunk in it:
        held.append(chunk)
        size += len(chunk)
        if size > WHOLE_LIMIT:
            stats.add(streamed=1, files=1)
            yield from _stream(_chain(held, it), where, stats, parse)
            return
    yield b"".join(held)


def decode_whole(data: bytes, where: str, stats: ParseStats) -> list[IssuanceEvent]:
    """The events of one whole log file's text; raises :class:`Unreadable`."""
    if not any(n in data for n in _NEEDLES):  # the cheap pre-filter
        validate_log(data)
        stats.add(files=1, files_skipped=1)
        return []
    return list(decode_log(data, where, stats))


def _chain(head: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    while head:
        yield head.pop(0)
    yield from rest


class _Text:
    """Inflated bytes as decoded text, with a read position; drops what has been consumed."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self.buf = ""
        self.pos = 0
        self.eof = False

    def more(self) -> bool:
        """Append the next chunk; False at the end of the file."""
        if self.eof:
            return False
        if self.pos > len(self.buf) // 2:
            self.buf, self.pos = self.buf[self.pos :], 0
        try:
            chunk = next(self._chunks, None)
            text = (
                self._decoder.decode(chunk)
                if chunk is not None
                else self._decoder.decode(b"", final=True)
            )
        except UnicodeDecodeError:
            raise Unreadable("not UTF-8 text") from None
        if chunk is None:
            self.eof = True
        self.buf += text
        return chunk is not None or bool(text)

    def skip_ws(self) -> bool:
        """Skip whitespace, reading on; False when the file ends first."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return True
            self.buf, self.pos = "", 0  # all whitespace: drop it without copying
            if not self.more():
                return False

    def expect(self, pattern: re.Pattern[str], what: str) -> None:
        while True:
            m = pattern.match(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return
            if len(self.buf) - self.pos > 256 or not self.more():
                raise Unreadable(f"no 'Records' list ({what})")


_COMMA_OR_END = re.compile(r"[,\]]")
_CLOSE = re.compile(r"\}")
_DECODER = json.JSONDecoder()


def _stream(
    chunks: Iterator[bytes], where: str, stats: ParseStats, parse: RecordParser = parse_record
) -> Iterator[list[Any]]:
    text = _Text(chunks)
    if not text.skip_ws():
        raise Unreadable("empty file")
    text.expect(_HEAD, 'the file does not start with {"Records": [')
    batch: list[Any] = []
    index = 0
    if not text.skip_ws():
        raise Unreadable("truncated inside the Records list")
    if text.buf[text.pos] == "]":
        text.pos += 1
    else:
        while True:
            value = _next_value(text)
            event = parse(value, stats, where=where, index=index)
            index += 1
            if event is not None:
                stats.add(records=1)
                batch.append(event)
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
            if not text.skip_ws():
                raise Unreadable("truncated inside the Records list")
            sep = text.buf[text.pos]
            if sep not in ",]":
                raise Unreadable(f"not valid JSON after record {index - 1}")
            text.pos += 1
            if sep == "]":
                break
    if not text.skip_ws():
        raise Unreadable("truncated after the Records list")
    text.expect(_CLOSE, "the top-level object is not closed")
    if text.skip_ws():
        raise Unreadable("text after the end of the log")
    if batch:
        yield batch


def _next_value(text: _Text) -> object:
    """Decode the JSON value at the position, reading on while it is cut by the chunk end."""
    while True:
        if not text.skip_ws():
            raise Unreadable("truncated inside the Records list")
        try:
            value, end = _DECODER.raw_decode(text.buf, text.pos)
        except (ValueError, RecursionError):
            value, end = None, -1
        # A value that ends exactly at the buffer's end may be a cut number: read on.
        if end != -1 and (end < len(text.buf) or text.eof):
            text.pos = end
            return value
        if len(text.buf) - text.pos > MAX_RECORD_CHARS:
            raise Unreadable("a record is larger than any CloudTrail record")
        if not text.more():
            if end != -1:
                text.pos = end
                return value
            raise Unreadable("not valid JSON, or truncated, inside the Records list")


def file_events(
    open_file: Callable[[], Readable],
    where: str,
    stats: ParseStats,
    parse: RecordParser = parse_record,
) -> Iterator[bytes | list[Any]]:
    """One file as :func:`read_log` gives it; raises :class:`Unreadable` or OSError.

    ``parse`` reads one record of a streamed (very large) file: the issuance audit's
    :func:`~sentinelgw.audit.events.parse_record` by default.
    """
    fh = open_file()
    try:
        yield from read_log(inflate(fh), where, stats, parse)
    except zlib.error as exc:
        raise Unreadable(f"not a readable gzip file ({exc})") from None
    except EOFError:
        raise Unreadable("truncated gzip stream") from None
    finally:
        close = getattr(fh, "close", None)
        if close is not None:
            close()


def read_events(
    open_file: Callable[[], Readable], where: str, stats: ParseStats
) -> Iterator[IssuanceEvent]:
    """Every event of one file, decoded in this thread; raises :class:`Unreadable`."""
    for item in file_events(open_file, where, stats):
        yield from decode_whole(item, where, stats) if isinstance(item, bytes) else item

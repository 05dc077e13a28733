"""Reading many log files at once: a bounded pool of reader threads and one consumer.

Reader threads open and inflate files (zlib releases the GIL, so this runs beside the
consumer); the thread that consumes the events decodes whole files itself, so the
Python-heavy work stays on one thread instead of contending for the GIL. Files too large to
hold are parsed by their reader thread as a stream and handed over in batches.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sentinelgw.audit.decode import Unreadable
from sentinelgw.audit.events import IssuanceEvent, ParseStats, parse_record
from sentinelgw.audit.stream import Readable, RecordParser, decode_whole, file_events
from sentinelgw.errors import SentinelError

if TYPE_CHECKING:
    from sentinelgw.audit.window import Progress, Window

Opener = Callable[[], Readable]
_DONE = object()  # a worker finished one file


WholeDecoder = Callable[[bytes, str, ParseStats], list[Any]]


def read_parallel(
    units: Iterable[tuple[str, Opener]],
    window: Window,
    stats: ParseStats,
    *,
    workers: int = 4,
    progress: Progress | None = None,
    decode: WholeDecoder = decode_whole,
    parse: RecordParser = parse_record,
) -> Iterator[Any]:
    """Read files with a bounded pool of threads, yielding events as they are decoded.

    Workers hand over batches through a bounded queue, so memory stays bounded whatever the
    number or size of the files. A file that cannot be read or parsed is named in
    ``stats.unreadable``; a :class:`SentinelError` (a denied S3 call) stops the run.

    ``decode`` (a whole file's text) and ``parse`` (one record of a streamed file) make the
    events: the issuance audit's by default; ``session-activity`` passes its own. Either way the
    events have an ``event_time`` and those outside the window are dropped.
    """
    # Whole files wait here inflated (at most WHOLE_LIMIT each), so keep the queue short.
    out: queue.Queue[object] = queue.Queue(maxsize=2 * max(1, workers))
    stop = threading.Event()
    lock = threading.Lock()
    todo = iter(units)

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:  # the listing is a generator: one thread at a time
                    unit = next(todo, None)
                if unit is None:
                    return
                name, opener = unit
                for item in _file_items(name, opener, stats, parse):
                    if not put(item):
                        return
                put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)
        finally:
            put(None)

    threads = [
        threading.Thread(target=work, name=f"audit-reader-{n}", daemon=True)
        for n in range(max(1, workers))
    ]
    for t in threads:
        t.start()
    contains = window.contains
    try:
        running, done = len(threads), 0
        while running:
            item = out.get()
            if item is None:
                running -= 1
            elif item is _DONE:
                done += 1
                if progress is not None and done % 20 == 0:
                    progress(f"CloudTrail log files: {done} read, {stats.events} STS events")
            elif isinstance(item, BaseException):
                raise item
            else:
                kept = [e for e in _decoded(item, stats, decode) if contains(e.event_time)]
                stats.add(events=len(kept))
                yield from kept
    finally:
        stop.set()
        for t in threads:
            t.join()


def _decoded(item: object, stats: ParseStats, decode: WholeDecoder = decode_whole) -> list[Any]:
    """Events of a reader's item: a whole file (name, text) decoded here, or a batch."""
    if isinstance(item, tuple):
        name, data = item
        try:
            return decode(data, name, stats)
        except Unreadable as exc:
            stats.unreadable_file(name, str(exc))
            return []
    return item  # type: ignore[return-value]


def _file_items(
    name: str, opener: Opener, stats: ParseStats, parse: RecordParser = parse_record
) -> Iterator[object]:
    """(name, whole text) or batches of events of one file; damage is recorded, not raised."""
    try:
        for item in file_events(opener, name, stats, parse):
            yield (name, item) if isinstance(item, bytes) else item
    except SentinelError:
        raise
    except Unreadable as exc:
        stats.unreadable_file(name, str(exc))
    except (OSError, EOFError, ValueError, RecursionError, MemoryError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        stats.unreadable_file(name, f"cannot read ({why})")


def parse_log_bytes(
    name: str, data: bytes, window: Window, stats: ParseStats
) -> list[IssuanceEvent]:
    """Issuance events in the window from one log file's bytes (gzip or plain JSON)."""
    events: list[IssuanceEvent] = []
    for item in _file_items(name, lambda: io.BytesIO(data), stats):
        events.extend(e for e in _decoded(item, stats) if window.contains(e.event_time))
    stats.add(events=len(events))
    return events

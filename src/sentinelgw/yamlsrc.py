"""YAML loading that remembers where each key came from.

PyYAML's composer gives every node a start mark; we walk the node tree ourselves so that
validation errors can name ``file:line`` for any key or list item. The walk is bounded (node
count and depth) and rejects cyclic aliases, so hostile input yields an error, never a hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sentinelgw.errors import YamlError
from sentinelgw.fsutil import atomic_write, private_dir, read_private

__all__ = ["YamlDoc", "YamlError", "load_yaml", "load_yaml_path"]

Path = tuple[str | int, ...]

MAX_NODES = 50_000
MAX_DEPTH = 64


@dataclass
class YamlDoc:
    data: Any
    filename: str
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if p in self.lines:
                return self.lines[p]
            if not p:
                return None
            p = p[:-1]

    def where(self, path: Path) -> str:
        ln = self.line(path)
        return f"{self.filename}:{ln}" if ln else self.filename


def load_yaml(text: str | bytes, filename: str) -> YamlDoc:
    import yaml

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlError(filename, None, f"not UTF-8 text (byte {exc.start})") from None
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            raise YamlError(filename, line, f"invalid YAML: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise YamlError(filename, None, f"invalid YAML: {exc}") from None
        except (RecursionError, ValueError) as exc:
            raise YamlError(filename, None, f"invalid YAML: {type(exc).__name__}") from None
        doc = YamlDoc(data=None, filename=filename)
        if node is None:
            return doc
        walker = _Walker(loader, doc)
        doc.data = walker.convert(node, (), 0, frozenset())
        return doc
    finally:
        loader.dispose()


class _Walker:
    def __init__(self, loader: Any, doc: YamlDoc) -> None:
        self.loader = loader
        self.doc = doc
        self.count = 0

    def convert(self, node: Any, path: Path, depth: int, active: frozenset[int]) -> Any:
        import yaml

        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise YamlError(self.doc.filename, line, "document is too large or too deeply aliased")
        if depth > MAX_DEPTH:
            raise YamlError(self.doc.filename, line, "document is nested too deeply")
        if id(node) in active:
            raise YamlError(self.doc.filename, line, "recursive alias")
        self.doc.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            inner = active | {id(node)}
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if key is None or isinstance(key, dict | list):
                    raise YamlError(
                        self.doc.filename,
                        key_node.start_mark.line + 1,
                        "mapping keys must be plain strings",
                    )
                if key == "<<":
                    raise YamlError(
                        self.doc.filename,
                        key_node.start_mark.line + 1,
                        "merge keys (<<) are not supported",
                    )
                skey = str(key)
                if skey in out:
                    raise YamlError(
                        self.doc.filename, key_node.start_mark.line + 1, f"duplicate key {skey!r}"
                    )
                self.doc.lines[(*path, skey)] = key_node.start_mark.line + 1
                out[skey] = self.convert(value_node, (*path, skey), depth + 1, inner)
            return out
        if isinstance(node, yaml.SequenceNode):
            inner = active | {id(node)}
            return [
                self.convert(item, (*path, i), depth + 1, inner)
                for i, item in enumerate(node.value)
            ]
        return self.scalar(node)

    def scalar(self, node: Any) -> Any:
        try:
            return self.loader.construct_object(node, deep=False)
        except Exception as exc:  # a bad timestamp or an unknown tag
            raise YamlError(
                self.doc.filename, node.start_mark.line + 1, f"invalid value: {type(exc).__name__}"
            ) from None


# -- parse cache ---------------------------------------------------------------------------
# ``sentinel credentials`` runs on every AWS CLI invocation; importing PyYAML and parsing the
# config costs more than the rest of the warm path. A file that parsed cleanly is cached as
# JSON (data plus line numbers) in the user's 0700 cache folder. Files with values JSON cannot
# represent (dates, binary) and files that fail to parse are never cached.
#
# A cache entry is trusted only when it is ours and matches the file:
# - it is bound to the content: its key holds the SHA-256 of the bytes just read, so an entry
#   for other content (stale, or forged) is never used;
# - it is used only for a config file owned by the current user. Whoever can write the cache
#   can then write the file itself, so a forged entry grants nothing; a config owned by root or
#   by an administrator is always parsed from its bytes;
# - the cache folder and file must be owned by the current user and not writable by others,
#   and the file is opened with O_NOFOLLOW, so another local user cannot plant an entry.

_CACHE_VERSION = 2


def _cache_key(path: str, raw: bytes) -> list[int | str] | None:
    """The entry key for ``raw`` read from ``path``; None when the file may not be cached."""
    import hashlib
    import os

    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_uid != os.geteuid():
        return None
    return [_CACHE_VERSION, path, hashlib.sha256(raw).hexdigest()]


def _cache_file(cache_dir: str, path: str) -> str:
    import os
    import zlib

    return os.path.join(cache_dir, f"yaml-{zlib.crc32(path.encode()):08x}.json")


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _read_entry(cache_dir: str, path: str) -> Any:
    """The cached JSON for ``path``, or None unless folder and file are private and ours."""
    import json

    raw = read_private(_cache_file(cache_dir, path))
    return None if raw is None else json.loads(raw)


def load_yaml_path(path: str, raw: bytes, cache_dir: str | None) -> YamlDoc:
    """``load_yaml(raw, path)``, served from the parse cache when the entry matches ``raw``."""
    import json

    key = _cache_key(path, raw) if cache_dir else None
    if key is not None and cache_dir:
        try:
            entry = _read_entry(cache_dir, path)
            if isinstance(entry, dict) and entry.get("key") == key:
                lines = {tuple(p): int(line) for p, line in entry["lines"]}
                return YamlDoc(data=entry["data"], filename=path, lines=lines)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    doc = load_yaml(raw, path)
    if key is not None and cache_dir and _jsonable(doc.data):
        entry = {
            "key": key,
            "data": doc.data,
            "lines": [[list(p), n] for p, n in doc.lines.items()],
        }
        try:
            private_dir(cache_dir)
            atomic_write(_cache_file(cache_dir, path), json.dumps(entry))
        except OSError:
            pass  # a cache we cannot write only costs time
    return doc

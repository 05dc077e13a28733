"""The Lambda deployment package, built from the installed ``sentinelgw``.

What goes in the zip:

- the ``sentinelgw`` package this command runs from (located through ``sentinelgw.__file__``),
  without ``sentinelgw/cli`` and ``sentinelgw/sandbox``: the service core never imports the
  CLI, and the sandbox needs moto, which has no place in production;
- the runtime dependencies Lambda's Python runtime lacks, as pure Python: PyYAML (policies are
  YAML) and tzdata (policy time windows use ``zoneinfo``, and the Lambda image is not
  guaranteed to ship a time-zone database). boto3 and botocore come with the runtime, so they
  are not packaged; click and rich serve only the CLI.

Compiled extensions (``.so``, ``.pyd``) are left out: they were built for this machine, not for
Lambda's. PyYAML then uses its pure-Python parser. ``__pycache__`` and ``.pyc`` are left out
too.

The zip is reproducible: entries are sorted and carry a fixed timestamp and mode, so the same
installed code gives the same bytes and the same ``CodeSha256``, and a second plan is empty.
A process keeps the last zip it built and reuses it while the files' names and bytes are the
same.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sentinelgw
from sentinelgw.errors import SentinelError

EXCLUDED_SUBPACKAGES = ("cli", "sandbox")
# import name -> why Lambda needs it packaged
DEPENDENCIES = {
    "yaml": "PyYAML: policy documents are YAML",
    "tzdata": "tzdata: zoneinfo data for policy time windows",
}
HANDLER_FILE = "sentinelgw/service/lambda_handler.py"
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib")
_EPOCH = (1980, 1, 1, 0, 0, 0)

# The last package built, under a digest of every file's name and bytes: the same files give
# the same zip (it is reproducible), so a process that deploys again only reads and hashes them
# instead of compressing everything again.
_BUILT: list[tuple[str, LambdaPackage]] = []
_BUILT_LOCK = threading.Lock()


@dataclass(frozen=True)
class LambdaPackage:
    """A built zip: its bytes, Lambda's ``CodeSha256`` of them, and the archive names."""

    data: bytes
    files: tuple[str, ...]

    @property
    def code_sha256(self) -> str:
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")

    @property
    def has_handler(self) -> bool:
        return HANDLER_FILE in self.files


def build_package() -> LambdaPackage:
    """Zip the installed ``sentinelgw`` and its pure-Python Lambda dependencies."""
    roots = [Path(sentinelgw.__file__).resolve().parent]
    roots += [_package_dir(name) for name in DEPENDENCIES]
    entries = sorted(
        (arcname, path) for root in roots for arcname, path in _files(root, root.parent)
    )
    contents = [(arcname, path.read_bytes()) for arcname, path in entries]
    digest = hashlib.sha256()
    for arcname, data in contents:
        digest.update(f"{arcname}\0{len(data)}\0".encode())
        digest.update(data)
    key = digest.hexdigest()
    with _BUILT_LOCK:
        if _BUILT and _BUILT[0][0] == key:
            return _BUILT[0][1]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname, data in contents:
            info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    built = LambdaPackage(buf.getvalue(), tuple(name for name, _ in contents))
    with _BUILT_LOCK:
        _BUILT[:] = [(key, built)]
    return built


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SentinelError(
            f"cannot package the Lambda dependency {name!r} ({DEPENDENCIES[name]}): "
            "it is not installed as a package",
            hint="Reinstall sentinelgw with its dependencies (pip install sentinelgw)",
        )
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _files(root: Path, base: Path) -> Iterator[tuple[str, Path]]:
    # os.walk prunes a skipped folder (__pycache__, an excluded subpackage) instead of
    # listing everything under it, as Path.rglob did; symlinked directories are not followed,
    # as with rglob.
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        rel_dir = here.relative_to(base)
        parts = rel_dir.parts
        if "__pycache__" in parts or (
            parts[0] == "sentinelgw" and len(parts) > 1 and parts[1] in EXCLUDED_SUBPACKAGES
        ):
            dirs[:] = []
            continue
        for name in names:
            path = here / name
            if path.suffix in _SKIPPED_SUFFIXES or not path.is_file():
                continue
            yield (rel_dir / name).as_posix(), path

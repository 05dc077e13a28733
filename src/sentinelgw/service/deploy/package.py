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
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
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
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname, path in entries:
            info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return LambdaPackage(buf.getvalue(), tuple(name for name, _ in entries))


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
    for path in root.rglob("*"):
        rel = path.relative_to(base)
        parts = rel.parts
        if not path.is_file() or "__pycache__" in parts or path.suffix in _SKIPPED_SUFFIXES:
            continue
        if parts[0] == "sentinelgw" and len(parts) > 2 and parts[1] in EXCLUDED_SUBPACKAGES:
            continue
        yield rel.as_posix(), path

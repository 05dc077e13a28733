"""The Lambda zip: the installed sentinelgw and its pure-Python dependencies, reproducibly."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import sentinelgw
from sentinelgw.service.deploy.package import HANDLER_FILE, build_package

# What Lambda's Python runtime already provides (boto3 and what it imports).
LAMBDA_RUNTIME = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six")


def test_the_zip_holds_the_installed_package_minus_cli_and_sandbox():
    files = set(build_package().files)
    root = Path(sentinelgw.__file__).parent
    installed = {
        f"sentinelgw/{p.relative_to(root).as_posix()}"
        for p in root.rglob("*.py")
        if p.relative_to(root).parts[0] not in ("cli", "sandbox")
    }
    assert installed and installed <= files
    assert not any(f.startswith(("sentinelgw/cli/", "sentinelgw/sandbox/")) for f in files)


def test_the_zip_holds_pyyaml_and_tzdata_but_nothing_compiled():
    files = build_package().files
    assert "yaml/__init__.py" in files and "yaml/constructor.py" in files
    assert "tzdata/__init__.py" in files
    assert any(f.startswith("tzdata/zoneinfo/Europe/") for f in files)
    assert not any(f.startswith(("boto3/", "botocore/", "click/", "rich/")) for f in files)
    assert not any(f.endswith((".so", ".pyc", ".pyd")) or "__pycache__" in f for f in files)


def test_the_zip_is_reproducible():
    first, second = build_package(), build_package()
    assert first.data == second.data
    assert first.code_sha256 == second.code_sha256
    with zipfile.ZipFile(io.BytesIO(first.data)) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def _lambda_like_path(tmp_path: Path) -> str:
    """The unzipped package, then only what the Lambda runtime provides (no site-packages)."""
    code = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(build_package().data)) as zf:
        zf.extractall(code)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in LAMBDA_RUNTIME:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        origin = Path(spec.origin)
        target = origin.parent if origin.name == "__init__.py" else origin
        (runtime / target.name).symlink_to(target)
    return os.pathsep.join([str(code), str(runtime)])


def test_the_unzipped_package_imports_without_site_packages(tmp_path):
    has_handler = HANDLER_FILE in build_package().files
    module = "sentinelgw.service.lambda_handler" if has_handler else "sentinelgw.policy.loader"
    probe = "; ".join(
        [
            f"import {module} as m",
            "import sentinelgw, yaml, zoneinfo",
            "from sentinelgw.service.policies import user_invoke_policy",
            "assert sentinelgw.__file__.startswith(sys.argv[1]), sentinelgw.__file__",
            "assert yaml.__file__.startswith(sys.argv[1]), yaml.__file__",
            f"assert {has_handler} is False or callable(m.handler)",
            "import importlib.util as u",
            "assert u.find_spec('click') is None and u.find_spec('rich') is None",
            "print('imported', m.__name__)",
        ]
    )
    env = {"PYTHONPATH": _lambda_like_path(tmp_path), "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; {probe}", str(tmp_path / "task")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported {module}"

#!/usr/bin/env python3
"""Set up and run Sentinel on a fresh machine that has only python3.

    python3 run.py demo      install into .venv from the lock and run the end-to-end demo
    python3 run.py test      install into .venv from the lock, then run lint, format check,
                             type checks, the import contracts, the packaging check and the tests
    python3 run.py lock      re-resolve requirements.lock (uv pip compile, with hashes) after a
                             change to pyproject.toml, keeping every pin that still fits
    python3 run.py upgrade   re-resolve requirements.lock to the newest versions, install them
                             and run the whole test command: the next incompatibility is found
                             here, on purpose (git checkout requirements.lock undoes it)

Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements.lock"
# What the environment was last installed from; a changed lock or pyproject re-installs.
STAMP = VENV / ".sentinel-lock-stamp"
# Four workers on two cores: the tests wait on loopback servers, leases and child processes
# for much of their time, and two more workers fill those waits (measured: 4:57 with two,
# 3:55-4:10 with four, on the same quiet 2-core machine). One test file each at a time, so
# module-scoped fixtures stay within one worker, taken in the order tests/conftest.py sets
# (long files first; xdist would otherwise put the files with the most tests first).
PYTEST_WORKERS = ("-n", "4", "--dist", "loadfile", "--no-loadscope-reorder")


def sh(*args: str | os.PathLike[str], check: bool = True, **kw: object) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check, **kw).returncode  # type: ignore[call-overload]


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (LOCK, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _locked_entry(name: str) -> str:
    """The lock's lines for one package (the pin and its hashes), as a requirements file."""
    lines = LOCK.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{name}=="):
            block = [line]
            for more in lines[i + 1 :]:
                if not more.startswith(" "):
                    break
                block.append(more)
            return "\n".join(part for part in block if not part.strip().startswith("#")) + "\n"
    raise SystemExit(f"run.py: {name} is missing from {LOCK.name}; run: python3 run.py lock")


def _host_pip() -> list[str] | None:
    """This interpreter's own pip, if it can install into another environment (``--python``,
    pip 22.3 and newer): then the venv needs no pip of its own, which saves the 5 s ensurepip
    takes to put one there."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("pip") is None:
        return None
    try:
        major, minor = (int(part) for part in importlib.metadata.version("pip").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    if (major, minor) < (22, 3):
        return None
    return [sys.executable, "-m", "pip", "--python", str(BIN / "python")]


def ensure_venv() -> None:
    """.venv with exactly the locked versions (hashes checked), then Sentinel itself.

    pip installs only uv (its pinned, hashed release from the lock); uv installs the rest,
    about ten times faster than pip would.
    """
    host_pip = _host_pip()
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=host_pip is None).create(VENV)
    py = BIN / "python"
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if not (BIN / "uv").exists():
        pip = host_pip or [str(py), "-m", "pip"]
        if host_pip is None and not any(VENV.glob("lib*/python*/site-packages/pip")):
            sh(py, "-m", "ensurepip", "--default-pip")  # a venv made by a pip now gone
        with tempfile.TemporaryDirectory() as tmp:
            pinned = Path(tmp) / "uv.txt"
            pinned.write_text(_locked_entry("uv"))
            sh(
                *pip,
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--require-hashes",
                "--no-deps",
                "-r",
                pinned,
            )
    uv = [BIN / "uv", "pip", "install", "--quiet", "--python", py]
    sh(*uv, "--require-hashes", "--no-deps", "-r", LOCK)
    # The build back end (setuptools) comes from the lock too: no unpinned build environment.
    sh(*uv, "--no-deps", "--no-build-isolation", "-e", ".")
    # Byte-compile our sources now: with PYTHONDONTWRITEBYTECODE set, every run would
    # otherwise recompile them, doubling the start-up time of 'sentinel credentials'.
    sh(py, "-m", "compileall", "-q", "src")
    STAMP.write_text(_fingerprint())


def compile_lock(*extra: str) -> None:
    """uv pip compile from pyproject.toml's runtime, dev and test dependencies, with hashes.

    An existing lock's pins are kept where they still fit; ``--upgrade`` takes the newest.
    """
    if not (BIN / "uv").exists():
        ensure_venv()
    sh(
        BIN / "uv",
        "pip",
        "compile",
        "--quiet",
        "pyproject.toml",
        "--extra=dev",
        "--extra=test",
        "--generate-hashes",
        "--python-version=3.11",
        "--output-file=requirements.lock",
        *extra,
    )


def _tools_env() -> dict[str, str]:
    """The environment of the test phases and the demo: this one, but Python may cache bytecode.

    With PYTHONDONTWRITEBYTECODE set, every interpreter the tests start (hundreds of
    ``sentinel`` and ``aws`` runs) would compile botocore, boto3 and moto from source again:
    about half its CPU time. uv installs without bytecode; this lets the first run write it.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _static_checks(env: dict[str, str]) -> list[tuple[str, int, str]]:
    """mypy, the import contracts and the packaging check (build, then twine check), one after
    another with their output kept: (command, exit status, output) of each that ran."""
    results: list[tuple[str, int, str]] = []
    out = Path(tempfile.mkdtemp(prefix="sentinel-dist-"))

    def run(*args: str | os.PathLike[str], quiet: bool = False) -> int:
        proc = subprocess.run(
            [str(a) for a in args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        shown = "" if quiet and proc.returncode == 0 else proc.stdout
        results.append((" ".join(str(a) for a in args), proc.returncode, shown))
        return proc.returncode

    try:
        run(BIN / "mypy")
        run(BIN / "lint-imports")
        build = [BIN / "python", "-m", "build", "--no-isolation", "--outdir", out, "."]
        if run(*build, quiet=True) == 0:
            run(BIN / "twine", "check", "--strict", *sorted(out.iterdir()))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return results


def test(pytest_args: list[str]) -> int:
    ensure_venv()
    env = _tools_env()
    sh(BIN / "ruff", "check", "src", "tests", "benchmarks", "run.py", env=env)
    sh(BIN / "ruff", "format", "--check", "src", "tests", "benchmarks", "run.py", env=env)
    # The tests keep both cores busy most of the time but not all of it (they also wait on
    # loopback servers and subprocesses): mypy, the import contracts and the packaging check
    # run beside them, their output printed when the tests end.
    print(f"+ {BIN / 'mypy'}; {BIN / 'lint-imports'}; build + twine check (beside the tests)")
    static: list[tuple[str, int, str]] = []
    checker = threading.Thread(target=lambda: static.extend(_static_checks(env)))
    checker.start()
    # One collection first, in one process: it writes the bytecode of what the tests import
    # (and pytest's rewritten test modules), which each of the four workers would otherwise
    # compile for itself at the same time in a fresh clone (about 8 CPU-s each, 2 when cached).
    warm = [BIN / "python", "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist"]
    subprocess.run(
        [*map(str, warm), *pytest_args], cwd=ROOT, env=env, capture_output=True, check=False
    )
    code = sh(BIN / "python", "-m", "pytest", *PYTEST_WORKERS, *pytest_args, check=False, env=env)
    checker.join()
    for command, status, output in static:
        print(f"+ {command}", flush=True)
        if output.strip():
            print(output.rstrip(), flush=True)
        if status != 0:
            print(f"run.py: {command} failed (exit {status})", flush=True)
            code = code or status
    return code


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "help"
    if cmd == "demo":
        ensure_venv()
        # The demo starts about 80 Python processes: let them share compiled bytecode too.
        return sh(BIN / "sentinel", "demo", *argv[1:], check=False, env=_tools_env())
    if cmd == "test":
        return test(argv[1:])
    if cmd == "lock":
        compile_lock()
        return 0
    if cmd == "upgrade":
        compile_lock("--upgrade")
        return test(argv[1:])
    print(__doc__)
    return 0 if cmd in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode or 1)

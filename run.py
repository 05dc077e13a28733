#!/usr/bin/env python3
"""Set up and run Sentinel on a fresh machine that has only python3.

    python3 run.py demo    install into .venv and run the end-to-end demo on a local sandbox
    python3 run.py test    install everything into .venv and run lint, type checks and the tests

Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def sh(*args: str | os.PathLike[str], check: bool = True) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check).returncode


def ensure_venv(extras: str) -> None:
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    py = BIN / "python"
    sh(py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f".[{extras}]")
    # Byte-compile our sources now: with PYTHONDONTWRITEBYTECODE set, every run would
    # otherwise recompile them, doubling the start-up time of 'sentinel credentials'.
    sh(py, "-m", "compileall", "-q", "src")


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "help"
    if cmd == "demo":
        ensure_venv("dev")
        return sh(BIN / "sentinel", "demo", *argv[1:], check=False)
    if cmd == "test":
        ensure_venv("dev,test")
        sh(BIN / "ruff", "check", "src", "tests", "benchmarks")
        sh(BIN / "ruff", "format", "--check", "src", "tests", "benchmarks", "run.py")
        sh(BIN / "mypy")
        rc = sh(BIN / "python", "-m", "pytest", *argv[1:], check=False)
        return rc
    print(__doc__)
    return 0 if cmd in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode or 1)

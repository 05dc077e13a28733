"""cfn-lint over a template file, in this process: the same linter and checks as
``cfn-lint --include-checks I -- PATH`` (errors, warnings and informational findings all fail),
without starting a new interpreter that loads its resource schemas again for every template."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Lint:
    returncode: int  # 0: no finding, as cfn-lint's exit status
    stdout: str  # one finding a line: rule id, message, file:line
    stderr: str = ""


def lint(path: Path) -> Lint:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(path, ManualArgs(include_checks=["I"]))
    lines = [f"{m.rule.id} {m.message} {m.filename}:{m.linenumber}" for m in matches]
    return Lint(returncode=1 if matches else 0, stdout="\n".join(lines))

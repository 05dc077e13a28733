"""cfn-lint over a template file, in this process: the same linter and checks as
``cfn-lint --include-checks I -- PATH`` (errors, warnings and informational findings all fail),
without starting a new interpreter that loads its resource schemas again for every template.

cfn-lint's rules are loaded once for the run (about half a CPU-second each time otherwise) and
run on each template with that template's own configuration, as ``cfnlint.api.lint`` does with
the rules it is given."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKS: dict[str, Any] = {"include_checks": ["I"]}


@dataclass(frozen=True)
class Lint:
    returncode: int  # 0: no finding, as cfn-lint's exit status
    stdout: str  # one finding a line: rule id, message, file:line
    stderr: str = ""


@functools.cache
def _rules() -> Any:
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn([], **CHECKS)).rules


def lint(path: Path) -> Lint:
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner.template.runner import run_template_by_file_paths

    config = ConfigMixIn(["--template", str(path)], **CHECKS)
    matches = list(run_template_by_file_paths(config, _rules()))
    lines = [f"{m.rule.id} {m.message} {m.filename}:{m.linenumber}" for m in matches]
    return Lint(returncode=1 if matches else 0, stdout="\n".join(lines))

"""The core stands without its CLI: no module outside ``sentinelgw/cli/`` imports ``click`` or
``sentinelgw.cli``, at module level, under ``TYPE_CHECKING`` or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sentinelgw

PACKAGE_ROOT = Path(sentinelgw.__file__).parent
FORBIDDEN = ("click", "sentinelgw.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module an ``import`` statement anywhere in ``source`` names, relative ones resolved."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def back_edges(source: str, module: str, is_package: bool = False) -> list[str]:
    return sorted(
        name
        for name in imported_modules(source, module, is_package)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    )


def core_modules() -> list[Path]:
    cli = PACKAGE_ROOT / "cli"
    return [p for p in sorted(PACKAGE_ROOT.rglob("*.py")) if cli not in p.parents]


def test_no_core_module_imports_the_cli_or_click() -> None:
    offenders = {}
    for path in core_modules():
        edges = back_edges(
            path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
        )
        if edges:
            offenders[module_name(path)] = edges
    assert offenders == {}


def test_the_walk_covers_the_core_and_leaves_out_the_cli() -> None:
    names = {module_name(p) for p in core_modules()}
    assert {
        "sentinelgw.context",
        "sentinelgw.exec.server_mode",
        "sentinelgw.credentials.gate",
    } <= names
    assert not any(name.startswith("sentinelgw.cli") for name in names)


@pytest.mark.parametrize(
    "source",
    [
        "import click",
        "import click.testing as ct",
        "from click import prompt",
        "from sentinelgw.cli.common import App",
        "from sentinelgw import cli",
        "import sentinelgw.cli.main",
        "from ..cli import exec_cmd",
        "if TYPE_CHECKING:\n    from sentinelgw.cli import common",
        "def f():\n    import click\n    return click",
        "class C:\n    def m(self):\n        from sentinelgw.cli.exec_cmd import split_profile",
    ],
)
def test_the_checker_finds_every_form_of_back_edge(source: str) -> None:
    assert back_edges(source, "sentinelgw.exec.server_mode") != []


def test_clean_core_source_has_no_back_edge() -> None:
    source = "import json\nfrom sentinelgw.errors import ConfigError\nfrom . import context\n"
    assert back_edges(source, "sentinelgw.credentials.gate") == []


# --- own imports at module top ----------------------------------------------------------------

# A function-local import of the package's own modules hides an edge from the reader; each one
# kept is listed here with its reason (docs/architecture.md, "Where imports go").
LAZY_OWN_IMPORTS = {
    # The warm `sentinel credentials` path answers from the cache: no providers, no keyring,
    # no HTTPS client, no command module it does not run.
    ("sentinelgw.cli.common", "sentinelgw.credentials.providers"): "warm path",
    ("sentinelgw.credentials.cache", "sentinelgw.credentials.providers"): "warm path",
    ("sentinelgw.credentials.flow", "sentinelgw.credentials.providers"): "warm path",
    ("sentinelgw.credentials.providers", "sentinelgw.credentials.sso"): "SSO profiles only",
    ("sentinelgw.credentials.providers", "sentinelgw.credentials.keystore"): "keyring: slow",
    ("sentinelgw.cli.credentials_cmd", "sentinelgw.service.remote"): "ssl and urllib",
    ("sentinelgw.cli.credential_options", "sentinelgw.cli.completion_cmd"): "command module",
    # `sentinel exec` imports the one mode it runs (each costs 20-40 ms), and a command that
    # only learns there is no service does not import the service client.
    ("sentinelgw.cli.exec_cmd", "sentinelgw.exec.cli_mode"): "the mode that runs",
    ("sentinelgw.cli.exec_cmd", "sentinelgw.exec.server_mode"): "the mode that runs",
    ("sentinelgw.cli.exec_cmd", "sentinelgw.exec.remote_mode"): "the mode that runs",
    ("sentinelgw.service.remote", "sentinelgw.service.client"): "ssl and urllib",
    # Guarded imports: completion never fails, the dev command reports a missing extra.
    ("sentinelgw.cli.completion_cmd", "sentinelgw.credentials.profiles"): "completion guard",
    ("sentinelgw.cli.dev_cmd", "sentinelgw.fsutil"): "guarded",
    ("sentinelgw.audit.profiles", "sentinelgw.credentials.profiles"): "guarded",
    # `sentinel dev` and `sentinel demo` import moto and werkzeug (about 0.7 s) only to start
    # a sandbox: their help and a refused --dir answer at once.
    ("sentinelgw.cli.dev_cmd", "sentinelgw.sandbox.core"): "moto",
    ("sentinelgw.cli.dev_cmd", "sentinelgw.sandbox.demo"): "moto",
    ("sentinelgw.cli.dev_cmd", "sentinelgw.sandbox.service_demo"): "moto",
    # Only server-unblock writes IAM: the other block commands do not import it.
    ("sentinelgw.cli.blocks_cmd", "sentinelgw.sessions.revocation.unblock"): "server-unblock",
    # The package imports without the dev extra; Sandbox resolves on first use.
    ("sentinelgw.sandbox", "sentinelgw.sandbox.core"): "dev extra",
}


def local_own_imports(source: str, module: str, is_package: bool) -> set[str]:
    """The sentinelgw modules imported inside a function of ``source``."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("sentinelgw"))
            elif isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                if target.startswith("sentinelgw"):
                    found.add(target)
    return found


def test_own_imports_sit_at_module_top_unless_listed_with_a_reason() -> None:
    offenders = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        module = module_name(path)
        source = path.read_text(encoding="utf-8")
        hidden = local_own_imports(source, module, path.name == "__init__.py")
        hidden = {t for t in hidden if (module, t) not in LAZY_OWN_IMPORTS}
        if hidden:
            offenders[module] = sorted(hidden)
    assert offenders == {}


def test_every_listed_lazy_import_still_exists() -> None:
    stale = []
    for module, target in LAZY_OWN_IMPORTS:
        parts = module.split(".")[1:]
        path = PACKAGE_ROOT.joinpath(*parts)
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        source = path.read_text(encoding="utf-8")
        if target not in local_own_imports(source, module, path.name == "__init__.py"):
            stale.append((module, target))
    assert stale == []


@pytest.mark.parametrize(
    "source",
    [
        "def f():\n    from sentinelgw.errors import UsageError\n",
        "def f():\n    import sentinelgw.timeutil\n",
        "class C:\n    def m(self):\n        from ..errors import UsageError\n",
        "def f():\n    try:\n        from sentinelgw import inert\n    except ImportError:\n"
        "        pass\n",
    ],
)
def test_a_function_local_own_import_is_found(source: str) -> None:
    assert local_own_imports(source, "sentinelgw.exec.tracking", False) != set()


def test_module_level_and_third_party_imports_are_not_flagged() -> None:
    source = "import json\nfrom sentinelgw.errors import UsageError\n\ndef f():\n    import boto3\n"
    assert local_own_imports(source, "sentinelgw.exec.tracking", False) == set()

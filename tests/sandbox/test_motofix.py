"""The sandbox's moto fixes reach CloudFormation whether or not moto's template parser was
imported before them, and installing them does not import it (it imports every moto
service). Each case runs in a fresh interpreter, where the import order is known."""

from __future__ import annotations

import subprocess
import sys

import pytest

_URL_TYPE = "AWS::Lambda::Url"


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


@pytest.mark.parametrize("parser_first", [False, True], ids=["parser-later", "parser-first"])
def test_the_function_url_resource_reaches_cloudformation(parser_first: bool) -> None:
    first = "import moto.cloudformation.parsing as p; p.get_model_map(); " if parser_first else ""
    code = (
        f"import sys; {first}"
        "from sentinelgw.sandbox.motofix import install; install(); "
        "print('before', 'moto.cloudformation.parsing' in sys.modules); "
        "from moto.cloudformation.parsing import get_model_map, get_name_type_map; "
        f"print('known', {_URL_TYPE!r} in get_model_map() and {_URL_TYPE!r} in get_name_type_map())"
    )
    assert _run(code).splitlines() == [f"before {parser_first}", "known True"]


def test_routing_lists_motos_service_folders_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's server looked through its package folder on every request; after install() the
    same names come from one listing, and a request no longer reads the folder."""
    import os

    import moto
    from moto import backends

    from sentinelgw.sandbox.motofix import install

    install()  # once per process: idempotent
    root = os.path.dirname(moto.__file__)
    folders = {
        d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and d[:2] != "__"
    }

    def no_listing(_path: str) -> list[str]:
        raise AssertionError("moto's package folder was listed again")

    monkeypatch.setattr(os, "listdir", no_listing)
    names = backends.list_of_moto_modules()
    assert set(names) == folders and "dynamodb" in names and "iam" in names

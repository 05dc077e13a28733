"""Whether the optional sandbox dependencies (the ``dev`` extra) are installed."""

from __future__ import annotations

import importlib.util

EXTRA_MESSAGE = "sentinel dev needs the sandbox extra: pip install 'sentinelgw[dev]'"
# moto's server mode needs flask and flask_cors besides moto and werkzeug; pyotp makes and
# checks the codes of the sandbox's virtual MFA device.
_MODULES = ("moto", "werkzeug", "flask", "flask_cors", "pyotp")


def missing_extra(modules: tuple[str, ...] = _MODULES) -> str | None:
    """None when the sandbox can run, else the one-line message that says how to get it."""
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return EXTRA_MESSAGE
    return None

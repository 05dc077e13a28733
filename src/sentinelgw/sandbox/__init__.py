"""Local AWS sandbox: moto's server plus a CloudTrail recorder and an SSO portal.

NOT FOR PRODUCTION. ``Sandbox`` is imported lazily so that importing this package (for
:func:`missing_extra`) does not need moto or werkzeug.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinelgw.sandbox.extra import EXTRA_MESSAGE, missing_extra

if TYPE_CHECKING:
    from sentinelgw.sandbox.core import Sandbox

__all__ = ["EXTRA_MESSAGE", "Sandbox", "missing_extra"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from sentinelgw.sandbox.core import Sandbox

        return Sandbox
    raise AttributeError(name)

"""The HTTP request handler of the sandbox server."""

from __future__ import annotations

import logging
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

from sentinelgw.sandbox.app import SSO_TOKEN_ENVIRON_KEY

log = logging.getLogger("sentinelgw.sandbox")
_SSO_HEADER = "x-amz-sso_bearer_token"


class SandboxRequestHandler(MotoRequestHandler):
    """Moto's handler, keeping the SSO bearer header and logging quietly.

    werkzeug drops every header whose name has an underscore (so ``X_Foo`` cannot spoof
    ``X-Foo``), but the SSO portal API really is called ``x-amz-sso_bearer_token``. We copy
    that one header, under its exact name only, into a private environ key.
    """

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ.pop(SSO_TOKEN_ENVIRON_KEY, None)
        for name, value in self.headers.items():
            if name.lower() == _SSO_HEADER:
                environ[SSO_TOKEN_ENVIRON_KEY] = value
                break
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Paths only: query strings may hold SSO parameters and are not worth logging.
        log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("sandbox server: " + format, *args)

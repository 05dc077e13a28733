"""Server mode: a loopback container-credentials endpoint for one child process.

``http.py`` is the HTTP layer (one response per connection, constant-time token check, Host
check); ``refresher.py`` keeps STS credentials fresh in the background; ``tracker.py`` keeps the
session record and its revocation state; ``handler.py`` is the per-request decision.
:mod:`sentinelgw.exec.server_mode` wires them together for ``sentinel exec --server``.
"""

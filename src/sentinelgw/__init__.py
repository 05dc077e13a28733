"""Sentinel: a policy-based credential gateway for AWS.

The import package is ``sentinelgw`` (``sentinel`` is taken on PyPI); the command is ``sentinel``.
"""

__version__ = "1.13.0"

"""The DynamoDB session table: record model, schema and provisioning, store, export, IAM.

Import the submodules directly (``from sentinelgw.sessions.store import SessionStore``);
nothing here imports boto3.
"""

from __future__ import annotations

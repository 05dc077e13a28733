"""Revocation as Sentinel writes it, shared by the command line and the credential service.

- :mod:`.revoke`: revoking a session or a user: the record, the role's Deny, the block;
- :mod:`.role_deny`: writing the ``SentinelRevokedSessions`` Deny on a role (and
  ``AWSRevokeOlderSessions`` for ``server-revoke --all-before``);
- :mod:`.deny_document`: that Deny's document: merge, pruning, size (no I/O);
- :mod:`.unblock`: lifting a block in IAM (the user's wildcard ends at the unblock).

The service's side is :mod:`sentinelgw.service.revocation`; the sandbox enforces the Deny that
moto would misapply in :mod:`sentinelgw.sandbox.revocation_enforcer`.
"""

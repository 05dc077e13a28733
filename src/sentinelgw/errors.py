"""The one exception tree of Sentinel.

Every subclass of :class:`SentinelError` in the package is drawn here (a test walks the
package and checks the drawing, parents included). Classes defined in another module name it::

    SentinelError                 exit 2 unless noted
    ├── UsageError                bad flag values, bad durations
    ├── ConfigError               unreadable or malformed config files, unknown profiles
    │   ├── YamlError             a YAML document does not parse (file:line)
    │   └── NoPolicyConfigured    no --policy, no policy_source, no inline policies
    ├── PolicyInvalid             policy validation failures (file, line, key, what is allowed)
    ├── PolicyDenied              exit 1: a policy decision said no
    │   ├── UserBlocked           exit 1: the user is blocked (sessions/blocks.py)
    │   └── ServiceRefused        exit 1: the credential service said no (service/client.py)
    ├── CredentialError           STS/SSO/profile failures while issuing credentials
    │   └── SSOTokenExpired
    ├── AWSError                  an AWS call failed (service, operation, hint)
    │   ├── HardRevocationError   the IAM step of a revoke (SentinelRevokedSessions) failed
    │   │   └── RoleQuotaFull     exit 1: the deny does not fit the role (sessions/revocation.py)
    │   └── ServiceUnavailable    the service is unreachable or failed (service/client.py)
    ├── RevocationIncomplete      exit 1: a revocation left a role undenied
    ├── SessionStoreError         the DynamoDB session table could not be used
    │   └── SessionNotFound
    ├── AuditError                the audit could not run
    ├── DeployError               the credential service cannot be deployed as asked
    ├── SandboxError              the local sandbox could not start
    ├── InternalError             a bug met at an AWS boundary (not botocore's exception)
    └── Refusal                   the service's answer: HTTP status + code (service/refusal.py)
        └── ProofError            a signed identity proof was refused (service/proof.py)

AWS failures enter this tree at one place, :func:`sentinelgw.awserrors.aws_call`. Where errors
are caught, and why at each host, is in docs/architecture.md ("Errors"). The CLI entry point
prints ``str(exc)`` as one line and exits with ``exc.exit_code``; it maps an abort (Ctrl-C,
``click.Abort``) to exit 130, as shells report an interrupted command (answering "no" to a
confirmation prints "nothing changed" and exits 0), and any other exception (a bug) to exit 2
with one "internal error" line; tracebacks, and the raw AWS answer kept in ``debug_detail``,
only with ``--debug``.

Messages never contain secrets: they are built from names, ARNs and error codes only.
"""

from __future__ import annotations


class SentinelError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 2
    # Set by sentinelgw.awserrors for a failure made from an AWS answer: the AWS error code,
    # whether it was access denied (401/403), and the raw body (shown with --debug only).
    aws_code: str | None = None
    access_denied = False
    debug_detail: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return (
                f"{self.message}. {self.hint}"
                if not self.message.endswith(".")
                else (f"{self.message} {self.hint}")
            )
        return self.message


class UsageError(SentinelError):
    """A flag or argument value the user can fix."""


class ConfigError(SentinelError):
    """A configuration file or AWS profile problem."""


class NoPolicyConfigured(ConfigError):
    """No policy anywhere: ``sentinel list`` still lists the profiles."""


class YamlError(ConfigError):
    """A YAML document could not be parsed; ``line`` is 1-based or None."""

    def __init__(self, filename: str, line: int | None, message: str) -> None:
        self.filename = filename
        self.line = line
        self.detail = message
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {message}")


class PolicyInvalid(SentinelError):
    """The policy does not validate. ``problems`` holds every finding, first one in ``message``."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class PolicyDenied(SentinelError):
    """A policy decision denied the request. Carries the decision for rendering."""

    exit_code = 1

    def __init__(self, message: str, *, decision: object | None = None) -> None:
        super().__init__(message)
        self.decision = decision


class CredentialError(SentinelError):
    """Credentials could not be issued."""


class SSOTokenExpired(CredentialError):
    """The IAM Identity Center token in the cache is missing or expired."""


class AWSError(SentinelError):
    """An AWS API call failed; the message names the service, the call and what to check."""


class HardRevocationError(AWSError):
    """The IAM deny of a revoked session could not be written; the message names the permission."""


class RevocationIncomplete(SentinelError):
    """A revocation left a gap: the SourceIdentity is not denied on every role it reached (a
    chained role Sentinel could not write, or past the chain bound). Exit 1, a gap found."""

    exit_code = 1


class SessionStoreError(SentinelError):
    """The session table could not be read or written."""


class SessionNotFound(SessionStoreError):
    """No such session, or it has already ended."""


class DeployError(SentinelError):
    """The credential service cannot be deployed as asked (a conflict, a missing role)."""


class AuditError(SentinelError):
    """The audit could not run."""


class SandboxError(SentinelError):
    """The local sandbox could not start."""


class InternalError(SentinelError):
    """A bug met where an AWS error was expected: not an AWS failure. The message says so."""

"""The ``SNOWFLAKE_*`` environment: who connects, to what, with which session context.

The secrets bootstrap (``credentials``) writes the credentials here; everything else reads
them once, with the account, endpoint and context, into a :class:`SnowflakeEnvironment`.
The mapping between credential fields and environment variables is defined only here.

- ``SNOWFLAKE_USER`` and one of ``_PASSWORD``, ``_PRIVATE_KEY`` (with ``_PRIVATE_KEY_PASSPHRASE``
  for an encrypted key) or ``_TOKEN`` (with ``_AUTHENTICATOR``: oauth or a programmatic access
  token): the credentials;
- ``SNOWFLAKE_ACCOUNT``, ``_WAREHOUSE``, ``_DATABASE``, ``_SCHEMA``, ``_ROLE``: session context;
- ``SNOWFLAKE_HOST``, ``_PORT``, ``_PROTOCOL``: endpoint override (PrivateLink, a stand-in);
- ``SNOWFLAKE_LOGIN_TIMEOUT``: seconds to sign in, retries included (default 60).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from ..errors import UserError

SECRET_ID_ENV = "SNOWFLAKE_SECRET_ID"
LOGIN_TIMEOUT_ENV = "SNOWFLAKE_LOGIN_TIMEOUT"
LOGIN_TIMEOUT_SECONDS = 60
WORKLOAD_IDENTITY = "workload_identity"  # SNOWFLAKE_AUTHENTICATOR's value for keyless sign-in
CONTEXT_NAMES = ("account", "warehouse", "database", "schema", "role")


def variable(name: str) -> str:
    """The variable of a credential field or context name: ``user`` -> ``SNOWFLAKE_USER``."""
    return f"SNOWFLAKE_{name.upper()}"


@dataclass(frozen=True)
class SnowflakeCredentials:
    """Who connects and how: one of password, private_key or token, or none of them for the
    job's IAM role (``authenticator`` workload_identity, where ``user`` is optional)."""

    user: str | None
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    authenticator: str | None = None
    workload_identity_impersonation_path: str | None = None

    @property
    def is_workload_identity(self) -> bool:
        return (self.authenticator or "").lower() == WORKLOAD_IDENTITY

    @property
    def impersonation_path(self) -> list[str]:
        """The role ARNs to chain from the job's role, in order (empty: the job's role itself)."""
        text = self.workload_identity_impersonation_path or ""
        return [arn.strip() for arn in text.split(",") if arn.strip()]

    @property
    def method(self) -> str:
        if self.is_workload_identity:
            return "workload identity (the job's IAM role)"
        if self.private_key:
            return "key pair"
        if self.token:
            return f"token ({self.authenticator})"
        return "password"

    def secret_values(self) -> list[str]:
        """The values that must never be shown."""
        values = [self.password, self.private_key, self.private_key_passphrase, self.token]
        return [value for value in values if value]

    def to_environ(self) -> dict[str, str]:
        return {
            variable(f.name): getattr(self, f.name) for f in fields(self) if getattr(self, f.name)
        }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SnowflakeCredentials:
        """The credentials a bootstrap (ours, or the user's own) left in the environment."""
        environ = os.environ if environ is None else environ
        keyless = (environ.get(variable("authenticator")) or "").lower() == WORKLOAD_IDENTITY
        if not keyless and not environ.get(variable("user")):
            raise UserError(
                "No Snowflake credentials in the environment: set SNOWFLAKE_SECRET_ID so the "
                "job can fetch them from AWS Secrets Manager, or SNOWFLAKE_AUTHENTICATOR="
                "WORKLOAD_IDENTITY to sign in with the job's IAM role."
            )
        return cls(**{f.name: environ.get(variable(f.name)) or None for f in fields(cls)})


CREDENTIAL_VARIABLES = tuple(variable(f.name) for f in fields(SnowflakeCredentials))


def export(credentials: SnowflakeCredentials, context: Mapping[str, str]) -> None:
    """Put ``credentials`` in the environment (replacing any others) and fill unset context."""
    for name in CREDENTIAL_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(credentials.to_environ())
    for name, value in context.items():
        os.environ.setdefault(variable(name), value)


def _login_timeout(text: str | None) -> int:
    text = (text or "").strip()
    if not text:
        return LOGIN_TIMEOUT_SECONDS
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise UserError(
            f"{LOGIN_TIMEOUT_ENV} must be a whole number of seconds (at least 1), got {text!r}."
        )
    return seconds


@dataclass(frozen=True)
class SnowflakeEnvironment:
    """Everything ``SNOWFLAKE_*`` says, read once."""

    credentials: SnowflakeCredentials
    account: str | None = None
    warehouse: str | None = None
    database: str | None = None
    schema: str | None = None
    role: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    login_timeout: int = LOGIN_TIMEOUT_SECONDS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SnowflakeEnvironment:
        environ = os.environ if environ is None else environ
        values = {name: environ.get(variable(name)) or None for name in (*CONTEXT_NAMES, "host")}
        port = environ.get(variable("port"))
        try:
            port_number = int(port) if port else None
        except ValueError:
            raise UserError(f"SNOWFLAKE_PORT must be a port number, got {port!r}.") from None
        return cls(
            credentials=SnowflakeCredentials.from_environ(environ),
            port=port_number,
            protocol=environ.get(variable("protocol")) or None,
            login_timeout=_login_timeout(environ.get(LOGIN_TIMEOUT_ENV)),
            **values,
        )

    @property
    def endpoint(self) -> str:
        """Where the connector goes, for error messages."""
        if self.host:
            return f"{self.host}:{self.port or 443}"
        return f"{self.account}.snowflakecomputing.com"

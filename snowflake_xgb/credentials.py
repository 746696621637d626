"""Snowflake credentials: fetched from AWS Secrets Manager, handed over through the environment.

The secret named by ``SNOWFLAKE_SECRET_ID`` may use any of the layouts teams store in practice
(see ``README.md``): user + password, key pair (PEM, optionally encrypted), token (programmatic
access token or OAuth), including the blog's, AWS's managed Snowflake key-pair and AWS Glue's
layouts. The resolved credentials are written to the process environment as ``SNOWFLAKE_*``
variables, so a user's own script sees them too, and nowhere else: values never enter a log
line, an exception message or a ``repr``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import boto3
import botocore.config
import botocore.exceptions

from .errors import UserError

logger = logging.getLogger(__name__)

SECRET_ID_ENV = "SNOWFLAKE_SECRET_ID"
# Shorter values (weak test passwords) would match ordinary text by chance.
MIN_SECRET_LENGTH = 6
CONTEXT_NAMES = ("account", "warehouse", "database", "schema", "role")

# Keys seen in each layout, in order of preference.
_USER_KEYS = ("user", "username", "sfUser")
_PASSWORD_KEYS = ("password", "sfPassword")
_PRIVATE_KEY_KEYS = ("private_key", "privateKey", "pem_private_key")
_PASSPHRASE_KEYS = ("private_key_passphrase", "passphrase", "pem_private_key_passphrase")
_TOKEN_KEYS = ("token",)
_CONTEXT_KEYS = {name: (name, "sf" + name.capitalize()) for name in CONTEXT_NAMES}

_CREDENTIAL_ENV = (
    "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "SNOWFLAKE_TOKEN", "SNOWFLAKE_AUTHENTICATOR",
)  # fmt: skip


@dataclass(frozen=True)
class SnowflakeCredentials:
    """Who connects and how. Exactly one of password, private_key or token is set."""

    user: str
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    authenticator: str | None = None

    @property
    def method(self) -> str:
        if self.private_key:
            return "key pair"
        if self.token:
            return f"token ({self.authenticator})"
        return "password"

    def secret_values(self) -> list[str]:
        """The values that must never be shown (for log filters and tests)."""
        values = [self.password, self.private_key, self.private_key_passphrase, self.token]
        return [value for value in values if value]

    def to_environ(self) -> dict[str, str]:
        values = {
            "SNOWFLAKE_USER": self.user,
            "SNOWFLAKE_PASSWORD": self.password,
            "SNOWFLAKE_PRIVATE_KEY": self.private_key,
            "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": self.private_key_passphrase,
            "SNOWFLAKE_TOKEN": self.token,
            "SNOWFLAKE_AUTHENTICATOR": self.authenticator,
        }
        return {name: value for name, value in values.items() if value}

    @classmethod
    def from_environ(cls) -> SnowflakeCredentials:
        """Read credentials a bootstrap (ours, or the user's own) left in the environment."""
        env = os.environ
        if not env.get("SNOWFLAKE_USER"):
            raise UserError(
                "No Snowflake credentials in the environment: set SNOWFLAKE_SECRET_ID so the "
                "job can fetch them from AWS Secrets Manager."
            )
        return cls(
            user=env["SNOWFLAKE_USER"],
            password=env.get("SNOWFLAKE_PASSWORD"),
            private_key=env.get("SNOWFLAKE_PRIVATE_KEY"),
            private_key_passphrase=env.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"),
            token=env.get("SNOWFLAKE_TOKEN"),
            authenticator=env.get("SNOWFLAKE_AUTHENTICATOR"),
        )


def _first(secret: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = secret.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _as_pem(key: str) -> str:
    """Glue stores the key body without PEM armour; the connector needs it armoured."""
    if "-----BEGIN" in key:
        return key.replace("\\n", "\n")
    body = "".join(key.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def parse_secret(secret: dict, secret_id: str) -> tuple[SnowflakeCredentials, dict[str, str]]:
    """Turn a secret's JSON into credentials and the session context it carries."""
    user = _first(secret, _USER_KEYS)
    private_key = _first(secret, _PRIVATE_KEY_KEYS)
    token = _first(secret, _TOKEN_KEYS)
    password = _first(secret, _PASSWORD_KEYS)
    if not user or not (private_key or token or password):
        present = ", ".join(sorted(secret)) or "none"
        raise UserError(
            f"Secret {secret_id} has no usable Snowflake credentials (keys present: {present}). "
            'Store {"user", "private_key"} (key pair), {"user", "token"} or {"user", "password"}.'
        )
    if private_key:
        credentials = SnowflakeCredentials(
            user=user,
            private_key=_as_pem(private_key),
            private_key_passphrase=_first(secret, _PASSPHRASE_KEYS),
        )
    elif token:
        authenticator = (_first(secret, ("authenticator",)) or "programmatic_access_token").lower()
        credentials = SnowflakeCredentials(user=user, token=token, authenticator=authenticator)
    else:
        credentials = SnowflakeCredentials(user=user, password=password)
    context = {
        name: value for name in CONTEXT_NAMES if (value := _first(secret, _CONTEXT_KEYS[name]))
    }
    return credentials, context


def _region_for(secret_id: str) -> str | None:
    if secret_id.startswith("arn:"):
        return secret_id.split(":")[3] or None
    # SageMaker sets AWS_REGION; boto3 itself only reads AWS_DEFAULT_REGION.
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")


def _error_code(error: botocore.exceptions.ClientError) -> str:
    """AWS's error code; from an XML body or the HTTP status when botocore found none.

    A body botocore cannot parse as JSON (an XML error from a proxy or a stand-in) leaves only
    the HTTP status as the code: read ``<Code>`` from the body, else take 403 as access denied.
    """
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    if code.isdigit():
        match = re.search(r"<Code>([A-Za-z.]+)</Code>", str(details.get("Message", "")))
        if match:
            return match.group(1)
        if code == "403":
            return "AccessDenied"
    return code


# Loggers that print request and response bodies at DEBUG (the SDK's container_log_level=10):
# botocore's would print the secret's value.
_BODY_LOGGERS = ("botocore", "boto3", "urllib3")


@contextmanager
def _quiet_http_logs() -> Iterator[None]:
    """No DEBUG records from the AWS SDK while the secret is fetched."""
    loggers = [logging.getLogger(name) for name in _BODY_LOGGERS]
    levels = [one.level for one in loggers]
    for one in loggers:
        if one.getEffectiveLevel() < logging.INFO:
            one.setLevel(logging.INFO)
    try:
        yield
    finally:
        for one, level in zip(loggers, levels, strict=True):
            one.setLevel(level)


class RedactingFilter(logging.Filter):
    """Replaces credential values in log records (a second line of defence: none should get
    there). Installed on the root logger's handlers once the credentials are known."""

    def __init__(self, values: list[str]) -> None:
        super().__init__("snowflake_xgb.redact")
        self.values = sorted(
            {v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        if any(value in message for value in self.values):
            for value in self.values:
                message = message.replace(value, "****")
            record.msg, record.args = message, None
        return True


def install_redaction(credentials: SnowflakeCredentials) -> None:
    values = list(credentials.secret_values())
    for value in credentials.secret_values():  # a PEM key is also logged line by line
        values += [line for line in value.splitlines() if "-----" not in line]
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(values))


def refuse_hyperparameters_containing(secrets: list[str], hyperparameters: dict[str, str]) -> None:
    """Refuse any hyperparameter whose value contains one of ``secrets`` (naming only the key)."""
    secrets = [secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH]
    for name, value in hyperparameters.items():
        if any(secret in value for secret in secrets):
            raise UserError(
                f"Hyperparameter {name!r} contains a Snowflake credential from the secret. "
                "Hyperparameters are logged and stored with the job: remove it (scripts find "
                "the credentials in the SNOWFLAKE_* environment variables)."
            )


def fetch_secret(secret_id: str) -> dict:
    """Fetch and decode the secret, turning AWS errors into actionable messages."""
    region = _region_for(secret_id)
    client_config = botocore.config.Config(
        connect_timeout=10, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}
    )
    try:
        client = boto3.client("secretsmanager", region_name=region, config=client_config)
        with _quiet_http_logs():
            response = client.get_secret_value(SecretId=secret_id)
    except botocore.exceptions.NoRegionError:
        raise UserError(
            "No AWS region for Secrets Manager: set AWS_DEFAULT_REGION (or AWS_REGION), "
            "or give SNOWFLAKE_SECRET_ID as a full ARN."
        ) from None
    except botocore.exceptions.NoCredentialsError:
        raise UserError(
            "No AWS credentials to read the Snowflake secret: run the job with an IAM role "
            "that may call secretsmanager:GetSecretValue."
        ) from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError):
        raise UserError(
            f"Could not reach AWS Secrets Manager in region {region}: check the job's network "
            "(VPC endpoint or NAT) and AWS_ENDPOINT_URL_SECRETS_MANAGER if set."
        ) from None
    except botocore.exceptions.ClientError as error:
        code = _error_code(error)
        if code == "ResourceNotFoundException":
            raise UserError(
                f"Secret {secret_id} was not found in region {region}: check "
                "SNOWFLAKE_SECRET_ID and the job's region."
            ) from None
        if code in (
            "UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch",
            "InvalidSignatureException", "ExpiredTokenException", "ExpiredToken",
        ):  # fmt: skip
            raise UserError(
                f"AWS did not accept the job's own credentials when reading secret {secret_id} "
                f"({code}): run the job with its IAM role and do not set AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY in its environment (or renew them if you must)."
            ) from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise UserError(
                f"Access denied to secret {secret_id}: allow the job's IAM role "
                "secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)."
            ) from None
        if code == "DecryptionFailure":
            raise UserError(
                f"Secret {secret_id} could not be decrypted: allow the job's IAM role "
                "kms:Decrypt on the secret's KMS key."
            ) from None
        raise UserError(f"Secrets Manager refused to return secret {secret_id} ({code}).") from None

    text = response.get("SecretString")
    if text is None:
        raise UserError(f"Secret {secret_id} is binary; store the credentials as a JSON string.")
    try:
        secret = json.loads(text)
    except json.JSONDecodeError:
        secret = None
    if not isinstance(secret, dict):
        raise UserError(
            f"Secret {secret_id} is not a JSON object. Store it as JSON, for example "
            '{"user": "...", "private_key": "-----BEGIN PRIVATE KEY-----..."}.'
        )
    return secret


def bootstrap_credentials() -> SnowflakeCredentials:
    """Fetch the secret named by ``SNOWFLAKE_SECRET_ID`` and export it as ``SNOWFLAKE_*``.

    Session context from the secret (account, warehouse, ...) fills only what the environment
    leaves unset: the environment wins.
    """
    secret_id = os.environ.get(SECRET_ID_ENV, "").strip()
    if not secret_id:
        raise UserError(
            f"Set the environment variable {SECRET_ID_ENV} to the name or ARN of the AWS "
            "Secrets Manager secret that holds the Snowflake credentials."
        )
    credentials, context = parse_secret(fetch_secret(secret_id), secret_id)
    for name in _CREDENTIAL_ENV:
        os.environ.pop(name, None)
    os.environ.update(credentials.to_environ())
    for name, value in context.items():
        os.environ.setdefault(f"SNOWFLAKE_{name.upper()}", value)
    install_redaction(credentials)
    logger.info(
        "Snowflake credentials for user %s (%s) loaded from secret %s",
        credentials.user,
        credentials.method,
        secret_id,
    )
    return credentials

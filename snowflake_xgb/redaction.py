"""What a secret looks like, and keeping secrets out of hyperparameters, logs and outputs.

Two rules, each decided only here:

- a *name* looks like a credential when it contains one of :data:`CREDENTIAL_WORDS`
  (``password``, ``private_key``, ``token``, ...): such hyperparameters are refused, because
  sagemaker-training logs every hyperparameter;
- a *text* contains a secret when it contains one of the credential values this process
  loaded (:func:`remember`), ignoring values shorter than :data:`MIN_SECRET_LENGTH`, which would
  match ordinary text by chance. Log records are masked with them, and hyperparameters, model
  metadata and failure reasons that hold one are refused or masked.

Nothing happens at import: values are remembered when the credentials are loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from .errors import UserError

MIN_SECRET_LENGTH = 6
MASK = "****"
CREDENTIAL_WORDS = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "private_key",
    "privatekey",
    "token",
    "secret",
    "credential",
    "api_key",
    "apikey",
)

_remembered: list[str] = []


def _significant(values: Iterable[str]) -> list[str]:
    return sorted({v for v in values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def credential_word(name: str) -> str | None:
    """The credential word ``name`` contains, if any (``SNOWFLAKE_PASSWORD`` -> ``password``)."""
    lowered = name.lower()
    return next((word for word in CREDENTIAL_WORDS if word in lowered), None)


def contains_secret(text: str, secrets: Iterable[str] | None = None) -> bool:
    """Whether ``text`` holds one of ``secrets`` (default: the remembered credential values)."""
    values = _significant(secrets) if secrets is not None else _remembered
    return any(value in text for value in values)


def redact(text: str) -> str:
    """``text`` with every remembered credential value replaced by ``****``."""
    for value in _remembered:
        text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks remembered credential values in log records (a second line of defence: none
    should get there). Installed on the root logger's handlers by :func:`remember`."""

    def __init__(self) -> None:
        super().__init__("snowflake_xgb.redact")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        if contains_secret(message):
            record.msg, record.args = redact(message), None
        return True


def remember(secret_values: Iterable[str]) -> None:
    """Remember this process's credential values and mask them in every log handler.

    A PEM key is also masked line by line (a log may show it split).
    """
    values = list(secret_values)
    for value in list(values):
        values += [line for line in value.splitlines() if "-----" not in line]
    _remembered[:] = _significant(values)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def refuse_credential_names(hyperparameters: Mapping[str, str]) -> None:
    """Refuse hyperparameter names that look like credentials (sagemaker-training logs them)."""
    for name in hyperparameters:
        word = credential_word(name)
        if word:
            raise UserError(
                f"Hyperparameter {name!r} looks like a credential ({word}). Hyperparameters are "
                "logged and stored with the job: put Snowflake credentials in the Secrets "
                "Manager secret named by SNOWFLAKE_SECRET_ID (scripts find them in the "
                "SNOWFLAKE_* environment variables) and remove this hyperparameter."
            )


def refuse_credential_values(hyperparameters: Mapping[str, str]) -> None:
    """Refuse any hyperparameter whose value holds a remembered credential (naming only the key)."""
    for name, value in hyperparameters.items():
        if contains_secret(str(value)):
            raise UserError(
                f"Hyperparameter {name!r} contains a Snowflake credential from the secret. "
                "Hyperparameters are logged and stored with the job: remove it (scripts find "
                "the credentials in the SNOWFLAKE_* environment variables)."
            )

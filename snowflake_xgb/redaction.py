"""What a secret looks like, and keeping secrets out of hyperparameters, logs and outputs.

Two rules, each decided only here:

- a *name* looks like a credential when it contains one of :data:`CREDENTIAL_WORDS`
  (``password``, ``private_key``, ``token``, ...): such hyperparameters are refused, because
  sagemaker-training logs every hyperparameter;
- a *text* contains a secret when it contains one of the credential values this process
  loaded (:func:`remember`), ignoring values shorter than :data:`MIN_SECRET_LENGTH`, which would
  match ordinary text by chance. Log records are masked with them, and hyperparameters, model
  metadata and failure reasons that hold one are refused or masked.

Log records (their message, traceback and stack, as formatted) are also masked for secrets the
connector derives from the credentials and never hands us: the key-pair JWT, session, master
and id tokens, the base64 workload identity attestation and the AWS credentials it signs with
(refreshed ones included), found by their shape (:data:`DERIVED_SECRETS`).

Nothing happens at import: values are remembered when the credentials are loaded.
"""

from __future__ import annotations

import logging
import re
import traceback
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

# The shapes of secrets the connector derives: what precedes a value is kept, the value masked.
DERIVED_SECRETS = (
    # A JWT (key pair, OAuth, id tokens) or base64 JSON (the WIF attestation): '{"' is 'eyJ'.
    re.compile(r"()\beyJ[A-Za-z0-9_\-+/=]{8,}(?:\.[A-Za-z0-9_\-+/=]*){0,2}"),
    # A token or key by its name, in JSON, headers, URLs or reprs.
    re.compile(
        r"""((?:token|master_?token|session_?token|id_?token|refresh_?token|access_?token"""
        r"""|x-amz-security-token|secret_?access_?key|signature|password|passcode|jwt)"""
        r"""["']?\s*[:=]\s*["']?)[^"'\s,;&}\]]{6,}""",
        re.IGNORECASE,
    ),
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


def redact_derived(text: str) -> str:
    """``text`` with remembered credential values and derived secrets (by shape) masked."""
    text = redact(text)
    for pattern in DERIVED_SECRETS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks credentials in log records as they will be formatted: the message, the traceback
    of ``exc_info`` and the stack (a second line of defence: none should get there).
    Installed on the root logger's handlers by :func:`remember`."""

    def __init__(self) -> None:
        super().__init__("snowflake_xgb.redact")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        masked = redact_derived(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # What a formatter would append; formatters use exc_text when it is set.
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact_derived(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_derived(record.stack_info)
        return True


def remember(secret_values: Iterable[str]) -> None:
    """Remember credential values of this process (added to those already remembered) and
    mask them in every log handler.

    A PEM key is also masked line by line (a log may show it split).
    """
    values = list(secret_values)
    for value in list(values):
        values += [line for line in value.splitlines() if "-----" not in line]
    _remembered[:] = _significant([*_remembered, *values])
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

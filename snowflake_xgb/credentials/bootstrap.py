"""Snowflake credentials: fetched from AWS Secrets Manager, handed over through the environment.

The secret named by ``SNOWFLAKE_SECRET_ID`` may use any of the layouts teams store in practice
(see ``README.md``): user + password, key pair (PEM, optionally encrypted), token (programmatic
access token or OAuth), including the blog's, AWS's managed Snowflake key-pair and AWS Glue's
layouts. With ``SNOWFLAKE_AUTHENTICATOR=WORKLOAD_IDENTITY`` (environment, or ``authenticator``
in the secret) there is no Snowflake credential at all: the job signs in with its IAM role and
the secret, when there is one, only names the account, user and session context. The resolved
credentials are written to the process environment as ``SNOWFLAKE_*``
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

import boto3
import botocore.config
import botocore.exceptions

from .. import redaction
from ..errors import UserError
from . import snowflake_environment
from .snowflake_environment import (
    CONTEXT_NAMES,
    SECRET_ID_ENV,
    WORKLOAD_IDENTITY,
    SnowflakeCredentials,
    variable,
)

logger = logging.getLogger(__name__)

# Keys seen in each layout, in order of preference.
_USER_KEYS = ("user", "username", "sfUser")
_PASSWORD_KEYS = ("password", "sfPassword")
_PRIVATE_KEY_KEYS = ("private_key", "privateKey", "pem_private_key")
_PASSPHRASE_KEYS = ("private_key_passphrase", "passphrase", "pem_private_key_passphrase")
_TOKEN_KEYS = ("token",)
_CONTEXT_KEYS = {name: (name, "sf" + name.capitalize()) for name in CONTEXT_NAMES}


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
    authenticator = (_first(secret, ("authenticator",)) or "").lower()
    if authenticator == WORKLOAD_IDENTITY:
        credentials = SnowflakeCredentials(
            user=user,
            authenticator=WORKLOAD_IDENTITY,
            workload_identity_impersonation_path=_first(
                secret, ("workload_identity_impersonation_path",)
            ),
        )
    elif not user or not (private_key or token or password):
        present = ", ".join(sorted(secret)) or "none"
        raise UserError(
            f"Secret {secret_id} has no usable Snowflake credentials (keys present: {present}). "
            'Store {"user", "private_key"} (key pair), {"user", "token"} or {"user", "password"}.'
        )
    elif private_key:
        credentials = SnowflakeCredentials(
            user=user,
            private_key=_as_pem(private_key),
            private_key_passphrase=_first(secret, _PASSPHRASE_KEYS),
        )
    elif token:
        authenticator = authenticator or "programmatic_access_token"
        credentials = SnowflakeCredentials(user=user, token=token, authenticator=authenticator)
    else:
        credentials = SnowflakeCredentials(user=user, password=password)
    context = {
        name: value for name in CONTEXT_NAMES if (value := _first(secret, _CONTEXT_KEYS[name]))
    }
    return credentials, context


def aws_region(arn: str = "") -> str | None:
    """The AWS region a call of the job goes to, in one order: the region inside ``arn`` (a
    resource lives in its own region), then ``AWS_DEFAULT_REGION`` (boto3's own variable),
    then ``AWS_REGION`` (what SageMaker sets, which boto3 does not read); None when none is
    set, and boto3 then reads its config file or raises ``NoRegionError``."""
    if arn.startswith("arn:") and arn.count(":") >= 5 and arn.split(":")[3]:
        return arn.split(":")[3]
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None


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
def quiet_http_logs() -> Iterator[None]:
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


def fetch_secret(secret_id: str) -> dict:
    """Fetch and decode the secret, turning AWS errors into actionable messages."""
    region = aws_region(secret_id)
    client_config = botocore.config.Config(
        connect_timeout=10, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}
    )
    try:
        client = boto3.client("secretsmanager", region_name=region, config=client_config)
        with quiet_http_logs():
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
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "InvalidSignatureException",
            "ExpiredTokenException",
            "ExpiredToken",
        ):
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


PASSWORD_WARNING = (
    "Snowflake is phasing out single-factor password sign-in for service users: move this job "
    "to a key pair (private_key in the secret) or to its IAM role (SNOWFLAKE_AUTHENTICATOR="
    "WORKLOAD_IDENTITY, no secret at all); see README.md."
)


def remember_aws_credentials() -> None:
    """Mask the AWS credentials the connector signs the attestation with in every log record.

    Connector 5.x's core logs the signed STS request, session token included, at DEBUG. The
    credentials are read once here from boto3's chain (the container's, in a SageMaker job);
    credentials the chain refreshes later are not known to the mask.
    """
    with quiet_http_logs():
        found = boto3.Session().get_credentials()
    if found is not None:
        frozen = found.get_frozen_credentials()
        redaction.remember([value for value in (frozen.secret_key, frozen.token) if value])


def _keyless_from_environment() -> SnowflakeCredentials | None:
    """The job's IAM role as its credentials, when the environment asks for that."""
    if (os.environ.get(variable("authenticator")) or "").lower() != WORKLOAD_IDENTITY:
        return None
    return SnowflakeCredentials(
        user=os.environ.get(variable("user")) or None,
        authenticator=WORKLOAD_IDENTITY,
        workload_identity_impersonation_path=os.environ.get(
            variable("workload_identity_impersonation_path")
        )
        or None,
    )


def bootstrap_credentials() -> SnowflakeCredentials:
    """Fetch the secret named by ``SNOWFLAKE_SECRET_ID`` and export it as ``SNOWFLAKE_*``.

    Session context from the secret (account, warehouse, ...) fills only what the environment
    leaves unset: the environment wins. With ``SNOWFLAKE_AUTHENTICATOR=WORKLOAD_IDENTITY`` in
    the environment the secret is optional and its credentials, if any, are not used.
    """
    secret_id = os.environ.get(SECRET_ID_ENV, "").strip()
    keyless = _keyless_from_environment()
    if keyless is not None and not secret_id:
        remember_aws_credentials()
        snowflake_environment.export(keyless, {})
        logger.info("Snowflake sign-in by the job's IAM role (workload identity); no secret")
        return keyless
    if not secret_id:
        raise UserError(
            f"Set the environment variable {SECRET_ID_ENV} to the name or ARN of the AWS "
            "Secrets Manager secret that holds the Snowflake credentials, or set "
            "SNOWFLAKE_AUTHENTICATOR=WORKLOAD_IDENTITY to sign in with the job's IAM role."
        )
    secret = fetch_secret(secret_id)
    if keyless is not None:
        _, context = parse_secret({**secret, "authenticator": WORKLOAD_IDENTITY}, secret_id)
        credentials = SnowflakeCredentials(
            **{**keyless.__dict__, "user": keyless.user or _first(secret, _USER_KEYS)}
        )
    else:
        credentials, context = parse_secret(secret, secret_id)
    unused = (_first(secret, keys) for keys in (_PASSWORD_KEYS, _PRIVATE_KEY_KEYS, _TOKEN_KEYS))
    redaction.remember([*credentials.secret_values(), *(value for value in unused if value)])
    if credentials.is_workload_identity:
        remember_aws_credentials()
    snowflake_environment.export(credentials, context)
    logger.info(
        "Snowflake credentials for user %s (%s) loaded from secret %s",
        credentials.user or "(the one Snowflake matches to the role)",
        credentials.method,
        secret_id,
    )
    if credentials.method == "password":
        logger.warning(PASSWORD_WARNING)
    return credentials

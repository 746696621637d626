"""Keyless sign-in with the job's IAM role: which identity the job presents, and why it failed.

The connector builds the attestation itself (a signed STS ``GetCallerIdentity`` request) from
boto3's credential chain; Snowflake runs it and signs in the service user whose
``WORKLOAD_IDENTITY`` names that role. Nothing here sees the attestation or a credential: the
identity in a refusal comes from our own ``GetCallerIdentity`` call with the same credentials
(or from the last role of the impersonation path), and only its ARN is shown.
"""

from __future__ import annotations

import re

import boto3
import botocore.config
import botocore.exceptions

from ..errors import UserError
from .bootstrap import aws_region, quiet_http_logs
from .snowflake_environment import SnowflakeEnvironment

# Connector error numbers: 4.x raises these before any request; 5.x reports the same failures
# as 250001 with "attestation failed" in the message.
_NO_CREDENTIALS = 251018
_UNTRUSTED_HOST = 251021
_INVALID_SETTINGS = 251017
_ASSUMED_ROLE = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/.+$")
IDENTITY_TIMEOUT_SECONDS = 5
# With no region set: STS answers GetCallerIdentity for any account from its global endpoint's.
STS_GLOBAL_REGION = "us-east-1"


def registered_arn(presented: str) -> str:
    """The ARN to register with Snowflake for an identity: an assumed-role session's role.

    ``arn:aws:sts::123456789012:assumed-role/NAME/SESSION`` -> ``arn:aws:iam::123456789012:
    role/NAME``; any other ARN (an IAM user's, a role's) is returned as it is.
    """
    match = _ASSUMED_ROLE.match(presented)
    if not match:
        return presented
    partition, account, name = match.groups()
    return f"arn:{partition}:iam::{account}:role/{name}"


def presented_identity(env: SnowflakeEnvironment) -> str:
    """The ARN the job's attestation carries, as far as STS tells it without a credential shown."""
    path = env.credentials.impersonation_path
    if path:
        return path[-1]
    timeout = min(IDENTITY_TIMEOUT_SECONDS, env.login_timeout)
    config = botocore.config.Config(
        connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}
    )
    region = aws_region() or STS_GLOBAL_REGION
    try:
        with quiet_http_logs():
            client = boto3.client("sts", region_name=region, config=config)
            return client.get_caller_identity()["Arn"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        return f"unknown (STS GetCallerIdentity failed: {type(error).__name__})"


def explain_refusal(errno: int | None, text: str, env: SnowflakeEnvironment) -> UserError | None:
    """What to fix after a failed keyless sign-in; None when Snowflake was not reached at all."""
    lowered = text.lower()
    if errno == _UNTRUSTED_HOST or "refusing to send a workload identity" in lowered:
        return UserError(
            f"The connector sends the job's IAM identity only to a Snowflake host "
            f"(*.snowflakecomputing.com, .cn, .mil), not to {env.endpoint}: unset SNOWFLAKE_HOST "
            "or use your account's (PrivateLink) snowflakecomputing.com host name."
        )
    if errno in (_NO_CREDENTIALS, _INVALID_SETTINGS) or "attestation failed" in lowered:
        return UserError(
            "No AWS credentials for the keyless Snowflake sign-in "
            "(SNOWFLAKE_AUTHENTICATOR=WORKLOAD_IDENTITY): run the job with its IAM execution "
            "role and do not set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; with "
            "SNOWFLAKE_WORKLOAD_IDENTITY_IMPERSONATION_PATH the role must be allowed "
            "sts:AssumeRole on each role in it."
        )
    if not (isinstance(errno, int) and 390000 <= errno < 400000):
        return None
    presented = presented_identity(env)
    user = env.credentials.user or "<the service user>"
    said = " ".join(text.split())[:200]
    return UserError(
        f"Snowflake refused the job's IAM identity {presented} (user "
        f"{env.credentials.user or 'not set'}): register its role with the service user, "
        f"ALTER USER {user} SET WORKLOAD_IDENTITY = (TYPE = AWS ARN = "
        f"'{registered_arn(presented)}'), or run the job with the role that user trusts. "
        f"Snowflake said: {said}"
    )

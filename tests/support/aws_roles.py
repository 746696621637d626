"""IAM roles in the moto stand-in, and the credentials of a role assumed there (``AssumedRole``).

moto's ``AssumeRole`` hands out session credentials whose caller identity is
``arn:aws:sts::123456789012:assumed-role/<role>/<session>``, as SageMaker's execution role has.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

import boto3

from .standins import REGION, StandIns

ACCOUNT = "123456789012"
# base64 of '{"url"', how every workload-identity attestation starts: a leak search looks for it.
ATTESTATION_PREFIX = "eyJ1cmwi"
TRUST_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})  # fmt: skip


def role_arn(name: str, path: str = "/service-role/") -> str:
    return f"arn:aws:iam::{ACCOUNT}:role{path}{name}"


@dataclass(frozen=True)
class AssumedRole:
    """A role's session credentials; ``environ()`` is what a job's container gets."""

    arn: str  # the assumed-role session ARN STS reports
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)

    def environ(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


def _client(standins: StandIns, service: str):
    return boto3.client(
        service, endpoint_url=standins.secrets_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def assume_role(standins: StandIns, name: str, session: str = "SageMaker") -> AssumedRole:
    """Create the role (with a SageMaker-style path) if needed and assume it."""
    iam = _client(standins, "iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, Path="/service-role/", AssumeRolePolicyDocument=TRUST_POLICY)
    answer = _client(standins, "sts").assume_role(RoleArn=role_arn(name), RoleSessionName=session)
    credentials = answer["Credentials"]
    return AssumedRole(
        answer["AssumedRoleUser"]["Arn"],
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )


def create_role(standins: StandIns, name: str) -> str:
    iam = _client(standins, "iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, Path="/", AssumeRolePolicyDocument=TRUST_POLICY)
    return role_arn(name, "/")

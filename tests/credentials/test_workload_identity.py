"""Keyless sign-in with the job's IAM role, through real jobs, the real connector and the front,
which verifies each attestation against moto's STS as Snowflake does against AWS's."""

from __future__ import annotations

import time

import pytest
from support.aws_roles import ATTESTATION_PREFIX, AssumedRole, assume_role, create_role, role_arn
from support.jobs import JobRun, JobRunner, assert_succeeded
from support.script_mode import example_script_job
from support.standins import StandIns

from snowflake_xgb.credentials.workload_identity import registered_arn

pytestmark = pytest.mark.distributed

KEYLESS_USER = "SVC_XGB_WIF"
CHAINED_USER = "SVC_XGB_CHAINED"
LOGIN_TIMEOUT = 20


@pytest.fixture
def training_role(standins: StandIns) -> AssumedRole:
    """The job's execution role (a SageMaker-style /service-role/ path), registered for a user."""
    role = assume_role(standins, "xgb-training")
    reader = create_role(standins, "xgb-snowflake-reader")
    standins.front.workload_identities(
        {KEYLESS_USER: role_arn("xgb-training"), CHAINED_USER: reader}
    )
    return role


def keyless_environ(standins: StandIns, role: AssumedRole) -> dict[str, str | None]:
    return {
        "SNOWFLAKE_SECRET_ID": None,  # no secret at all
        "SNOWFLAKE_AUTHENTICATOR": "WORKLOAD_IDENTITY",
        "SNOWFLAKE_USER": KEYLESS_USER,
        "SNOWFLAKE_LOGIN_TIMEOUT": str(LOGIN_TIMEOUT),
        # The stand-in listens on loopback: the connector sends an attestation only to a host
        # it recognizes as Snowflake's, widened here for 127.0.0.1.
        "SNOWFLAKE_WIF_ALLOWED_HOST_SUFFIXES": "127.0.0.1",
        "AWS_ENDPOINT_URL_STS": standins.secrets_url,
        **role.environ(),
    }


def assert_no_aws_credential(run: JobRun, role: AssumedRole) -> None:
    everything = run.all_bytes()
    assert role.secret_access_key.encode() not in everything
    assert role.session_token.encode() not in everything
    assert ATTESTATION_PREFIX.encode() not in everything


def test_two_host_job_signs_in_with_its_role_and_no_secret(
    jobs: JobRunner, standins: StandIns, housing_params: dict, training_role: AssumedRole
) -> None:
    refusals_before = len(standins.front.workload_identities()["refusals"])
    run = jobs.run(housing_params, hosts=2, environ=keyless_environ(standins, training_role))
    for host in assert_succeeded(run).hosts:
        assert "workload identity" in host.output and "no secret" in host.output
        assert "phasing out" not in host.output
    assert run.coordinator.model().num_boosted_rounds() == housing_params["num_round"]
    assert len(standins.front.workload_identities()["refusals"]) == refusals_before
    assert_no_aws_credential(run, training_role)


def test_script_mode_job_signs_in_with_its_role(
    jobs: JobRunner, standins: StandIns, training_role: AssumedRole
) -> None:
    environ = keyless_environ(standins, training_role)
    run = assert_succeeded(jobs.run(example_script_job(num_round=5), environ=environ))
    assert run.coordinator.model().num_boosted_rounds() == 5
    assert_no_aws_credential(run, training_role)


def test_role_chaining_signs_in_as_the_user_that_trusts_the_last_role(
    jobs: JobRunner, standins: StandIns, housing_params: dict, training_role: AssumedRole
) -> None:
    reader = create_role(standins, "xgb-snowflake-reader")
    # Only the chained role is registered: connector 5.x does not send the user name with a
    # WORKLOAD_IDENTITY login, so Snowflake signs in whichever user has the presented identity.
    standins.front.workload_identities({CHAINED_USER: reader})
    environ = {
        **keyless_environ(standins, training_role),
        "SNOWFLAKE_USER": CHAINED_USER,
        "SNOWFLAKE_WORKLOAD_IDENTITY_IMPERSONATION_PATH": reader,
    }
    run = jobs.run({**housing_params, "num_round": 3}, hosts=1, environ=environ)
    assert run.coordinator.returncode == 0, run.coordinator.output
    assert (run.coordinator.model_dir / "xgboost-model").exists()
    # Without the chain the job presents its own role, which no user trusts now.
    refused = jobs.run(
        {**housing_params, "num_round": 3},
        hosts=1,
        environ={**keyless_environ(standins, training_role), "SNOWFLAKE_USER": CHAINED_USER},
    )
    assert refused.coordinator.returncode != 0
    assert training_role.arn in refused.coordinator.failure


def test_another_role_is_refused_naming_its_arn_and_the_statement_to_run(
    jobs: JobRunner, standins: StandIns, housing_params: dict, training_role: AssumedRole
) -> None:
    other = assume_role(standins, "xgb-other-team")
    started = time.monotonic()
    run = jobs.run(housing_params, hosts=1, environ=keyless_environ(standins, other))
    elapsed = time.monotonic() - started
    host = run.coordinator
    assert host.returncode != 0
    failure = host.failure or ""
    assert other.arn in failure  # arn:aws:sts::...:assumed-role/xgb-other-team/SageMaker
    assert (
        f"ALTER USER {KEYLESS_USER} SET WORKLOAD_IDENTITY = (TYPE = AWS ARN = "
        "'arn:aws:iam::123456789012:role/xgb-other-team')"
    ) in failure
    assert len(failure.splitlines()) <= 3
    assert elapsed < LOGIN_TIMEOUT + 30  # the job's start-up plus at most the login timeout
    assert_no_aws_credential(run, other)


def test_no_aws_credentials_say_so(
    jobs: JobRunner, standins: StandIns, housing_params: dict, training_role: AssumedRole
) -> None:
    environ = {
        **keyless_environ(standins, training_role),
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    started = time.monotonic()
    run = jobs.run(housing_params, hosts=1, environ=environ)
    host = run.coordinator
    assert host.returncode != 0
    assert "No AWS credentials for the keyless Snowflake sign-in" in (host.failure or "")
    assert time.monotonic() - started < LOGIN_TIMEOUT + 30


def test_registered_arn_is_the_role_of_an_assumed_role_session() -> None:
    assert (
        registered_arn("arn:aws:sts::123456789012:assumed-role/AmazonSageMaker-Exec/SageMaker")
        == "arn:aws:iam::123456789012:role/AmazonSageMaker-Exec"
    )
    assert (
        registered_arn("arn:aws:iam::123456789012:user/ci") == "arn:aws:iam::123456789012:user/ci"
    )


def test_no_aws_credential_or_attestation_in_debug_logs(
    jobs: JobRunner, standins: StandIns, housing_params: dict, training_role: AssumedRole
) -> None:
    """DEBUG logs of boto3 and the connector print request bodies and headers."""
    params = {**housing_params, "num_round": 3, "sagemaker_container_log_level": "10"}
    run = jobs.run(params, hosts=1, environ=keyless_environ(standins, training_role))
    assert run.coordinator.returncode == 0, run.coordinator.output
    assert " DEBUG " in run.coordinator.output  # the level took effect
    assert_no_aws_credential(run, training_role)

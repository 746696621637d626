"""Snowflake credentials from Secrets Manager: every layout, what reaches the environment and
the connector, and which session context wins.

The bootstrap is called in this process against the moto server (real boto3 over HTTP); the
sign-in methods also run end to end through ``train``, with a front server that records what
the real connector sent to the Snowflake stand-in (the key pair's JWT is verified against the
public key).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from snowflake_front import SnowflakeFront
from support.jobs import JobRunner
from support.keys import PASSPHRASE, TOKEN, KeyPair
from support.standins import TEST_PASSWORD, TEST_USER, StandIns

from snowflake_xgb.credentials.bootstrap import aws_region, bootstrap_credentials
from snowflake_xgb.credentials.snowflake_environment import (
    SnowflakeCredentials,
    SnowflakeEnvironment,
)
from snowflake_xgb.errors import UserError

pytestmark = pytest.mark.timeout(180)

CREDENTIAL_VARIABLES = (
    "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "SNOWFLAKE_TOKEN", "SNOWFLAKE_AUTHENTICATOR",
)  # fmt: skip
CONTEXT_VARIABLES = tuple(
    f"SNOWFLAKE_{name}" for name in ("ACCOUNT", "WAREHOUSE", "DATABASE", "SCHEMA", "ROLE")
)


@pytest.fixture
def job_env(standins: StandIns) -> Iterator[dict[str, str]]:
    """This process's environment as a job's, restored afterwards (the bootstrap writes to it)."""
    saved = dict(os.environ)
    for name in (*CREDENTIAL_VARIABLES, *CONTEXT_VARIABLES):
        os.environ.pop(name, None)
    environ = standins.job_environ()
    os.environ.update(environ)
    try:
        yield environ
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _bootstrap(standins: StandIns, name: str, secret: dict | str) -> SnowflakeCredentials:
    secret_id = f"snowflake-xgb/credentials/{name}"
    standins.put_secret(secret_id, secret)
    os.environ["SNOWFLAKE_SECRET_ID"] = secret_id
    return bootstrap_credentials()


def _exported() -> dict[str, str]:
    return {name: os.environ[name] for name in CREDENTIAL_VARIABLES if name in os.environ}


# --- layouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [
        {"username": TEST_USER, "password": TEST_PASSWORD},  # the original blog's
        {"user": TEST_USER, "password": TEST_PASSWORD},
        {"sfUser": TEST_USER, "sfPassword": TEST_PASSWORD},  # AWS Glue's
    ],
    ids=["blog", "user_password", "glue"],
)
def test_password_layouts(job_env, standins: StandIns, layout: dict) -> None:
    credentials = _bootstrap(standins, "password", layout)
    assert credentials.method == "password"
    assert _exported() == {"SNOWFLAKE_USER": TEST_USER, "SNOWFLAKE_PASSWORD": TEST_PASSWORD}


def test_key_pair_layouts(job_env, standins: StandIns, key_pair: KeyPair) -> None:
    layouts = {
        "plain": {"user": TEST_USER, "private_key": key_pair.pem},
        "encrypted": {
            "user": TEST_USER,
            "private_key": key_pair.encrypted_pem,
            "private_key_passphrase": PASSPHRASE,
        },
        "pkcs1": {"user": TEST_USER, "private_key": key_pair.rsa_pem},
        # Pasted into JSON by hand: newlines as the two characters backslash and n.
        "escaped_newlines": {"user": TEST_USER, "private_key": key_pair.pem.replace("\n", "\\n")},
        # Secrets Manager's managed Snowflake key-pair layout.
        "managed": {
            "account": "local",
            "user": TEST_USER,
            "privateKey": key_pair.encrypted_pem,
            "publicKey": key_pair.public_pem,
            "passphrase": PASSPHRASE,
        },
        # AWS Glue: the key body without PEM armour.
        "glue": {"sfUser": TEST_USER, "pem_private_key": key_pair.body},
    }
    for name, layout in layouts.items():
        credentials = _bootstrap(standins, name, layout)
        assert credentials.method == "key pair", name
        exported = _exported()
        assert exported["SNOWFLAKE_USER"] == TEST_USER
        assert exported["SNOWFLAKE_PRIVATE_KEY"].startswith("-----BEGIN"), name
        assert "\\n" not in exported["SNOWFLAKE_PRIVATE_KEY"], name
        encrypted = name in ("encrypted", "managed")
        assert exported.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE") == (
            PASSPHRASE if encrypted else None
        ), name
        assert "SNOWFLAKE_PASSWORD" not in exported and "SNOWFLAKE_TOKEN" not in exported
        # What the connector gets is the loaded key: the same public key, whatever the layout.
        from snowflake_xgb.query.snowflake_session import connection_arguments

        arguments = connection_arguments(SnowflakeEnvironment.from_environ(), 60)
        assert arguments["authenticator"] == "SNOWFLAKE_JWT"
        public = (
            arguments["private_key"]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        assert public.decode() == key_pair.public_pem, name


@pytest.mark.parametrize(
    ("layout", "authenticator", "connector_authenticator"),
    [
        ({"user": TEST_USER, "token": TOKEN}, "programmatic_access_token",
         "PROGRAMMATIC_ACCESS_TOKEN"),
        ({"user": TEST_USER, "token": TOKEN, "authenticator": "OAUTH"}, "oauth", "oauth"),
    ],
    ids=["programmatic_access_token", "oauth"],
)  # fmt: skip
def test_token_layouts(
    job_env, standins: StandIns, layout: dict, authenticator: str, connector_authenticator: str
) -> None:
    from snowflake_xgb.query.snowflake_session import connection_arguments

    _bootstrap(standins, "token", layout)
    assert _exported() == {
        "SNOWFLAKE_USER": TEST_USER,
        "SNOWFLAKE_TOKEN": TOKEN,
        "SNOWFLAKE_AUTHENTICATOR": authenticator,
    }
    arguments = connection_arguments(SnowflakeEnvironment.from_environ(), 60)
    assert arguments["authenticator"] == connector_authenticator
    assert arguments["token"] == TOKEN and "password" not in arguments


def test_key_pair_wins_over_password_and_token(
    job_env, standins: StandIns, key_pair: KeyPair
) -> None:
    secret = {"user": TEST_USER, "password": TEST_PASSWORD, "token": TOKEN,
              "private_key": key_pair.pem}  # fmt: skip
    assert _bootstrap(standins, "all", secret).method == "key pair"
    assert set(_exported()) == {"SNOWFLAKE_USER", "SNOWFLAKE_PRIVATE_KEY"}


def test_bootstrap_replaces_stale_credentials_in_the_environment(
    job_env, standins: StandIns
) -> None:
    os.environ["SNOWFLAKE_TOKEN"] = "stale-token"
    os.environ["SNOWFLAKE_AUTHENTICATOR"] = "oauth"
    _bootstrap(standins, "fresh", {"user": TEST_USER, "password": TEST_PASSWORD})
    assert _exported() == {"SNOWFLAKE_USER": TEST_USER, "SNOWFLAKE_PASSWORD": TEST_PASSWORD}


def test_environment_wins_over_secret_context(job_env, standins: StandIns) -> None:
    os.environ.pop("SNOWFLAKE_ACCOUNT")
    os.environ["SNOWFLAKE_DATABASE"] = "FROM_ENV"
    secret = {
        "user": TEST_USER, "password": TEST_PASSWORD, "account": "from-secret",
        "warehouse": "WH_SECRET", "database": "DB_SECRET", "schema": "SCHEMA_SECRET",
        "role": "ROLE_SECRET",
    }  # fmt: skip
    _bootstrap(standins, "context", secret)
    assert os.environ["SNOWFLAKE_DATABASE"] == "FROM_ENV"
    assert os.environ["SNOWFLAKE_ACCOUNT"] == "from-secret"
    assert os.environ["SNOWFLAKE_WAREHOUSE"] == "WH_SECRET"
    assert os.environ["SNOWFLAKE_SCHEMA"] == "SCHEMA_SECRET"
    assert os.environ["SNOWFLAKE_ROLE"] == "ROLE_SECRET"


def test_glue_context_keys(job_env, standins: StandIns) -> None:
    secret = {"sfUser": TEST_USER, "sfPassword": TEST_PASSWORD, "sfDatabase": "GLUE_DB",
              "sfWarehouse": "GLUE_WH", "sfSchema": "GLUE_SCHEMA",
              "sfRole": "GLUE_ROLE"}  # fmt: skip
    _bootstrap(standins, "glue-context", secret)
    assert os.environ["SNOWFLAKE_DATABASE"] == "GLUE_DB"
    assert os.environ["SNOWFLAKE_WAREHOUSE"] == "GLUE_WH"
    assert os.environ["SNOWFLAKE_SCHEMA"] == "GLUE_SCHEMA"
    assert os.environ["SNOWFLAKE_ROLE"] == "GLUE_ROLE"


def test_credentials_never_in_repr_or_errors(job_env, standins: StandIns, key_pair) -> None:
    credentials = _bootstrap(
        standins, "repr", {"user": TEST_USER, "private_key": key_pair.encrypted_pem,
                           "private_key_passphrase": PASSPHRASE},
    )  # fmt: skip
    shown = repr(credentials) + str(credentials)
    assert TEST_USER in shown
    for value in credentials.secret_values():
        assert value not in shown
    with pytest.raises(UserError) as raised:
        _bootstrap(standins, "no-user", {"password": TEST_PASSWORD, "token": TOKEN})
    assert TEST_PASSWORD not in str(raised.value) and TOKEN not in str(raised.value)
    assert "keys present: password, token" in str(raised.value)


# --- end to end: what the connector sends ----------------------------------------------------


def _run_through_front(
    jobs: JobRunner, standins: StandIns, params: dict, name: str, secret: dict, **front: object
) -> tuple:
    secret_id = f"snowflake-xgb/credentials/e2e-{name}"
    standins.put_secret(secret_id, secret)
    with SnowflakeFront(standins.snowflake_port, **front) as proxy:
        run = jobs.run(params, environ={"SNOWFLAKE_SECRET_ID": secret_id, **proxy.environ()})
    return run, proxy.logins


def _small(housing_params: dict) -> dict:
    return {**housing_params, "num_round": 3}


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain_key", "encrypted_key"])
def test_key_pair_signs_in_with_a_jwt_of_that_key(
    jobs: JobRunner, standins: StandIns, housing_params: dict, key_pair: KeyPair, encrypted: bool
) -> None:
    secret = {"user": TEST_USER, "account": "local",
              "private_key": key_pair.encrypted_pem if encrypted else key_pair.pem}  # fmt: skip
    if encrypted:
        secret["private_key_passphrase"] = PASSPHRASE
    run, logins = _run_through_front(
        jobs, standins, _small(housing_params), f"jwt-{encrypted}", secret
    )
    host = run.coordinator
    assert host.returncode == 0, host.output
    assert "(key pair)" in host.output
    assert logins
    for login in logins:  # the coordinator's planning session and its loading session
        data = login["data"]
        assert data["AUTHENTICATOR"] == "SNOWFLAKE_JWT"
        assert data["LOGIN_NAME"] == TEST_USER and "PASSWORD" not in data
        claims = jwt.decode(data["TOKEN"], key_pair.public_pem, algorithms=["RS256"])
        assert claims["sub"] == f"LOCAL.{TEST_USER.upper()}"
        assert claims["iss"] == f"LOCAL.{TEST_USER.upper()}.{key_pair.fingerprint}"


@pytest.mark.parametrize(
    ("authenticator", "sent"),
    [(None, "PROGRAMMATIC_ACCESS_TOKEN"), ("oauth", "OAUTH")],
    ids=["programmatic_access_token", "oauth"],
)
def test_token_signs_in_with_that_token(
    jobs: JobRunner, standins: StandIns, housing_params: dict, authenticator, sent: str
) -> None:
    secret = {"user": TEST_USER, "token": TOKEN}
    if authenticator:
        secret["authenticator"] = authenticator
    run, logins = _run_through_front(
        jobs, standins, _small(housing_params), f"token-{sent}", secret
    )
    assert run.coordinator.returncode == 0, run.coordinator.output
    assert logins
    for login in logins:
        assert login["data"]["AUTHENTICATOR"] == sent
        assert login["data"]["TOKEN"] == TOKEN and "PASSWORD" not in login["data"]


def test_wrong_passphrase_is_a_clean_failure(
    jobs: JobRunner, standins: StandIns, housing_params: dict, key_pair: KeyPair
) -> None:
    secret = {"user": TEST_USER, "private_key": key_pair.encrypted_pem,
              "private_key_passphrase": "not-the-passphrase"}  # fmt: skip
    standins.put_secret("snowflake-xgb/credentials/bad-passphrase", secret)
    run = jobs.run(
        housing_params, environ={"SNOWFLAKE_SECRET_ID": "snowflake-xgb/credentials/bad-passphrase"}
    )
    host = run.coordinator
    assert host.returncode == 1
    assert "private key in the Snowflake secret could not be loaded" in host.failure
    assert "private_key_passphrase" in host.failure and "Traceback" not in host.output
    everything = run.all_bytes()
    for fragment in key_pair.secret_fragments():
        assert fragment not in everything


def test_context_from_the_secret_is_used_and_the_environment_wins(
    jobs: JobRunner, standins: StandIns, housing_params: dict
) -> None:
    """The secret names a database Snowflake does not know: used alone it fails by name; with
    SNOWFLAKE_DATABASE set in the job's environment, the environment's database is used."""
    secret = {"user": TEST_USER, "password": TEST_PASSWORD, "database": "SECRET_ONLY_DB"}
    params = _small(housing_params)
    alone, _ = _run_through_front(
        jobs, standins, params, "context", secret, unknown_databases=("SECRET_ONLY_DB",)
    )
    assert alone.coordinator.returncode == 1
    assert "database SECRET_ONLY_DB does not exist" in alone.coordinator.failure

    standins.put_secret("snowflake-xgb/credentials/e2e-context", secret)
    with SnowflakeFront(standins.snowflake_port, unknown_databases=("SECRET_ONLY_DB",)) as proxy:
        environ = {"SNOWFLAKE_SECRET_ID": "snowflake-xgb/credentials/e2e-context",
                   "SNOWFLAKE_DATABASE": "DEMO", **proxy.environ()}  # fmt: skip
        run = jobs.run(params, environ=environ)
    assert run.coordinator.returncode == 0, run.coordinator.output
    assert proxy.login_parameters
    assert all(p.get("databaseName") == "DEMO" for p in proxy.login_parameters)


# --- keyless and the password warning (issue 19) ------------------------------------------------


def test_a_password_sign_in_logs_one_phasing_out_warning(
    standins: StandIns, job_env: dict, key_pair, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        _bootstrap(standins, "warn-password", {"user": TEST_USER, "password": TEST_PASSWORD})
    warnings = [r.getMessage() for r in caplog.records if "phasing out" in r.getMessage()]
    assert len(warnings) == 1 and "key pair" in warnings[0] and "WORKLOAD_IDENTITY" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _bootstrap(standins, "warn-key", {"user": TEST_USER, "private_key": key_pair.pem})
    assert not [r for r in caplog.records if "phasing out" in r.getMessage()]


def test_keyless_needs_no_secret_and_exports_no_credential(job_env: dict) -> None:
    os.environ.pop("SNOWFLAKE_SECRET_ID")
    os.environ["SNOWFLAKE_AUTHENTICATOR"] = "WORKLOAD_IDENTITY"
    credentials = bootstrap_credentials()
    assert credentials.is_workload_identity and credentials.secret_values() == []
    env = SnowflakeEnvironment.from_environ()
    from snowflake_xgb.query.snowflake_session import connection_arguments

    arguments = connection_arguments(env, 60)
    assert arguments["authenticator"] == "WORKLOAD_IDENTITY"
    assert arguments["workload_identity_provider"] == "AWS"
    assert "user" not in arguments and "password" not in arguments


def test_keyless_secret_gives_context_and_its_password_is_not_used(
    standins: StandIns, job_env: dict
) -> None:
    os.environ["SNOWFLAKE_AUTHENTICATOR"] = "WORKLOAD_IDENTITY"
    for name in CONTEXT_VARIABLES:
        os.environ.pop(name, None)
    secret = {"user": TEST_USER, "password": TEST_PASSWORD, "account": "acct", "warehouse": "WH"}
    credentials = _bootstrap(standins, "keyless-context", secret)
    assert credentials.is_workload_identity and credentials.user == TEST_USER
    assert "SNOWFLAKE_PASSWORD" not in os.environ
    assert os.environ["SNOWFLAKE_ACCOUNT"] == "acct" and os.environ["SNOWFLAKE_WAREHOUSE"] == "WH"


# --- the AWS region ---------------------------------------------------------------------------


def test_the_region_is_the_arns_then_aws_default_region_then_aws_region(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert aws_region("arn:aws:secretsmanager:ap-south-1:123456789012:secret:sf") == "ap-south-1"
    assert aws_region("snowflake-xgb/credentials") == "eu-west-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert aws_region() == "us-west-2"
    monkeypatch.delenv("AWS_REGION")
    assert aws_region() is None


def test_a_secret_is_read_with_only_aws_region_set_as_sagemaker_sets_it(
    job_env, standins: StandIns
) -> None:
    os.environ["AWS_REGION"] = os.environ.pop("AWS_DEFAULT_REGION")
    layout = {"user": TEST_USER, "password": TEST_PASSWORD}
    assert _bootstrap(standins, "region", layout).user == TEST_USER

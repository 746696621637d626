"""No credential ever leaves the process environment and the connector.

The secret holds a distinctive password, private key (and its passphrase) and token. Jobs that
succeed on one and two hosts, jobs that fail in every phase after the secret was read, a job
stopped by SIGTERM and a job at DEBUG log level run through the real ``train`` command; every
byte each wrote (stdout, stderr, ``/opt/ml/output``, the model folder, checkpoints) is searched
for each credential and for pieces of them: no match.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from snowflake_front import WRONG_PASSWORD, SnowflakeFront
from support.jobs import JobRun, JobRunner, wait_until
from support.keys import PASSPHRASE, TOKEN, KeyPair
from support.standins import HOUSING_TABLE, TEST_USER, StandIns

pytestmark = pytest.mark.timeout(240)

PASSWORD = "pw-HYGIENE-2c9f41d7e8-LEAKCHECK"


def _needles(key_pair: KeyPair) -> dict[str, bytes]:
    """Each credential, and pieces of it long enough to be unmistakable (truncated leaks)."""
    needles = {}
    for name, value in (("password", PASSWORD), ("passphrase", PASSPHRASE), ("token", TOKEN)):
        needles[name] = value.encode()
        needles[f"{name} (first 12)"] = value[:12].encode()
        needles[f"{name} (last 12)"] = value[-12:].encode()
    for index, fragment in enumerate(key_pair.secret_fragments()):
        needles[f"private key line {index}"] = fragment
        needles[f"private key line {index} (first 24)"] = fragment[:24]
    return needles


def assert_no_credential(everything: bytes, key_pair: KeyPair) -> None:
    found = [name for name, needle in _needles(key_pair).items() if needle in everything]
    assert not found, found


def _everything(run: JobRun, *folders: Path) -> bytes:
    chunks = [run.all_bytes()]
    for folder in folders:
        chunks += [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]
    return b"\n".join(chunks)


def _secret(standins: StandIns, name: str, secret: dict) -> str:
    secret_id = f"snowflake-xgb/leak-check/{name}"
    standins.put_secret(secret_id, secret)
    return secret_id


@pytest.fixture(scope="module")
def secrets(standins: StandIns, key_pair: KeyPair) -> dict[str, str]:
    """Secret ids: every credential in one secret (key pair used), and one per sign-in method,
    each also holding the other credentials it does not use."""
    everything = {
        "user": TEST_USER,
        "password": PASSWORD,
        "token": TOKEN,
        "private_key": key_pair.encrypted_pem,
        "private_key_passphrase": PASSPHRASE,
    }
    return {
        "key_pair": _secret(standins, "key-pair", everything),
        "password": _secret(standins, "password", {"user": TEST_USER, "password": PASSWORD}),
        "token": _secret(standins, "token", {"user": TEST_USER, "token": TOKEN}),
    }


def _params(housing_params: dict, **extra: object) -> dict:
    return {**housing_params, "num_round": 5, **extra}


@pytest.mark.parametrize("method", ["key_pair", "password", "token"])
def test_single_host_job(
    jobs: JobRunner, housing_params: dict, secrets: dict, key_pair: KeyPair, method: str
) -> None:
    run = jobs.run(_params(housing_params), environ={"SNOWFLAKE_SECRET_ID": secrets[method]})
    assert run.coordinator.returncode == 0, run.coordinator.output
    assert (run.coordinator.model_dir / "xgboost-model").exists()
    assert_no_credential(_everything(run), key_pair)


def assert_no_derived_secret(everything: bytes, derived: list[str]) -> None:
    """None of the secrets the connector derived (tokens, the JWT), nor a piece of one."""
    found = [
        f"{value[:4]}... ({part})"
        for value in derived
        for part, needle in (("whole", value), ("first 16", value[:16]), ("last 16", value[-16:]))
        if len(needle) >= 12 and needle.encode() in everything
    ]
    assert not found, found


def test_single_host_job_at_debug_log_level(
    jobs: JobRunner, standins: StandIns, housing_params: dict, secrets: dict, key_pair: KeyPair
) -> None:
    """DEBUG logs of boto3 and the connector print request and response bodies, with the
    secrets the connector derives: the key pair's JWT, the session and master tokens."""
    params = _params(housing_params, sagemaker_container_log_level="10")
    for method in ("key_pair", "password", "token"):
        before = len(standins.front.derived_secrets())
        run = jobs.run(params, environ={"SNOWFLAKE_SECRET_ID": secrets[method]})
        assert run.coordinator.returncode == 0, run.coordinator.output
        assert " DEBUG " in run.coordinator.output  # the level took effect
        assert_no_credential(_everything(run), key_pair)
        derived = standins.front.derived_secrets()[before:]
        assert derived  # the job signed in: there is something to look for
        assert_no_derived_secret(_everything(run), derived)


def test_two_host_job(
    jobs: JobRunner, housing_params: dict, secrets: dict, key_pair: KeyPair
) -> None:
    run = jobs.run(
        _params(housing_params, nthread=1),
        hosts=2,
        environ={"SNOWFLAKE_SECRET_ID": secrets["key_pair"]},
    )
    assert [h.returncode for h in run.hosts] == [0, 0], [h.output for h in run.hosts]
    assert_no_credential(_everything(run), key_pair)


FAILURES = {
    "unknown_table": ({"table": "DEMO.PUBLIC.NO_SUCH_TABLE"}, {}),
    "sql_error": ({"table": None, "query": f"SELEC * FROM {HOUSING_TABLE}"}, {}),
    "null_labels": (
        {
            "table": None,
            "query": f"SELECT MEDINC, NULLIF(MEDHOUSEVAL, MEDHOUSEVAL) AS MEDHOUSEVAL "
            f"FROM {HOUSING_TABLE}",
        },
        {},
    ),
    "unknown_column": ({"label": "PRICE"}, {}),
    "bad_xgboost_value": ({"objective": "reg:nonsense"}, {}),
    "unreachable": ({}, {"SNOWFLAKE_PORT": "1"}),
    "no_account": ({}, {"SNOWFLAKE_ACCOUNT": None}),
}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("method", ["key_pair", "password", "token"])
def test_failing_job(
    jobs: JobRunner,
    housing_params: dict,
    secrets: dict,
    key_pair: KeyPair,
    method: str,
    failure: str,
) -> None:
    hyperparameters, environ = FAILURES[failure]
    params = {k: v for k, v in _params(housing_params, **hyperparameters).items() if v is not None}
    run = jobs.run(params, environ={"SNOWFLAKE_SECRET_ID": secrets[method], **environ})
    assert run.coordinator.returncode != 0
    assert run.coordinator.failure
    assert_no_credential(_everything(run), key_pair)


@pytest.mark.parametrize("method", ["key_pair", "password", "token"])
def test_job_refused_at_sign_in(
    jobs: JobRunner,
    standins: StandIns,
    housing_params: dict,
    secrets: dict,
    key_pair: KeyPair,
    method: str,
) -> None:
    """Snowflake refuses the credentials: the connector's error must not carry them."""
    with SnowflakeFront(login_failure=WRONG_PASSWORD) as front:
        run = jobs.run(
            _params(housing_params),
            environ={"SNOWFLAKE_SECRET_ID": secrets[method], **front.environ()},
        )
    assert run.coordinator.returncode == 1
    assert "refused the sign-in" in run.coordinator.failure
    assert_no_credential(_everything(run), key_pair)


def test_two_host_job_failing(
    jobs: JobRunner, housing_params: dict, secrets: dict, key_pair: KeyPair
) -> None:
    run = jobs.run(
        _params(housing_params, table="DEMO.PUBLIC.NO_SUCH_TABLE", nthread=1),
        hosts=2,
        environ={"SNOWFLAKE_SECRET_ID": secrets["key_pair"]},
    )
    assert all(h.returncode != 0 for h in run.hosts)
    assert_no_credential(_everything(run), key_pair)


def test_job_stopped_by_sigterm_with_checkpoints(
    jobs: JobRunner, housing_params: dict, secrets: dict, key_pair: KeyPair, tmp_path: Path
) -> None:
    folder = tmp_path / "checkpoints"
    run, processes = jobs.start(
        _params(housing_params, num_round=100_000, checkpoint_frequency=7),
        environ={"SNOWFLAKE_SECRET_ID": secrets["key_pair"]},
        checkpoints=folder,
    )
    wait_until(lambda: "[10]\t" in run.coordinator.log(), processes, "round 10")
    processes[0].send_signal(signal.SIGTERM)
    run = jobs.wait(run, processes)
    assert run.coordinator.returncode == 1 and "SIGTERM" in run.coordinator.failure
    assert any(folder.rglob("checkpoint-*.ubj"))
    assert_no_credential(_everything(run, folder), key_pair)


@contextlib.contextmanager
def _root_log_after_bootstrap(standins: StandIns, secret: str) -> Iterator[io.StringIO]:
    """The root logger's output while the job's environment is bootstrapped from ``secret``
    (so the redaction filter knows the credentials); the environment is restored after."""
    from snowflake_xgb.credentials.bootstrap import bootstrap_credentials

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    saved = dict(os.environ)
    try:
        os.environ.update(standins.job_environ(secret))
        bootstrap_credentials()
        yield stream
    finally:
        root.removeHandler(handler)
        os.environ.clear()
        os.environ.update(saved)


def test_log_records_are_redacted_once_credentials_are_known(
    standins: StandIns, key_pair: KeyPair, secrets: dict
) -> None:
    """Second line of defence: a credential someone logs by mistake is masked."""
    with _root_log_after_bootstrap(standins, secrets["key_pair"]) as stream:
        logging.getLogger("someone.else").error(
            "oops %s %s", key_pair.encrypted_pem, {"passphrase": PASSPHRASE}
        )
    assert "oops" in stream.getvalue() and "****" in stream.getvalue()
    assert_no_credential(stream.getvalue().encode(), key_pair)


def test_a_credential_inside_an_exception_is_masked_in_the_logged_traceback(
    standins: StandIns, key_pair: KeyPair, secrets: dict
) -> None:
    """The failure path logs unexpected errors with ``exc_info``: the traceback is formatted
    after the message, and is masked too."""
    with _root_log_after_bootstrap(standins, secrets["key_pair"]) as stream:
        try:
            raise RuntimeError(
                f"bad value {PASSPHRASE!r} near eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOjF9.c2ln"
            )
        except RuntimeError:
            logging.getLogger("someone.else").error("Unexpected error", exc_info=True)
    logged = stream.getvalue()
    assert "Traceback" in logged and "RuntimeError: bad value '****' near ****" in logged
    assert_no_credential(logged.encode(), key_pair)


def test_secrets_the_connector_derives_are_masked_by_their_shape(standins: StandIns) -> None:
    """The session and master tokens and the JWT a sign-in derived (taken from the front), a
    workload identity attestation and AWS session credentials, logged as a connector or a
    request library would show them: none reaches the handler."""
    import base64
    import io
    import json
    import logging

    from snowflake_xgb import redaction

    with standins.connect() as connection:  # a sign-in, so the front has tokens to hand out
        connection.cursor().execute("SELECT 1")
    session_token, master_token = standins.front.derived_secrets()[-2:]
    jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJBQ01FLlNWQyJ9.c2lnbmF0dXJlLWJ5dGVz"
    attestation = base64.b64encode(json.dumps({"url": "https://sts", "headers": {}}).encode())
    aws_token, aws_secret = "IQoJb3JpZ2luX2VjEJr-session-token", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"
    lines = [
        f'Authorization: Snowflake Token="{session_token}"',
        json.dumps({"data": {"token": session_token, "masterToken": master_token}}),
        json.dumps({"data": {"AUTHENTICATOR": "SNOWFLAKE_JWT", "TOKEN": jwt}}),
        f"attestation {attestation.decode()}",
        f"X-Amz-Security-Token={aws_token}&X-Amz-Signature=0a1b2c3d4e5f",
        str({"aws_secret_access_key": aws_secret, "aws_session_token": aws_token}),
    ]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redaction.RedactingFilter())
    logger = logging.getLogger("snowflake.connector.network")
    logger.addHandler(handler)
    try:
        for line in lines:
            logger.warning("%s", line)
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert logged.count("****") >= len(lines)
    for secret in (session_token, master_token, jwt, attestation.decode(), aws_token, aws_secret):
        assert secret[:12] not in logged and secret[-12:] not in logged, secret[:8]

"""The bad-input matrix: every case ends the real ``train`` command non-zero, quickly, with one
short actionable paragraph in the failure file and nothing in the model folder.

Everything runs against the stand-ins over HTTP. Where fakesnow is more lenient than Snowflake
(it takes any password, creates any database a session names, has no warehouses), a small
front server (``snowflake_front``) answers those requests with Snowflake's own responses, so
the real connector raises its real errors. Access denied to the secret comes from a second
moto server that enforces IAM (``/moto-api/reset-auth``), with an IAM user that has no policy.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
import pytest
from snowflake_front import NO_WAREHOUSE, WRONG_PASSWORD, SnowflakeFront
from standin_servers import free_port, standins_bin
from standin_servers import serve as server_process
from support.jobs import JobRunner
from support.silent_server import SilentServer
from support.standins import HOUSING_TABLE, REGION, TEST_PASSWORD, TEST_USER, StandIns

pytestmark = pytest.mark.timeout(180)

FAILURE_LIMIT = 1024
# Every case here fails in seconds; the bound leaves room for a slow CI machine.
BOUND_SECONDS = 45


@dataclass
class Case:
    """One bad input: what to change, and what the failure must say (problem and fix)."""

    hyperparameters: dict = field(default_factory=dict)
    environ: dict = field(default_factory=dict)
    says: tuple[str, ...] = ()
    secret: dict | str | None = None  # stored under this case's own secret id
    front: dict | None = None  # SnowflakeFront options: the connector talks to it
    bound: float = BOUND_SECONDS


def _query(sql: str) -> dict:
    return {"table": None, "query": sql}


CASES = {
    "no_secret_id": Case(
        environ={"SNOWFLAKE_SECRET_ID": None},
        says=("Set the environment variable SNOWFLAKE_SECRET_ID", "Secrets Manager"),
    ),
    "secret_not_found": Case(
        environ={"SNOWFLAKE_SECRET_ID": "snowflake-xgb/no-such-secret"},
        says=("snowflake-xgb/no-such-secret was not found", "check SNOWFLAKE_SECRET_ID"),
    ),
    "secret_not_json": Case(
        secret="user=svc password=not-json-9c1e",
        says=("is not a JSON object", "Store it as JSON"),
    ),
    "secret_without_user": Case(
        secret={"password": TEST_PASSWORD},
        says=("has no usable Snowflake credentials", "keys present: password", '"user"'),
    ),
    "secret_without_credential": Case(
        secret={"user": TEST_USER, "account": "local"},
        says=("has no usable Snowflake credentials", "keys present: account, user", "private_key"),
    ),
    "wrong_credentials": Case(
        front={"login_failure": WRONG_PASSWORD},
        says=(
            f"refused the sign-in of user {TEST_USER} by password",
            "Incorrect username or password was specified",
            "Snowflake secret",
        ),
    ),
    "endpoint_unreachable": Case(
        environ={"SNOWFLAKE_PORT": "closed"},  # replaced by a port nothing listens on
        says=("Could not reach Snowflake at 127.0.0.1:", "SNOWFLAKE_HOST/PORT"),
    ),
    "endpoint_silent": Case(
        environ={"SNOWFLAKE_PORT": "silent", "SNOWFLAKE_LOGIN_TIMEOUT": "5"},
        says=("Could not reach Snowflake at 127.0.0.1:", "after at most 5s", "SNOWFLAKE_HOST"),
        bound=30,
    ),
    "unknown_database": Case(
        environ={"SNOWFLAKE_DATABASE": "NO_SUCH_DB"},
        front={"unknown_databases": ("NO_SUCH_DB",)},
        says=(
            "database NO_SUCH_DB does not exist or the role may not use it",
            "SNOWFLAKE_DATABASE",
        ),
    ),
    "unknown_warehouse": Case(
        environ={"SNOWFLAKE_WAREHOUSE": "NO_SUCH_WH"},
        front={"query_failure": NO_WAREHOUSE},
        says=(
            "No active warehouse selected",
            "SNOWFLAKE_WAREHOUSE is NO_SUCH_WH",
            "GRANT USAGE ON WAREHOUSE",
        ),
    ),
    "unknown_table": Case(
        hyperparameters={"table": "DEMO.PUBLIC.NO_SUCH_TABLE"},
        says=("table DEMO.PUBLIC.NO_SUCH_TABLE", "NO_SUCH_TABLE does not exist", "Check the name"),
    ),
    "sql_syntax_error": Case(
        hyperparameters=_query(f"SELEC * FROM {HOUSING_TABLE}"),
        says=("Snowflake could not run the query", "Fix the SQL"),
    ),
    "query_returns_no_rows": Case(
        hyperparameters=_query(f"SELECT * FROM {HOUSING_TABLE} WHERE MEDINC < -1"),
        says=("The training query returned no rows", "filters"),
    ),
    "label_column_missing": Case(
        hyperparameters={"label": "PRICE"},
        says=("Column PRICE (label) is not in the result", "Columns available: MEDINC"),
    ),
    "text_label_among_several": Case(
        hyperparameters={
            **_query(f"SELECT *, 'a' || MEDINC AS NOTE FROM {HOUSING_TABLE}"),
            "label": "MEDHOUSEVAL,NOTE",
        },
        says=("Column NOTE (label) is TEXT", "with several label columns each must be a number"),
    ),
    "unreadable_feature": Case(
        hyperparameters=_query(
            f"SELECT *, PARSE_JSON('{{\"a\": 1}}') AS PAYLOAD FROM {HOUSING_TABLE}"
        ),
        says=("Column PAYLOAD is VARIANT", "exclude=PAYLOAD"),
    ),
    "null_labels": Case(
        hyperparameters=_query(
            "SELECT MEDINC, HOUSEAGE, CASE WHEN HOUSEAGE > 30 THEN NULL ELSE MEDHOUSEVAL END "
            f"AS MEDHOUSEVAL FROM {HOUSING_TABLE}"
        ),
        says=("NULL label (MEDHOUSEVAL)", "MEDHOUSEVAL IS NOT NULL"),
    ),
    "table_and_query": Case(
        hyperparameters={"query": f"SELECT * FROM {HOUSING_TABLE}"},
        says=("Set either table or query, not both",),
    ),
    "neither_table_nor_query": Case(
        hyperparameters={"table": None},
        says=("Set the training data", "table", "query"),
    ),
    "unknown_hyperparameter": Case(
        hyperparameters={"maxdepth": "6"},
        says=("Unknown hyperparameter(s): maxdepth", "xgboost.readthedocs.io"),
    ),
    "num_round_zero": Case(
        hyperparameters={"num_round": "0"},
        says=("num_round must be between 1 and", "got 0"),
    ),
    "num_round_not_a_number": Case(
        hyperparameters={"num_round": "ten"},
        says=("num_round must be a whole number", "'ten'"),
    ),
    "eta_negative": Case(
        hyperparameters={"eta": "-1"},
        says=("Hyperparameter eta=-1 is not valid", "parameter.html"),
    ),
    "validation_fraction_out_of_range": Case(
        hyperparameters={"validation_fraction": "2"},
        says=("validation_fraction must be between 0 and 1", "got 2.0"),
    ),
    "credential_as_hyperparameter": Case(
        hyperparameters={"snowflake_password": "hp-0d4c5e-NOT-IN-FAILURE"},
        says=("'snowflake_password' looks like a credential", "SNOWFLAKE_SECRET_ID"),
    ),
    "table_name_injection": Case(
        hyperparameters={"table": f"{HOUSING_TABLE}; DROP TABLE {HOUSING_TABLE}"},
        says=("is not a valid Snowflake table name", "pass a SELECT as query"),
    ),
    "label_injection": Case(
        hyperparameters={"label": 'MEDHOUSEVAL" FROM x; --'},
        says=("label", "is not a valid Snowflake column name"),
    ),
    "feature_name_injection": Case(
        hyperparameters={"features": "MEDINC, HOUSEAGE) FROM t; --"},
        says=("features", "is not a valid Snowflake column name"),
    ),
}


def _closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


def assert_clean_failure(host, says: tuple[str, ...], elapsed: float, bound: float) -> str:
    """The contract every bad input meets."""
    assert host.returncode == 1, host.output[-3000:]
    assert elapsed < bound, f"took {elapsed:.1f}s"
    failure = host.failure
    assert failure, host.output[-3000:]
    assert len(failure) < FAILURE_LIMIT, len(failure)
    assert "Traceback" not in failure and "Traceback" not in host.output
    assert "\n" not in failure.strip(), "one paragraph"
    for phrase in says:
        assert phrase in failure, (phrase, failure)
    assert not any(host.model_dir.iterdir()), list(host.model_dir.iterdir())
    return failure


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(
    name: str, jobs: JobRunner, standins: StandIns, housing_params: dict, capsys
) -> None:
    case = CASES[name]
    params = {k: v for k, v in {**housing_params, **case.hyperparameters}.items() if v is not None}
    environ = dict(case.environ)
    if case.secret is not None:
        environ["SNOWFLAKE_SECRET_ID"] = f"snowflake-xgb/errors/{name}"
        standins.put_secret(environ["SNOWFLAKE_SECRET_ID"], case.secret)
    with contextlib.ExitStack() as stack:
        if environ.get("SNOWFLAKE_PORT") == "silent":
            environ["SNOWFLAKE_PORT"] = str(stack.enter_context(SilentServer()).port)
        if environ.get("SNOWFLAKE_PORT") == "closed":
            environ["SNOWFLAKE_PORT"] = str(_closed_port())
        if case.front:
            front = stack.enter_context(SnowflakeFront(standins.snowflake_port, **case.front))
            environ.update(front.environ())
        started = time.monotonic()
        run = jobs.run(params, environ=environ, timeout=case.bound + 30)
        elapsed = time.monotonic() - started
    failure = assert_clean_failure(run.coordinator, case.says, elapsed, case.bound)
    if name == "secret_not_json":
        assert "not-json-9c1e" not in failure
    if name == "credential_as_hyperparameter":
        assert "hp-0d4c5e-NOT-IN-FAILURE" not in failure
        assert b"hp-0d4c5e-NOT-IN-FAILURE" not in run.all_bytes()  # nor in any log
    if name.endswith("_injection"):  # refused before any connection, let alone any SQL
        assert "Snowflake Connector" not in run.coordinator.output
    if case.front:
        assert front.logins, "the connector went through the front"
    with capsys.disabled():
        sys.stdout.write(f" [{name}: {elapsed:.1f}s]")


# --- access denied: a moto server that enforces IAM ------------------------------------------


@dataclass(frozen=True)
class DeniedSecrets:
    url: str
    access_key: str
    secret_key: str
    secret_id: str


@pytest.fixture(scope="module")
def denied_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeniedSecrets]:
    """A Secrets Manager stand-in where the job's IAM user may not read the secret."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(standins_bin() / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    log = tmp_path_factory.mktemp("moto-iam") / "moto.log"
    with server_process(command, port, log):
        admin = {"endpoint_url": url, "region_name": REGION,
                 "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
        secret_id = "snowflake-xgb/guarded"
        boto3.client("secretsmanager", **admin).create_secret(
            Name=secret_id, SecretString=json.dumps({"user": TEST_USER, "password": TEST_PASSWORD})
        )
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="training-job")
        # Allowed something else, not this secret: an implicit deny for GetSecretValue.
        iam.put_user_policy(
            UserName="training-job",
            PolicyName="other",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}]}),
        )  # fmt: skip
        key = iam.create_access_key(UserName="training-job")["AccessKey"]
        # From now on every request is authenticated and authorised against IAM.
        request = urllib.request.Request(
            f"{url}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"},
        )  # fmt: skip
        urllib.request.urlopen(request, timeout=10).read()
        yield DeniedSecrets(url, key["AccessKeyId"], key["SecretAccessKey"], secret_id)


def test_bad_input_access_denied_to_secret(
    jobs: JobRunner, housing_params: dict, denied_secrets: DeniedSecrets
) -> None:
    environ = {
        "SNOWFLAKE_SECRET_ID": denied_secrets.secret_id,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": denied_secrets.url,
        "AWS_ACCESS_KEY_ID": denied_secrets.access_key,
        "AWS_SECRET_ACCESS_KEY": denied_secrets.secret_key,
    }
    started = time.monotonic()
    run = jobs.run(housing_params, environ=environ)
    assert_clean_failure(
        run.coordinator,
        (f"Access denied to secret {denied_secrets.secret_id}", "secretsmanager:GetSecretValue"),
        time.monotonic() - started,
        BOUND_SECONDS,
    )


def test_bad_input_unknown_aws_credentials(
    jobs: JobRunner, housing_params: dict, denied_secrets: DeniedSecrets
) -> None:
    environ = {
        "SNOWFLAKE_SECRET_ID": denied_secrets.secret_id,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": denied_secrets.url,
        "AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000",
        "AWS_SECRET_ACCESS_KEY": "unknown",
    }
    started = time.monotonic()
    run = jobs.run(housing_params, environ=environ)
    assert_clean_failure(
        run.coordinator,
        ("AWS did not accept the job's own credentials", "IAM role"),
        time.monotonic() - started,
        BOUND_SECONDS,
    )


def test_user_error_is_one_short_paragraph() -> None:
    """Whatever a message quotes (a long SQL error, a column list), the failure file stays
    within SageMaker's 1024-character FailureReason and on one line."""
    from snowflake_xgb.errors import UserError

    error = UserError("Columns available:\n" + ", ".join(f"COLUMN_{i}" for i in range(500)))
    assert len(str(error)) < FAILURE_LIMIT and str(error).endswith("...")
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "settings",
    [{"tree_method": "exact"}, {"booster": "gblinear"}, {"cv_folds": 3, "tree_method": "approx"}],
    ids=["exact", "gblinear", "cv_folds"],
)
def test_a_matrix_the_parameters_cannot_use_is_refused_before_any_statement(
    jobs: JobRunner, housing_params: dict, settings: dict
) -> None:
    """external_memory needs hist: refused at configuration, before Snowflake sees the job."""
    params = {**housing_params, **settings, "external_memory": "true"}
    if "cv_folds" in settings:
        params.pop("validation_fraction")
    front = jobs.standins.front
    before = front.counters()
    run = jobs.run(params)
    host = run.coordinator
    assert host.returncode != 0
    assert host.failure.startswith("external_memory=true needs tree_method=hist"), host.failure
    after = front.counters()
    assert (after["logins"], after["forwarded_queries"]) == (
        before["logins"],
        before["forwarded_queries"],
    )
    assert not any(host.model_dir.iterdir())


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        (
            {"label": "MEDHOUSEVAL,MEDINC", "objective": "multi:softprob", "num_class": "3"},
            "label=MEDHOUSEVAL,MEDINC trains one output per label",
        ),
        (
            {"label": "MEDHOUSEVAL,MEDINC", "model_format": "aws-xgboost"},
            "this job trains a multi-output model (2 label columns)",
        ),
        ({"label": "MEDHOUSEVAL,medhouseval"}, "label names MEDHOUSEVAL twice"),
    ],
    ids=["multiclass_objective", "aws_model_format", "repeated"],
)
def test_bad_label_sets_are_refused_before_any_statement(
    jobs: JobRunner, housing_params: dict, settings: dict, says: str
) -> None:
    front = jobs.standins.front
    before = front.counters()
    host = jobs.run({**housing_params, **settings}).coordinator
    assert host.returncode != 0
    assert says in host.failure, host.failure
    after = front.counters()
    assert (after["logins"], after["forwarded_queries"]) == (
        before["logins"],
        before["forwarded_queries"],
    )
    assert not any(host.model_dir.iterdir())

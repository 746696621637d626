"""The job against what Snowflake does and our stand-in's kindness would hide (contract rows 7,
9 and 10 of docs/snowflake-contract.md): query statuses other than RUNNING/SUCCESS, asynchronous
queries cancelled when the session that submitted them logs out, and results in JSON.

Each test turns a behaviour of the front on (``standins.front.settings``), runs the job or the
session's read through the real connector, and puts the front back.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import snowflake.connector
from support import jobs as job_support
from support.jobs import JobRunner
from support.standins import HOUSING_TABLE, TEST_PASSWORD, TEST_USER, StandIns

from snowflake_xgb import sagemaker_layout as layout
from snowflake_xgb.credentials.snowflake_environment import SnowflakeEnvironment
from snowflake_xgb.errors import UserError
from snowflake_xgb.query.snowflake_session import SnowflakeSession, open_session

pytestmark = pytest.mark.timeout(300)

USER_SCRIPTS = Path(__file__).resolve().parents[1] / "user_scripts"
IDS_TABLE = "DEMO.PUBLIC.BEHAVIOUR_IDS"
ROWS = 2000
CONNECTOR_MAJOR = int(snowflake.connector.__version__.split(".")[0])
# Statuses Snowflake reports while a statement waits (connector constants.py QueryStatus), and
# one that no connector knows yet.
WAITING_STATUSES = ["QUEUED", "RESUMING_WAREHOUSE", "QUEUED_REPARING_WAREHOUSE", "RESTARTED",
                    "BLOCKED", "NO_DATA", "A_STATUS_FROM_THE_FUTURE"]  # fmt: skip


@pytest.fixture
def front(standins: StandIns) -> Iterator:
    """The Snowflake stand-in's front, put back to its start after the test."""
    control = standins.front
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def ids_table(standins: StandIns) -> str:
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {IDS_TABLE} (ID NUMBER, X FLOAT, G NUMBER)",
        f"INSERT INTO {IDS_TABLE} SELECT range, range * 0.5, FLOOR(range / 7) FROM range({ROWS})",
    )
    return IDS_TABLE


def _environment(standins: StandIns) -> SnowflakeEnvironment:
    environ = {**standins.job_environ(), "SNOWFLAKE_USER": TEST_USER}
    return SnowflakeEnvironment.from_environ({**environ, "SNOWFLAKE_PASSWORD": TEST_PASSWORD})


def _read_slices(jobs: JobRunner, monkeypatch: pytest.MonkeyPatch, table: str, hosts: int):
    """Run the ``read_slices.py`` user script: every API's slices, reported by ID per host."""
    layout_host = job_support.layout_host

    def layout_with_code(base_dir: Path, *args, **kwargs) -> None:
        layout_host(base_dir, *args, **kwargs)
        shutil.copytree(USER_SCRIPTS, base_dir / layout.CODE_DIR)

    monkeypatch.setattr(job_support, "layout_host", layout_with_code)
    return jobs.run(
        {"query": f"SELECT ID, X, G FROM {table}"},
        hosts=hosts,
        environ={"SAGEMAKER_PROGRAM": "read_slices.py"},
    )


def _submit_and_log_out(standins: StandIns, sql: str) -> str:
    """Submit ``sql`` asynchronously and log the session out at once, deliberately."""
    arguments = {"server_session_keep_alive": False}
    if CONNECTOR_MAJOR >= 5:
        arguments["enable_server_session_keep_alive_auto_detection"] = False
    connection = snowflake.connector.connect(
        user=TEST_USER, password=TEST_PASSWORD, account="local", host="127.0.0.1",
        port=standins.snowflake_port, protocol="http", login_timeout=30, **arguments,
    )  # fmt: skip
    cursor = connection.cursor()
    cursor.execute_async(sql)
    if CONNECTOR_MAJOR < 5:  # 4.x skips the logout while it sees the query running
        connection.rest.delete_session()
    connection.close()
    return cursor.sfqid


# -- row 7: query statuses -------------------------------------------------------------------


def test_every_row_is_read_once_through_statuses_other_than_running(
    jobs: JobRunner, front, ids_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    front.settings(statuses_before_success=WAITING_STATUSES, running_seconds=1)
    run = _read_slices(jobs, monkeypatch, ids_table, hosts=2)
    counters = front.counters()
    ids = []
    for host in run.hosts:
        assert host.returncode == 0, host.output[-3000:]
        report = json.loads((host.output_dir / "data" / f"slices-{host.name}.json").read_text())
        assert sorted(report["ids"]) == sorted(report["batch_ids"])
        ids += report["ids"]
    assert sorted(ids) == list(range(ROWS))
    # The job waited through every status (one per call) before each read.
    assert max(counters["status_calls"].values()) > len(WAITING_STATUSES)
    assert counters["cancelled"] == []


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("FAILED_WITH_ERROR", "Numeric value 'abc' is not recognized"),
        ("ABORTED", "SQL execution canceled"),
    ],
)
def test_a_query_that_fails_while_waiting_fails_the_job_with_snowflakes_message(
    jobs: JobRunner, front, housing_params: dict, status: str, message: str
) -> None:
    front.settings(statuses_before_success=["QUEUED", "RUNNING", status])
    run = jobs.run({**housing_params, "num_round": 3}, hosts=2)
    for host in run.hosts:
        assert host.returncode != 0, host.output[-2000:]
        assert host.failure is not None, host.output[-2000:]
        assert message in host.failure and "Traceback" not in host.failure
        assert not (host.model_dir / "xgboost-model").exists()


def test_waiting_for_a_query_that_never_finishes_is_bounded(standins: StandIns, front) -> None:
    front.settings(running_seconds=600)
    with open_session(_environment(standins), 60, keeps_queries=True) as session:
        query_id = session.submit(f"SELECT * FROM {HOUSING_TABLE}", "the query")
        with pytest.raises(UserError, match=r"did not finish the query .* within 2s"):
            session.wait_for(query_id, "the query", timeout=2)


# -- row 10: asynchronous queries and logouts --------------------------------------------------


def test_the_jobs_queries_outlive_the_sessions_that_submitted_them(
    jobs: JobRunner, front, housing_params: dict
) -> None:
    assert front.settings()["cancel_on_logout"]
    front.settings(running_seconds=3)
    run = jobs.run({**housing_params, "num_round": 3}, hosts=2)
    counters = front.counters()
    for host in run.hosts:
        assert host.returncode == 0, host.output[-3000:]
    assert (run.coordinator.model_dir / "xgboost-model").exists()
    assert counters["submissions"] >= 2 and counters["logouts"] >= 2  # the hosts' sessions
    assert counters["cancelled"] == []


@pytest.mark.parametrize("cancel_on_logout", [True, False])
def test_a_logout_cancels_the_queries_its_session_submitted(
    standins: StandIns, front, cancel_on_logout: bool
) -> None:
    front.settings(running_seconds=2, cancel_on_logout=cancel_on_logout)
    query_id = _submit_and_log_out(standins, f"SELECT * FROM {HOUSING_TABLE}")
    with open_session(_environment(standins), 60) as session:
        if not cancel_on_logout:  # the switch is what fails the read
            batches = session.result_batches(query_id, "the query")
            assert sum(batch.rowcount for batch in batches) == 20640
            return
        with pytest.raises(UserError) as refused:
            session.result_batches(query_id, "the query")
    assert front.counters()["cancelled"] == [query_id]
    assert "SQL execution canceled" in str(refused.value)
    assert "cancelled the statement (a logout of the session" in str(refused.value)


# -- row 9: result format --------------------------------------------------------------------


def test_the_jobs_sessions_get_arrow_when_the_account_default_is_json(
    jobs: JobRunner, standins: StandIns, front, housing_params: dict
) -> None:
    front.settings(account_result_format="JSON")
    with standins.connect() as connection:  # a session that does not ask gets JSON
        cursor = connection.cursor()
        assert cursor.execute(f"SELECT COUNT(*) FROM {HOUSING_TABLE}").fetchall() == [(20640,)]
    assert front.counters()["json_results"] == 1
    run = jobs.run({**housing_params, "num_round": 3}, hosts=2)
    for host in run.hosts:
        assert host.returncode == 0, host.output[-3000:]
    assert front.counters()["json_results"] == 1  # none for the job: it asks for ARROW


def test_a_json_result_reaching_the_reader_is_refused_by_name(standins: StandIns, front) -> None:
    env = _environment(standins)
    with open_session(env, 60, keeps_queries=True) as session:
        query_id = session.submit(f"SELECT * FROM {HOUSING_TABLE}", "the query")
    with standins.connect({"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "JSON"}) as connection:
        session = SnowflakeSession(connection, env, 60)
        if CONNECTOR_MAJOR >= 5:  # 5.x's core turns a JSON result into Arrow itself
            batches = session.result_batches(query_id, "the query")
            assert sum(batch.to_arrow().num_rows for batch in batches) == 20640
        else:
            with pytest.raises(UserError, match="as JSONResultBatch, not Arrow"):
                session.result_batches(query_id, "the query")
    assert front.counters()["json_results"] >= 1

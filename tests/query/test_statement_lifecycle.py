"""Statements that take a while, as Snowflake runs them (contract rows 8, 23-27 of
docs/snowflake-contract.md): a statement chosen by its text stays QUEUED, then RUNNING; a read
of its result meanwhile answers "in progress"; a synchronous one is answered 333333 and polled
by the connector; the status route knows nothing of a query in its first moments.

Each test sets the front's ``slow_statements`` (and friends), runs the statement through the
real connector (5.x in the project's venv, 4.x in ``.work/venv-connector4``) and puts the front
back.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest
import snowflake.connector
from support.jobs import JobRunner, wait_until
from support.standins import HOUSING_TABLE, TEST_PASSWORD, TEST_USER, StandIns

from snowflake_xgb.credentials.snowflake_environment import SnowflakeEnvironment
from snowflake_xgb.errors import UserError
from snowflake_xgb.query import snowflake_session
from snowflake_xgb.query.snowflake_session import cancelled_on_failure, open_session

pytestmark = pytest.mark.timeout(120)

CONNECTOR_MAJOR = int(snowflake.connector.__version__.split(".")[0])
COUNT_SQL = f"SELECT COUNT(*) AS N FROM {HOUSING_TABLE} WHERE MEDHOUSEVAL >= 0"


def environment(standins: StandIns, **changes: str) -> SnowflakeEnvironment:
    environ = {**standins.job_environ(), "SNOWFLAKE_USER": TEST_USER, **changes}
    return SnowflakeEnvironment.from_environ({**environ, "SNOWFLAKE_PASSWORD": TEST_PASSWORD})


def test_a_slow_synchronous_statement_is_polled_until_it_is_done(standins: StandIns, front) -> None:
    front.settings(
        slow_statements=[{"match": r"MEDHOUSEVAL\s*>=", "queued_seconds": 1, "running_seconds": 2}],
        in_progress_hold_seconds=0.5,
    )
    started = time.monotonic()
    assert standins.execute(COUNT_SQL) == [(20640,)]
    assert time.monotonic() - started >= 3  # it was answered only once done
    answers = front.counters()["in_progress_answers"]
    assert answers.get("333333", 0) >= 2  # the submission and at least one poll of its URL
    assert "333334" not in answers


def test_a_slow_asynchronous_statement_is_queued_then_running_then_done(
    standins: StandIns, front
) -> None:
    front.settings(
        slow_statements=[{"match": "MEDHOUSEVAL >=", "queued_seconds": 1, "running_seconds": 1}],
    )
    with standins.connect() as connection:
        cursor = connection.cursor()
        cursor.execute_async(COUNT_SQL)
        query_id = cursor.sfqid
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = connection.get_query_status(query_id).name
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == "SUCCESS":
                break
            time.sleep(0.2)
        assert seen == ["QUEUED", "RUNNING", "SUCCESS"]
        cursor.get_results_from_sfqid(query_id)
        assert cursor.fetchall() == [(20640,)]


def test_an_unmatched_statement_is_not_slowed(standins: StandIns, front) -> None:
    front.settings(slow_statements=[{"match": "NO SUCH TEXT", "running_seconds": 60}])
    assert standins.execute(COUNT_SQL) == [(20640,)]
    assert front.counters()["in_progress_answers"] == {}


def test_the_status_route_knows_nothing_of_a_query_in_its_first_moments(
    standins: StandIns, front
) -> None:
    front.settings(no_status_seconds=1, no_status_answer="EMPTY", running_seconds=0)
    with standins.connect() as connection:
        cursor = connection.cursor()
        cursor.execute_async(COUNT_SQL)
        assert connection.get_query_status(cursor.sfqid).name == "NO_DATA"
        time.sleep(1.2)
        assert connection.get_query_status(cursor.sfqid).name == "SUCCESS"


def test_bad_slow_statement_settings_are_refused(standins: StandIns, front) -> None:
    with pytest.raises(Exception, match="400"):
        front.settings(slow_statements=[{"match": "(unclosed"}])
    with pytest.raises(Exception, match="400"):
        front.settings(no_status_answer="MAYBE")


# -- defect 1: every statement is bounded by query_timeout_seconds, on both lines -------------


def test_a_statement_outlasting_the_network_timeout_but_not_the_query_timeout_completes(
    standins: StandIns, front, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snowflake_session, "NETWORK_TIMEOUT_SECONDS", 2)
    front.settings(
        slow_statements=[{"match": r"MEDHOUSEVAL\s*>=", "running_seconds": 5}],
        in_progress_hold_seconds=1,
    )
    with open_session(environment(standins), query_timeout=30) as session:
        assert session.fetch(COUNT_SQL, "the count") == [(20640,)]


def test_a_statement_outlasting_query_timeout_seconds_fails_naming_that_setting(
    standins: StandIns, front
) -> None:
    front.settings(
        slow_statements=[{"match": r"MEDHOUSEVAL\s*>=", "running_seconds": 30}],
        in_progress_hold_seconds=1,
    )
    started = time.monotonic()
    with (
        open_session(environment(standins), query_timeout=2) as session,
        pytest.raises(UserError, match=r"longer than query_timeout_seconds \(2s\)") as error,
    ):
        session.fetch(COUNT_SQL, "the count")
    assert time.monotonic() - started < 25  # Snowflake's own timeout ended it, not the run
    assert "Statement reached its statement or warehouse timeout of 2" in str(error.value)


# -- defect 2: a resume while the first attempt's query still runs ----------------------------


def test_a_recorded_query_still_running_is_waited_for_before_its_result_is_read(
    standins: StandIns, front
) -> None:
    front.settings(
        slow_statements=[{"match": r"MEDHOUSEVAL\s*>=", "queued_seconds": 1, "running_seconds": 2}],
        in_progress_hold_seconds=0.2,
    )
    env = environment(standins)
    with open_session(env, 60, keeps_queries=True) as first_attempt:
        query_id = first_attempt.submit(COUNT_SQL, "the count")
    with open_session(env, 60) as resumed:
        assert resumed.holds_result(query_id)
        (batch,) = resumed.result_batches(query_id, "the count")
        assert batch.to_arrow().column(0).to_pylist() == [20640]
    assert front.counters()["status_calls"][query_id] >= 2  # it waited on the status


# -- defect 3: a failed job cancels the statements it left running -----------------------------


def test_a_failure_cancels_the_queries_still_running_and_stays_the_error(
    standins: StandIns, front
) -> None:
    front.settings(slow_statements=[{"match": r"MEDHOUSEVAL\s*>=", "running_seconds": 60}])
    env = environment(standins)
    with open_session(env, 60, keeps_queries=True) as session:
        running = session.submit(COUNT_SQL, "the count")
        done = session.submit(f"SELECT COUNT(*) FROM {HOUSING_TABLE}", "another count")
        session.wait_for(done, "another count", 30)
    with (
        pytest.raises(RuntimeError, match="the job's own failure"),
        cancelled_on_failure(env, 60, {"training": running, "validation": done}),
    ):
        raise RuntimeError("the job's own failure")
    assert front.counters()["cancelled"] == [running]
    with open_session(env, 60) as session:
        with pytest.raises(UserError, match="SQL execution canceled"):
            session.wait_for(running, "the count", 10)
        assert not session.holds_result(running)  # a resume submits its queries again


def test_cancelling_never_hides_the_failure_when_snowflake_cannot_be_reached(
    standins: StandIns, front
) -> None:
    unreachable = environment(standins, SNOWFLAKE_PORT="9", SNOWFLAKE_LOGIN_TIMEOUT="2")
    with (
        pytest.raises(KeyError, match="original"),
        cancelled_on_failure(unreachable, 60, {"training": str(uuid.uuid4())}),
    ):
        raise KeyError("original")


# -- defect 8: no status yet, and a status that never changes ---------------------------------


@pytest.mark.parametrize("answer", ["EMPTY", "NO_DATA"])
def test_no_status_in_a_querys_first_moments_is_waited_through(
    standins: StandIns, front, answer: str
) -> None:
    front.settings(no_status_seconds=2, no_status_answer=answer)
    with open_session(environment(standins), 60, keeps_queries=True) as session:
        query_id = session.submit(COUNT_SQL, "the count")
        (batch,) = session.result_batches(query_id, "the count")
    assert batch.to_arrow().column(0).to_pylist() == [20640]


@pytest.mark.parametrize(
    ("settings", "seen"),
    [
        ({"no_status_seconds": 600}, r"Snowflake had no status for it \(NO_DATA\)"),
        ({"running_seconds": 600}, "its status was still RUNNING"),
    ],
)
def test_a_status_that_never_changes_ends_the_wait_saying_what_was_seen(
    standins: StandIns, front, settings: dict, seen: str
) -> None:
    front.settings(**settings)
    with open_session(environment(standins), 60, keeps_queries=True) as session:
        query_id = session.submit(COUNT_SQL, "the count")
        with pytest.raises(UserError, match=rf"within 2s \({seen}\)"):
            session.wait_for(query_id, "the count", timeout=2)


def test_a_job_stopped_while_its_query_runs_cancels_it(
    jobs: JobRunner, front, housing_params: dict
) -> None:
    """SIGTERM (a spot interruption, StopTrainingJob) while the hosts wait for the training
    query: the job stops as it says, and the query does not run on, costing credits."""
    front.settings(slow_statements=[{"match": "AS source_rows", "running_seconds": 120}])
    params = {k: v for k, v in housing_params.items() if k != "validation_fraction"}
    run, processes = jobs.start({**params, "num_round": 3})
    # Once the host polls the query's status it waits in the loading step (a signal during the
    # planning session's close may land in a finalizer, where Python ignores what it raises).
    wait_until(lambda: front.counters()["status_calls"], processes, "a status poll", 60)
    processes[0].send_signal(signal.SIGTERM)
    run = jobs.wait(run, processes, timeout=60)
    host = run.coordinator
    assert host.returncode == 1 and "SIGTERM" in host.failure, host.output[-2000:]
    (cancelled,) = front.counters()["cancelled"]
    assert cancelled in host.output  # the training query, named in the job's log
    assert not (host.model_dir / "xgboost-model").exists()

"""Statements that take a while, as Snowflake runs them (contract rows 8, 23-27 of
docs/snowflake-contract.md): a statement chosen by its text stays QUEUED, then RUNNING; a read
of its result meanwhile answers "in progress"; a synchronous one is answered 333333 and polled
by the connector; the status route knows nothing of a query in its first moments.

Each test sets the front's ``slow_statements`` (and friends), runs the statement through the
real connector (5.x in the project's venv, 4.x in ``.work/venv-connector4``) and puts the front
back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import snowflake.connector
from support.standins import HOUSING_TABLE, TEST_PASSWORD, TEST_USER, StandIns

from snowflake_xgb.credentials.snowflake_environment import SnowflakeEnvironment

pytestmark = pytest.mark.timeout(120)

CONNECTOR_MAJOR = int(snowflake.connector.__version__.split(".")[0])
COUNT_SQL = f"SELECT COUNT(*) AS N FROM {HOUSING_TABLE} WHERE MEDHOUSEVAL >= 0"


@pytest.fixture
def front(standins: StandIns) -> Iterator:
    """The Snowflake stand-in's front, put back to its start after the test."""
    control = standins.front
    control.reset()
    yield control
    control.reset()


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

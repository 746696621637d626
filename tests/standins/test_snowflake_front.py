"""The Snowflake stand-in's front (``local_test/snowflake_front.py``): its switches, its routes,
and many requests at once, as when several hosts of a job read the same results.

Each request runs on a thread of its own; what the front keeps between requests (sessions, the
tables holding a stored result for ``RESULT_SCAN``, each result's Parquet copy) must come out
the same as if they had come one by one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from snowflake_front import FrontControl, FrontHandler, FrontSettings, route
from support.standins import HOUSING_TABLE, StandIns

pytestmark = pytest.mark.timeout(300)

AT_ONCE = 8


def test_every_switch_belongs_to_one_group() -> None:
    """Tests set switches by name, in one flat object: a name in two groups would set both."""
    settings = FrontSettings()
    names = [
        name
        for group in (settings.sessions, settings.queries, settings.results)
        for name in group.to_json()
    ]
    assert len(names) == len(set(names))
    assert set(names) == set(settings.to_json())


def test_switches_set_by_name_reach_their_group_and_come_back_as_json() -> None:
    changes = {
        "account_result_format": "json",
        "slow_statements": [{"match": "GROUP BY", "running_seconds": 2}],
        "table_changes": [{"before": "HASH(", "sql": "DELETE FROM T"}],
        "fail_times": {"20": 2},
        "chunk_rows": 300,
    }
    settings = FrontSettings().updated(changes)
    assert settings.sessions.account_result_format == "JSON"
    assert settings.queries.slow_statement("SELECT G FROM T GROUP BY G").running_seconds == 2
    assert settings.queries.table_changes[0].nth == 1
    assert settings.results.fail_times == {20: 2}
    assert settings.results.chunk_rows == 300
    assert FrontSettings().updated(json.loads(json.dumps(settings.to_json()))) == settings


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"chunk_size": 10}, r"unknown settings \['chunk_size'\]"),
        ({"no_status_answer": "MAYBE"}, "no_status_answer must be one of"),
        ({"slow_batches": [1, 2, 3]}, r"slow_batches is \[first, last\]"),
        ({"slow_statements": [{"match": "(unclosed"}]}, "slow_statements: '\\(unclosed'"),
    ],
)
def test_a_bad_switch_is_refused_naming_it(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrontSettings().updated(changes)


@pytest.mark.parametrize(
    "method, path, answer, arguments",
    [
        ("POST", "/queries/v1/query-request", FrontHandler.query, {}),
        ("POST", "/queries/v1/abort-request", FrontHandler.abort_by_request_id, {}),
        ("POST", "/queries/01b2-c3/abort-request", FrontHandler.abort, {"query_id": "01b2-c3"}),
        ("GET", "/queries/01b2-c3/result", FrontHandler.result_by_id, {"query_id": "01b2-c3"}),
        ("GET", "/monitoring/queries//01b2-c3", FrontHandler.monitoring, {"query_id": "01b2-c3"}),
        ("GET", "/results/01b2-c3/7", FrontHandler.chunk, {"query_id": "01b2-c3", "batch": "7"}),
        ("POST", "/session", FrontHandler.logout, {}),
        ("POST", "/session/heartbeat", FrontHandler.forward, {}),
        ("GET", "/queries/v1/query-request", FrontHandler.forward, {}),
        ("GET", "/__front/counters", FrontHandler.control, {"name": "counters"}),
    ],
)
def test_each_request_reaches_the_answer_its_route_names(
    method: str, path: str, answer: object, arguments: dict
) -> None:
    assert route(method, path) == (answer, arguments)


@pytest.fixture
def front(standins: StandIns) -> Iterator[FrontControl]:
    control = standins.front
    control.reset()
    yield control
    control.reset()


def test_sessions_signing_in_at_once_each_get_their_own_number(
    standins: StandIns, front: FrontControl
) -> None:
    logins_before = front.counters()["logins"]

    def sign_in(_: int) -> int:
        with standins.connect() as connection:
            return connection.session_id

    with ThreadPoolExecutor(AT_ONCE) as pool:
        session_ids = list(pool.map(sign_in, range(AT_ONCE)))
    assert len(set(session_ids)) == AT_ONCE
    assert front.counters()["logins"] == logins_before + AT_ONCE


def test_statements_reading_one_stored_result_at_once_all_read_every_row(
    standins: StandIns, front: FrontControl
) -> None:
    """``TABLE(RESULT_SCAN('<id>'))`` inside a statement makes the front copy the held result
    into a table of its own, once; statements that arrive together all read that copy."""
    with standins.connect() as connection:
        cursor = connection.cursor().execute(
            f"SELECT MEDINC FROM {HOUSING_TABLE} WHERE HOUSEAGE < 20"
        )
        rows, query_id = len(cursor.fetchall()), cursor.sfqid

    together = threading.Barrier(AT_ONCE, timeout=120)

    def count(_: int) -> int:
        scan = f"SELECT COUNT(*) FROM TABLE(RESULT_SCAN('{query_id}')) WHERE MEDINC IS NOT NULL"
        with standins.connect() as connection:
            cursor = connection.cursor()
            together.wait()  # every session signed in: the statements arrive together
            return cursor.execute(scan).fetchone()[0]

    with ThreadPoolExecutor(AT_ONCE) as pool:
        counts = list(pool.map(count, range(AT_ONCE)))
    assert rows > 0
    assert counts == [rows] * AT_ONCE

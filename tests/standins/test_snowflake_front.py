"""The Snowflake stand-in's front (``local_test/snowflake_front.py``) answering many requests at
once, as it does when several hosts of a job read the same results.

Each request runs on a thread of its own; what the front keeps between requests (sessions, the
tables holding a stored result for ``RESULT_SCAN``, each result's Parquet copy) must come out
the same as if they had come one by one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from snowflake_front import FrontControl
from support.standins import HOUSING_TABLE, StandIns

pytestmark = pytest.mark.timeout(300)

AT_ONCE = 8


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

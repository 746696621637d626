"""An in-memory stand-in for the connector calls ``SnowflakeSession`` makes, for fast unit tests.

Only the public connector API the session uses: ``connection.cursor()`` (``describe``,
``execute`` + ``fetchall``, ``execute_async`` + ``sfqid``, ``get_result_batches``, ``close``),
``get_query_status_throw_if_error``, ``is_still_running`` and ``close``. Results are stored by
query id; a statement that reopens one (``RESULT_SCAN('<id>')``) hands out its batches. What
Snowflake can do is switchable: a statement it refuses with a connector error (``refuse``), a
result that is gone (``expire``), a query still running for a few status polls (``running``).
Every statement is recorded in order (``statements``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from snowflake.connector.cursor import ResultMetadata
from snowflake.connector.errors import Error, ProgrammingError

_REOPEN = re.compile(r"RESULT_SCAN\('([^']*)'\)")
RUNNING, SUCCESS = "RUNNING", "SUCCESS"


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection
        self._rows: list[tuple] = []
        self._batches: list[Any] = []
        self.sfqid: str | None = None
        self.closed = False

    def describe(self, sql: str) -> list[ResultMetadata]:
        self._connection.run(sql)
        return list(self._connection.described)

    def execute(self, sql: str) -> FakeCursor:
        self._connection.run(sql)
        self._rows = self._connection.answers.get(sql, [])
        reopened = _REOPEN.search(sql)
        if reopened:
            self._batches = self._connection.reopen(reopened.group(1))
        return self

    def execute_async(self, sql: str) -> None:
        self._connection.run(sql)
        self.sfqid = self._connection.store([])

    def fetchall(self) -> list[tuple]:
        return self._rows

    def get_result_batches(self) -> list[Any]:
        return self._batches

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.answers: dict[str, list[tuple]] = {}  # fetchall's rows, by the statement's SQL
        self.described: list[ResultMetadata] = []
        self.results: dict[str, list[Any]] = {}  # stored results' batches, by query id
        self.running: dict[str, int] = {}  # status polls a query is still running for
        self.failed: dict[str, Error] = {}  # a query that failed, and the connector's error
        self.cursors: list[FakeCursor] = []
        self.closed = False
        self._refused: dict[str, Error] = {}
        self._gone: set[str] = set()

    def refuse(self, fragment: str, error: Error) -> None:
        """Every statement containing ``fragment`` raises ``error``."""
        self._refused[fragment] = error

    def expire(self, query_id: str) -> None:
        self._gone.add(query_id)

    def store(self, batches: list[Any]) -> str:
        query_id = str(uuid.uuid4())
        self.results[query_id] = batches
        return query_id

    def run(self, sql: str) -> None:
        self.statements.append(sql)
        for fragment, error in self._refused.items():
            if fragment in sql:
                raise error

    def reopen(self, query_id: str) -> list[Any]:
        if query_id not in self.results or query_id in self._gone:
            raise ProgrammingError(msg=f"Result for query {query_id} has expired", errno=709)
        return list(self.results[query_id])

    # -- the connector's surface ------------------------------------------------------------
    def cursor(self) -> FakeCursor:
        self.cursors.append(FakeCursor(self))
        return self.cursors[-1]

    def get_query_status_throw_if_error(self, query_id: str) -> str:
        if query_id in self.failed:
            raise self.failed[query_id]
        if self.running.get(query_id, 0) > 0:
            self.running[query_id] -= 1
            return RUNNING
        return SUCCESS

    def is_still_running(self, status: str) -> bool:
        return status == RUNNING

    def close(self) -> None:
        self.closed = True

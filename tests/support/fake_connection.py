"""An in-memory stand-in for the connector calls ``SnowflakeSession`` makes, for fast unit tests.

Only the public connector API the session uses (:data:`CONNECTION_SURFACE`,
:data:`CURSOR_SURFACE`; ``tests/query/test_snowflake_session.py`` checks the session calls
nothing else and the real connector has them all): ``connection.cursor()`` (``describe``,
``execute(sql, timeout=)`` + ``fetchall``, ``execute_async`` + ``sfqid``, ``query_result`` +
``get_result_batches``, ``close``), ``get_query_status`` (and ``_throw_if_error``),
``is_still_running`` and ``close``. Results
are stored by query id and read back by id (``query_result``: no statement runs). What Snowflake
can do is switchable: a statement it refuses with a connector error (``refuse``), a result that
is gone after 24 hours (``expire``: error 000710), a query that failed (``failed``), and the
statuses a query reports before SUCCESS (``statuses_before_success``, or
``statuses_of_submitted`` for every statement submitted from then on; a name the connector's
``QueryStatus`` does not know raises ``KeyError``, as connector 4.x does). Every statement is
recorded in order (``statements``), every read by id (``result_reads``) and every status poll
(``status_polls``).
"""

from __future__ import annotations

import uuid
from typing import Any

from snowflake.connector import SnowflakeConnection
from snowflake.connector.constants import QueryStatus
from snowflake.connector.cursor import ResultMetadata
from snowflake.connector.errors import Error, ProgrammingError

CONNECTION_SURFACE = (
    "cursor",
    "get_query_status",
    "get_query_status_throw_if_error",
    "is_still_running",
    "close",
)
CURSOR_SURFACE = (
    "describe",
    "execute",
    "fetchall",
    "execute_async",
    "sfqid",
    "query_result",
    "get_result_batches",
    "close",
)
RESULT_EXPIRED, NOT_FOUND = 710, 709  # Snowflake's codes (docs/snowflake-contract.md, row 5)


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection
        self._rows: list[tuple] = []
        self._batches: list[Any] = []
        self.sfqid: str | None = None
        self.timeout: float | None = None  # what ``execute`` was given
        self.closed = False

    def describe(self, sql: str) -> list[ResultMetadata]:
        self._connection.run(sql)
        return list(self._connection.described)

    def execute(self, sql: str, timeout: float | None = None) -> FakeCursor:
        self.timeout = timeout
        self._connection.run(sql)
        self._rows = self._connection.answers.get(sql, [])
        self._batches = []
        return self

    def fetchall(self) -> list[tuple]:
        return self._rows

    def execute_async(self, sql: str) -> dict[str, str | None]:
        self.sfqid = self._connection.submit(sql)
        return {"queryId": self.sfqid}

    def query_result(self, query_id: str) -> FakeCursor:
        self._rows, self._batches = [], self._connection.read_result(query_id)
        return self

    def get_result_batches(self) -> list[Any]:
        return list(self._batches)

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.result_reads: list[str] = []  # query ids read by ``query_result``, in order
        self.status_polls: list[str] = []
        self.answers: dict[str, list[tuple]] = {}  # fetchall's rows, by the statement's SQL
        self.described: list[ResultMetadata] = []
        self.results: dict[str, list[Any]] = {}  # stored results' batches, by query id
        # What each query reports before SUCCESS, in order: QueryStatus members, or names the
        # connector does not know.
        self.statuses_before_success: dict[str, list[QueryStatus | str]] = {}
        self.statuses_of_submitted: list[QueryStatus | str] = []  # of each ``execute_async``
        self.failed: dict[str, Error] = {}  # a query that failed, and the connector's error
        self.cursors: list[FakeCursor] = []
        self.closed = False
        self._refused: dict[str, Error] = {}
        self._gone: set[str] = set()

    def refuse(self, fragment: str, error: Error) -> None:
        """Every statement containing ``fragment`` raises ``error``."""
        self._refused[fragment] = error

    def expire(self, query_id: str) -> None:
        """Snowflake no longer holds this result (24 hours have passed)."""
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

    def submit(self, sql: str) -> str:
        """Start ``sql`` asynchronously: its query id, reporting ``statuses_of_submitted`` first."""
        self.run(sql)
        query_id = self.store([])
        self.statuses_before_success[query_id] = list(self.statuses_of_submitted)
        return query_id

    def read_result(self, query_id: str) -> list[Any]:
        """The stored result of ``query_id``, as Snowflake answers a read by id."""
        self.result_reads.append(query_id)
        if query_id in self._gone:
            message = f"Result for query {query_id} has expired"
            raise ProgrammingError(msg=message, errno=RESULT_EXPIRED)
        if query_id not in self.results:
            raise ProgrammingError(msg=f"Statement {query_id} not found", errno=NOT_FOUND)
        if self.statuses_before_success.get(query_id):  # Snowflake: "query in progress"
            raise ProgrammingError(msg=f"Query {query_id} is still running", errno=333333)
        return list(self.results[query_id])

    # -- the connector's surface ------------------------------------------------------------
    def cursor(self) -> FakeCursor:
        self.cursors.append(FakeCursor(self))
        return self.cursors[-1]

    def get_query_status(self, query_id: str) -> QueryStatus:
        """The status, without raising for a failed query (connector: the same poll)."""
        if query_id in self.failed:
            self.status_polls.append(query_id)
            return QueryStatus.FAILED_WITH_ERROR
        return self.get_query_status_throw_if_error(query_id)

    is_still_running = staticmethod(SnowflakeConnection.is_still_running)

    def get_query_status_throw_if_error(self, query_id: str) -> QueryStatus:
        self.status_polls.append(query_id)
        if query_id in self.failed:
            raise self.failed[query_id]
        pending = self.statuses_before_success.get(query_id)
        if not pending:
            return QueryStatus.SUCCESS
        status = pending.pop(0)
        if isinstance(status, str):
            raise KeyError(status)  # connector 4.x: QueryStatus[name] for a name it lacks
        return status

    def close(self) -> None:
        self.closed = True

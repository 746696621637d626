"""An in-memory stand-in for ``SnowflakeSession``'s public methods, for fast unit tests.

``query_plan`` and ``host_data`` talk to Snowflake only through a session's ``check_context``,
``describe``, ``fetch``, ``current_time``, ``holds_result``, ``submit``, ``run`` and
``result_batches`` (:data:`SURFACE`; ``tests/query/test_snowflake_session.py`` checks that the
real session still has them, with the same parameters). This fake knows no SQL: every statement
is described with the same columns, a small statement (``fetch``) is answered by what it reads
(its ``what``), and every submitted (or run) statement gets a new Snowflake-shaped query id
whose stored result is an Arrow table, handed out in chunks. A statement that reads a stored
result (``RESULT_SCAN('<id>')``) fails, as in Snowflake, once that result is gone. It records
every call, so a test can say which statements ran and which results were read. Two things
real Snowflake does to the code are switchable: a stored result that is gone (``expire``:
Snowflake keeps results for 24 hours) and a statement it refuses (``refuse``: e.g. Time Travel
past the table's retention). Each host opens its own session: ``another_session`` is one more
session on the same stored results, as every session of the job's user sees them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from snowflake_xgb.errors import UserError
from snowflake_xgb.query.snowflake_session import Column

PLANNING = (
    "check_context",
    "describe",
    "fetch",
    "current_time",
    "holds_result",
    "submit",
    "run",
    "cancel_running",
)
SURFACE = (*PLANNING, "result_batches")  # what query_plan calls, and what host_data calls
NOW = "2026-12-02T09:00:00.000000+00:00"  # Snowflake's clock, as current_time() answers
_STORED_RESULT = re.compile(r"RESULT_SCAN\('([^']*)'\)")


@dataclass
class FakeBatch:
    """One chunk of a stored result: what a download needs of the connector's ``ResultBatch``."""

    table: pa.Table
    downloads: int = 0

    @property
    def rowcount(self) -> int:
        return self.table.num_rows

    def to_arrow(self) -> pa.Table:
        self.downloads += 1
        return self.table


@dataclass(frozen=True)
class Call:
    """One call of a session method: the SQL or the query id it got, and what it was for."""

    method: str
    argument: str = ""
    what: str = ""


class FakeSession:
    """Answers ``query_plan`` and ``host_data`` as Snowflake would, from what a test gives it.

    ``columns``: how every statement is described. ``rows``: the stored result of each
    submitted statement (a table, or a function of the statement's SQL). ``chunk_rows``: the
    rows per result batch.
    """

    def __init__(
        self,
        columns: list[Column] | None = None,
        rows: pa.Table | Callable[[str], pa.Table] | None = None,
        chunk_rows: int = 100,
    ) -> None:
        self.columns = list(columns or [])
        self._rows = rows
        self.chunk_rows = chunk_rows
        self.query_timeout = 3600.0  # the bound on each statement (query_timeout_seconds)
        self.answers: dict[str, list[tuple]] = {}  # fetch's rows, by its ``what``
        self.results: dict[str, pa.Table] = {}  # stored results, by query id
        self.submitted_sql: dict[str, str] = {}  # each submitted or run statement, by query id
        self.submitted: list[str] = []  # this session's submissions (the real one's list)
        self.now = NOW
        self.calls: list[Call] = []
        self.handed_out: list[FakeBatch] = []  # every result batch listed, downloaded or not
        self._gone: set[str] = set()
        self._refused: dict[str, str] = {}

    def another_session(self, chunk_rows: int | None = None) -> FakeSession:
        """Another host's session: the same stored results (and what is gone), its own calls.

        ``chunk_rows`` other than this session's hands this host a chunk list Snowflake would
        not (every session reads one stored result with one chunk list).
        """
        other = FakeSession(self.columns, self._rows, chunk_rows or self.chunk_rows)
        other.results, other.submitted_sql = self.results, self.submitted_sql
        other._gone = self._gone
        return other

    # -- what a test switches -------------------------------------------------------------
    def store(self, rows: pa.Table) -> str:
        """A result an earlier attempt (or the coordinator) left: its new query id."""
        query_id = str(uuid.uuid4())
        self.results[query_id] = rows
        return query_id

    def expire(self, *query_ids: str) -> None:
        """Snowflake no longer holds these results (24 hours have passed)."""
        self._gone.update(query_ids)

    def refuse(self, fragment: str, message: str) -> None:
        """Snowflake refuses every statement containing ``fragment``, saying ``message``."""
        self._refused[fragment] = message

    # -- what a test reads ----------------------------------------------------------------
    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    # -- the session's surface ------------------------------------------------------------
    def check_context(self) -> None:
        self.calls.append(Call("check_context"))

    def describe(self, sql: str, what: str) -> list[Column]:
        self._run("describe", sql, what)
        return list(self.columns)

    def fetch(self, sql: str, what: str) -> list[tuple]:
        self._run("fetch", sql, what)
        if what not in self.answers:
            raise AssertionError(f"the fake session has no answer for {what}: {sql}")
        return self.answers[what]

    def current_time(self) -> str:
        self.calls.append(Call("current_time"))
        return self.now

    def holds_result(self, query_id: str) -> bool:
        self.calls.append(Call("holds_result", query_id))
        return query_id in self.results and query_id not in self._gone

    def submit(self, sql: str, what: str) -> str:
        self._run("submit", sql, what)
        return self._start(sql)

    def run(self, sql: str, what: str) -> str:
        """``submit`` and wait: the fake's statements are done at once."""
        self._run("run", sql, what)
        return self._start(sql)

    def cancel_running(self, query_ids: list[str]) -> list[str]:
        """The fake's statements are done at once: nothing is left running to cancel."""
        self.calls.append(Call("cancel_running", ",".join(query_ids)))
        return []

    def result_batches(self, query_id: str, what: str) -> list[FakeBatch]:
        self.calls.append(Call("result_batches", query_id, what))
        if query_id not in self.results or query_id in self._gone:
            raise UserError(
                f"Snowflake could not run reading the result of {what}: Result for query "
                f"{query_id} has expired"
            )
        table = self.results[query_id]
        starts = range(0, table.num_rows, self.chunk_rows)
        batches = [FakeBatch(table.slice(start, self.chunk_rows)) for start in starts]
        self.handed_out.extend(batches)
        return batches

    def _start(self, sql: str) -> str:
        rows = self._rows(sql) if callable(self._rows) else self._rows
        query_id = self.store(rows if rows is not None else pa.table({}))
        self.submitted_sql[query_id] = sql
        self.submitted.append(query_id)
        return query_id

    def _run(self, method: str, sql: str, what: str) -> None:
        self.calls.append(Call(method, sql, what))
        for fragment, message in self._refused.items():
            if fragment in sql:
                raise UserError(f"Snowflake could not run {what}: {message}")
        for query_id in _STORED_RESULT.findall(sql):
            if query_id not in self.results or query_id in self._gone:
                raise UserError(
                    f"Snowflake could not run {what}: Result for query {query_id} has expired"
                )

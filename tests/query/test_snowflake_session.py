"""The Snowflake session over a fake connector: which statements it runs, how long it waits and
what a user reads when Snowflake refuses.

No servers: ``support.fake_connection`` stands for the connector calls the session makes. The
same session runs against the stand-ins (the real connector over HTTP) in every job test.
"""

from __future__ import annotations

import inspect
import re
import time

import pytest
import snowflake.connector
from snowflake.connector.constants import QueryStatus
from snowflake.connector.cursor import ResultMetadata, SnowflakeCursor
from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError
from support import fake_connection, fake_session
from support.fake_connection import FakeConnection

from snowflake_xgb.credentials.snowflake_environment import (
    SnowflakeCredentials,
    SnowflakeEnvironment,
)
from snowflake_xgb.errors import UserError
from snowflake_xgb.loading import host_data
from snowflake_xgb.query import query_plan, snowflake_session
from snowflake_xgb.query.snowflake_session import (
    RESULT_WAIT_MARGIN_SECONDS,
    Column,
    SnowflakeSession,
    open_session,
)

PASSWORD = "pw-that-must-not-leak"
ENV = SnowflakeEnvironment(SnowflakeCredentials("ALICE", password=PASSWORD), account="acme-x")


def _session(connection: FakeConnection, **context: str) -> SnowflakeSession:
    env = SnowflakeEnvironment(ENV.credentials, account="acme-x", **context)
    return SnowflakeSession(connection, env, query_timeout=60)


def test_the_fake_session_offers_the_real_sessions_methods() -> None:
    """``support.fake_session`` stands for this class in the plan's and the loading's tests:
    it has every method they call, with the real one's parameters."""
    called = {
        name
        for module in (query_plan, host_data)
        for name in re.findall(r"\bsession\.(\w+)\(", inspect.getsource(module))
    }
    assert called == set(fake_session.SURFACE)
    for name in fake_session.SURFACE:
        real = inspect.signature(getattr(SnowflakeSession, name))
        fake = inspect.signature(getattr(fake_session.FakeSession, name))
        assert list(real.parameters) == list(fake.parameters), name


def test_the_fake_connection_offers_what_the_session_calls_of_the_connector() -> None:
    """``support.fake_connection`` stands for the connector here: the session calls nothing of
    a connection or cursor that the fake lacks, and the real connector has all of it."""
    source = inspect.getsource(SnowflakeSession)
    on_connection = set(re.findall(r"self\._connection\.(\w+)\(", source))
    on_cursor = set(re.findall(r"cursor(?:\(\))?\.(\w+)", source))
    on_cursor |= set(re.findall(r"\)\.(fetch\w+)\(", source))  # execute(...).fetchall()
    assert on_connection == set(fake_connection.CONNECTION_SURFACE)
    assert on_cursor == set(fake_connection.CURSOR_SURFACE)
    for name in fake_connection.CONNECTION_SURFACE:
        assert hasattr(snowflake.connector.SnowflakeConnection, name), name
        assert hasattr(FakeConnection, name), name
    for name in fake_connection.CURSOR_SURFACE:
        assert hasattr(SnowflakeCursor, name), name
        assert hasattr(fake_connection.FakeCursor(FakeConnection()), name), name


def test_no_database_configured_means_no_check() -> None:
    connection = FakeConnection()
    _session(connection).check_context()
    assert connection.statements == []


def test_the_configured_database_is_matched_by_snowflakes_name_rules() -> None:
    connection = FakeConnection()
    connection.answers["SELECT CURRENT_DATABASE()"] = [("DEMO",)]
    _session(connection, database="demo").check_context()  # unquoted: any case
    assert connection.statements == ["SELECT CURRENT_DATABASE()"]
    with pytest.raises(UserError, match='Snowflake database "demo" does not exist'):
        _session(connection, database='"demo"').check_context()  # quoted: exactly


def test_a_database_the_role_cannot_use_is_named_with_what_to_check() -> None:
    connection = FakeConnection()
    connection.answers["SELECT CURRENT_DATABASE()"] = [(None,)]  # Snowflake's answer then
    with pytest.raises(UserError) as raised:
        _session(connection, database="SALES").check_context()
    assert str(raised.value) == (
        "Snowflake database SALES does not exist or the role may not use it: check "
        "SNOWFLAKE_DATABASE and SNOWFLAKE_ROLE."
    )


def test_a_small_statement_may_run_as_long_as_the_query_timeout() -> None:
    """Connector 4.x cancels a statement after network_timeout (300 s) unless ``execute`` is
    given a timeout: the session passes query_timeout_seconds and the margin that lets
    Snowflake's own timeout message arrive first."""
    connection = FakeConnection()
    connection.answers["SELECT COUNT(*) FROM T"] = [(42,)]
    assert _session(connection).fetch("SELECT COUNT(*) FROM T", "the row count") == [(42,)]
    assert [cursor.timeout for cursor in connection.cursors] == [60 + RESULT_WAIT_MARGIN_SECONDS]


def test_describe_names_each_column_with_snowflakes_type() -> None:
    connection = FakeConnection()
    connection.described = [
        ResultMetadata("ROOMS", 0, None, None, 38, 0, True),
        ResultMetadata("TOWN", 2, None, None, None, None, True),
    ]
    columns = _session(connection).describe("SELECT * FROM T", "table T")
    assert columns == [Column("ROOMS", "FIXED"), Column("TOWN", "TEXT")]


@pytest.mark.parametrize(
    ("errno", "context", "hint"),
    [
        (606, {"warehouse": "WH_XS"}, "SNOWFLAKE_WAREHOUSE is WH_XS: check that this warehouse"),
        (606, {}, "Set SNOWFLAKE_WAREHOUSE (environment or secret) to a warehouse the role"),
        (2003, {}, "Check the name, SNOWFLAKE_DATABASE/SNOWFLAKE_SCHEMA and the role's grants."),
        (1003, {}, "Fix the SQL (run it in a Snowflake worksheet to check it)."),
        (90_000, {}, "Check the query, the session context and the role's grants."),
    ],
)
def test_a_refused_statement_names_it_quotes_snowflake_and_says_what_to_fix(
    errno: int, context: dict, hint: str
) -> None:
    connection = FakeConnection()
    connection.refuse("DISTINCT", ProgrammingError(msg="Snowflake's own words", errno=errno))
    with pytest.raises(UserError) as raised:
        _session(connection, **context).fetch("SELECT DISTINCT X FROM T", "the values of X")
    message = str(raised.value)
    assert message.startswith("Snowflake could not run the values of X: ")
    assert message.index("Snowflake's own words") < message.index(hint)  # the reason, then the fix


def test_holds_result_reads_the_result_by_id_and_closes_the_cursor() -> None:
    connection = FakeConnection()
    held, gone = connection.store(["chunk-0"]), connection.store([])
    connection.expire(gone)
    session = _session(connection)
    assert session.holds_result(held) is True
    assert session.holds_result(gone) is False  # Snowflake's "has expired" (000710) only
    assert connection.result_reads == [held, gone]
    assert connection.statements == []  # read by id: nothing ran, nothing was materialized
    assert len(connection.cursors) == 2 and all(cursor.closed for cursor in connection.cursors)


def test_a_result_that_cannot_be_read_for_another_reason_is_reported_not_taken_for_gone() -> None:
    connection = FakeConnection()
    unknown = "01b2c3d4-0000-4000-8000-000000000000"  # Snowflake: 000709 "not found"
    not_found = f"stored result of query {unknown}: 000709: Statement .* not found"
    with pytest.raises(UserError, match=not_found):
        _session(connection).holds_result(unknown)
    assert all(cursor.closed for cursor in connection.cursors)


def test_a_query_id_not_of_snowflakes_shape_is_never_sent() -> None:
    connection = FakeConnection()
    session = _session(connection)
    for call in (session.holds_result, lambda q: session.result_batches(q, "the training query")):
        with pytest.raises(ValueError, match="not a Snowflake query id"):
            call("x') UNION SELECT 1 --")
    assert connection.statements == connection.result_reads == connection.status_polls == []


def test_submit_hands_back_the_query_id_the_hosts_read_by() -> None:
    connection = FakeConnection()
    query_id = _session(connection).submit("SELECT 1", "the training query")
    assert query_id in connection.results and connection.statements == ["SELECT 1"]
    connection.refuse("SELECT 2", ProgrammingError(msg="syntax error", errno=1003))
    with pytest.raises(UserError, match=r"could not run the validation query: .*syntax error"):
        _session(connection).submit("SELECT 2", "the validation query")


def test_run_hands_back_the_query_id_once_the_statement_has_succeeded() -> None:
    connection = FakeConnection()
    connection.statuses_of_submitted = [QueryStatus.QUEUED, QueryStatus.RUNNING]
    query_id = _session(connection).run("SELECT 1", "the job's rows")
    assert query_id in connection.results and connection.statements == ["SELECT 1"]
    assert connection.status_polls == [query_id] * 3  # QUEUED, RUNNING, SUCCESS: then it returns
    assert connection.statuses_before_success[query_id] == []


def test_the_hosts_read_a_result_by_id_once_the_query_has_finished() -> None:
    connection = FakeConnection()
    batches = ["chunk-0", "chunk-1", "chunk-2"]
    query_id = connection.store(batches)
    connection.statuses_before_success[query_id] = [QueryStatus.QUEUED, QueryStatus.RUNNING]
    assert _session(connection).result_batches(query_id, "the training query") == batches
    assert connection.status_polls == [query_id] * 3  # QUEUED, RUNNING, SUCCESS
    assert connection.result_reads == [query_id]  # the stored result itself, read once by id
    assert connection.statements == []  # no RESULT_SCAN: a new query with its own row order


def test_every_status_but_success_keeps_the_wait_going(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued, restarted or resuming statements, and a status the connector does not know."""
    waiting = [
        QueryStatus.RUNNING,
        QueryStatus.QUEUED,
        QueryStatus.RESUMING_WAREHOUSE,
        QueryStatus.QUEUED_REPARING_WAREHOUSE,
        QueryStatus.RESTARTED,
        QueryStatus.NO_DATA,
        "A_STATUS_NEWER_THAN_THE_CONNECTOR",
    ]
    slept: list[float] = []
    monkeypatch.setattr(snowflake_session.time, "sleep", slept.append)
    connection = FakeConnection()
    query_id = connection.store(["chunk-0"])
    connection.statuses_before_success[query_id] = list(waiting)
    assert _session(connection).result_batches(query_id, "the training query") == ["chunk-0"]
    assert len(connection.status_polls) == len(waiting) + 1
    assert slept == sorted(slept) and max(slept) <= 5.0  # backing off, a poll every 5 s at most


def test_a_json_result_is_refused_by_name() -> None:
    class JSONResultBatch:  # connector 4.x's type for a result not sent in Arrow
        rowcount = 1

    connection = FakeConnection()
    query_id = connection.store([JSONResultBatch()])
    with pytest.raises(UserError, match="as JSONResultBatch, not Arrow: the session asks for"):
        _session(connection).result_batches(query_id, "the training query")


def test_a_result_that_is_gone_says_which_read_failed() -> None:
    connection = FakeConnection()
    query_id = connection.store([])
    connection.expire(query_id)
    with pytest.raises(UserError, match="could not run reading the result of the training"):
        _session(connection).result_batches(query_id, "the training query")


def test_a_failed_query_is_explained_while_waiting() -> None:
    connection = FakeConnection()
    query_id = connection.store([])
    connection.failed[query_id] = ProgrammingError(msg="Division by zero", errno=100051)
    with pytest.raises(UserError, match=r"could not run the training query: .*Division by zero"):
        _session(connection).wait_for(query_id, "the training query", timeout=5)


def test_waiting_for_a_query_is_bounded_and_says_what_to_change() -> None:
    connection = FakeConnection()
    query_id = connection.store([])
    connection.statuses_before_success[query_id] = [QueryStatus.RUNNING] * 1000
    started = time.monotonic()
    with pytest.raises(UserError) as raised:
        _session(connection).wait_for(query_id, "the training query", timeout=0.5)
    assert time.monotonic() - started < 2
    assert str(raised.value).startswith(
        f"Snowflake did not finish the training query (query id {query_id}) within 0.5s "
        "(its status was still RUNNING): raise query_timeout_seconds"
    )


def test_open_session_closes_the_connection_when_the_job_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = FakeConnection()
    monkeypatch.setattr(snowflake.connector, "connect", lambda **arguments: connection)
    with open_session(ENV, 60):
        assert not connection.closed
    assert connection.closed


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OperationalError(msg="Connection refused", errno=250001), "Could not reach Snowflake"),
        (
            DatabaseError(msg="Incorrect username or password was specified.", errno=390100),
            "Snowflake refused the sign-in of user ALICE by password",
        ),
    ],
    ids=["unreachable", "refused"],
)
def test_a_failed_sign_in_says_what_to_check_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str
) -> None:
    def connect(**arguments: object) -> None:
        assert arguments["password"] == PASSWORD  # the secret went to the connector only
        raise error

    monkeypatch.setattr(snowflake.connector, "connect", connect)
    with pytest.raises(UserError) as raised, open_session(ENV, 60):
        pass
    assert str(raised.value).startswith(expected) and PASSWORD not in str(raised.value)

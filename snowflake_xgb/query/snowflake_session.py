"""Snowflake access: connect with the job's credentials, describe, submit and reopen queries.

Every host opens its own session. The coordinator describes and submits the training query;
every host then reads that one stored result by its query id (``cursor.query_result``: the
original query's result and chunk list, never a new query) and lists its Arrow result batches
(descriptors with a row count and a download location; nothing is downloaded here). What this
relies on of Snowflake and the connector is in docs/snowflake-contract.md.
Connector errors become :class:`UserError` messages that say what to fix; connector messages
are quoted because Snowflake writes them about the SQL, never about credentials.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from snowflake.connector.constants import FIELD_ID_TO_NAME, QueryStatus
from snowflake.connector.cursor import ResultMetadata
from snowflake.connector.result_batch import ResultBatch

from ..credentials import workload_identity
from ..credentials.snowflake_environment import SnowflakeCredentials, SnowflakeEnvironment
from ..errors import UserError
from ..identifiers import QUERY_ID, stored_name

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT_SECONDS = 60  # the connector's own default per request
NETWORK_TIMEOUT_SECONDS = 300  # every request that is not a statement (5.x: request_timeout)
RESULT_WAIT_MARGIN_SECONDS = 60
CONNECTOR_MAJOR = int(snowflake.connector.__version__.split(".")[0])
CANCEL_TIMEOUT_SECONDS = 10  # one cancel request, on the way out of a failed job
SIGNAL_CHECK_SECONDS = 0.2  # how often a thread waiting on the sign-in lets signals through
RESULT_EXPIRED = 710  # Snowflake: "Result for query <id> has expired" (kept 24 hours)
QUERY_CANCELLED = 604  # Snowflake: "SQL execution canceled"
# Snowflake: "Statement reached its statement or warehouse timeout of N second(s) and was
# canceled." (STATEMENT_TIMEOUT_IN_SECONDS)
STATEMENT_TIMED_OUT = 630
OBJECT_NOT_FOUND = 2003  # Snowflake: "Object ... does not exist or not authorized"
# Session parameters every session of a job sets (docs/snowflake-contract.md): results in Arrow
# whatever the account's default, and asynchronous queries that outlive their session.
JOB_SESSION_PARAMETERS = {
    "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "ARROW",
    "ABORT_DETACHED_QUERY": False,
}


@dataclass(frozen=True)
class Column:
    """One column of a query's result, as Snowflake describes it."""

    name: str
    type_name: str


def _private_key(credentials: SnowflakeCredentials) -> Any:
    passphrase = credentials.private_key_passphrase
    try:
        return serialization.load_pem_private_key(
            credentials.private_key.encode(), password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError):
        raise UserError(
            "The private key in the Snowflake secret could not be loaded: check that it is a "
            "PEM (PKCS#8) key and that private_key_passphrase matches (set it only for an "
            "encrypted key)."
        ) from None


def connection_arguments(env: SnowflakeEnvironment, query_timeout: int) -> dict[str, Any]:
    """The connector's keyword arguments, from the ``SNOWFLAKE_*`` environment."""
    if not env.account:
        raise UserError(
            "Set SNOWFLAKE_ACCOUNT (your account identifier, e.g. myorg-myaccount) in the job's "
            "environment or as 'account' in the Snowflake secret."
        )
    credentials = env.credentials
    arguments: dict[str, Any] = {
        "account": env.account,
        "application": "snowflake_xgb",
        "login_timeout": env.login_timeout,
        # One login request waits up to the socket timeout (connector default 60 s) before the
        # login timeout is even checked: cap it so a shorter login timeout holds. Every later
        # request of ours answers at once (the query is submitted asynchronously).
        "socket_timeout": min(env.login_timeout, DEFAULT_SOCKET_TIMEOUT_SECONDS),
        **_timeout_arguments(query_timeout),
        "session_parameters": {
            **JOB_SESSION_PARAMETERS,
            "STATEMENT_TIMEOUT_IN_SECONDS": query_timeout,
        },
    }
    for name in ("warehouse", "database", "schema", "role", "host", "port", "protocol"):
        if getattr(env, name):
            arguments[name] = getattr(env, name)

    if credentials.user:
        arguments["user"] = credentials.user
    if credentials.is_workload_identity:
        arguments["authenticator"] = "WORKLOAD_IDENTITY"
        arguments["workload_identity_provider"] = "AWS"
        if credentials.impersonation_path:
            arguments["workload_identity_impersonation_path"] = credentials.impersonation_path
    elif credentials.private_key:
        arguments["private_key"] = _private_key(credentials)
        arguments["authenticator"] = "SNOWFLAKE_JWT"
    elif credentials.token:
        is_oauth = credentials.authenticator == "oauth"
        arguments["authenticator"] = "oauth" if is_oauth else "PROGRAMMATIC_ACCESS_TOKEN"
        arguments["token"] = credentials.token
    else:
        arguments["password"] = credentials.password
    return arguments


def _timeout_arguments(query_timeout: int) -> dict[str, Any]:
    """Bound every statement by ``query_timeout`` (plus a margin, so that Snowflake's own
    STATEMENT_TIMEOUT_IN_SECONDS message arrives first), on both connector lines.

    4.x: ``network_timeout`` bounds the other requests, and each statement gets ``timeout=``
    (``SnowflakeSession.fetch``). 5.x ignores ``execute(timeout=)`` and maps ``network_timeout``
    onto ``query_timeout`` (its wall-clock bound of every statement), so the two are set apart.
    """
    if CONNECTOR_MAJOR >= 5:
        return {
            "query_timeout": query_timeout + RESULT_WAIT_MARGIN_SECONDS,
            "request_timeout": NETWORK_TIMEOUT_SECONDS,
        }
    return {"network_timeout": NETWORK_TIMEOUT_SECONDS}


def explain_connect_error(error: Exception, env: SnowflakeEnvironment) -> UserError:
    """Turn a failed sign-in into a message that says what to check."""
    errno = getattr(error, "errno", None)
    text = str(getattr(error, "msg", "") or error)
    if env.credentials.is_workload_identity and (
        explained := workload_identity.explain_refusal(errno, text, env)
    ):
        return explained
    unreachable = errno in (250001, 250003) or isinstance(
        error, snowflake.connector.errors.OperationalError
    )
    if unreachable and "Incorrect username or password" not in text and "JWT" not in text:
        return UserError(
            f"Could not reach Snowflake at {env.endpoint} (gave up after at most "
            f"{env.login_timeout}s): check SNOWFLAKE_ACCOUNT (or SNOWFLAKE_HOST/PORT), the "
            "job's VPC routing (NAT or PrivateLink) and any network policy on the Snowflake "
            "side."
        )
    credentials = env.credentials
    return UserError(
        f"Snowflake refused the sign-in of user {credentials.user} by {credentials.method}: "
        "check the user, the credential in the Snowflake secret (for key pair: the public key "
        "registered with ALTER USER ... SET RSA_PUBLIC_KEY) and the account identifier. "
        f"Snowflake said: {text[:300]}"
    )


def explain_query_error(
    error: snowflake.connector.errors.Error,
    what: str,
    warehouse: str | None,
    query_timeout: float | None = None,
) -> UserError:
    """Turn a failed statement into a message naming the statement and Snowflake's reason."""
    text = " ".join(str(getattr(error, "msg", "") or error).split())[:400]
    errno = getattr(error, "errno", None)
    if errno == STATEMENT_TIMED_OUT or _client_timed_out(text):
        bound = f" ({query_timeout:g}s)" if query_timeout is not None else ""
        hint = (
            f"The statement ran longer than query_timeout_seconds{bound}: raise "
            "query_timeout_seconds, use a larger warehouse, or reduce the data."
        )
    elif errno == 606:
        hint = (
            f"SNOWFLAKE_WAREHOUSE is {warehouse}: check that this warehouse exists and that the "
            "role may use it (GRANT USAGE ON WAREHOUSE ...)."
            if warehouse
            else "Set SNOWFLAKE_WAREHOUSE (environment or secret) to a warehouse the role may use."
        )
    elif errno == OBJECT_NOT_FOUND:
        hint = "Check the name, SNOWFLAKE_DATABASE/SNOWFLAKE_SCHEMA and the role's grants."
    elif errno == QUERY_CANCELLED:
        hint = (
            "Snowflake cancelled the statement (a logout of the session that submitted it, "
            "ABORT_DETACHED_QUERY, a statement timeout or SYSTEM$CANCEL_QUERY): run the job again "
            "and check the account's parameters and query history."
        )
    elif errno in (1003, 1007, 904, 2040):
        hint = "Fix the SQL (run it in a Snowflake worksheet to check it)."
    else:
        hint = "Check the query, the session context and the role's grants."
    return UserError(f"Snowflake could not run {what}: {text} {hint}")


def _client_timed_out(text: str) -> bool:
    """Whether the connector itself gave up on a statement at its timeout: 4.x cancels it and
    says "cancelled by the client due to a timeout"; 5.x's core ends the call at
    ``query_timeout`` with "000014 (HYT00): Query timed out after Ns"."""
    lowered = text.lower()
    return "cancelled by the client due to a timeout" in lowered or "query timed out" in lowered


def _check_query_id(query_id: str) -> None:
    """Query ids go into request paths and ``AT(STATEMENT => '...')``: only Snowflake's shape."""
    if not QUERY_ID.fullmatch(query_id):
        raise ValueError(f"not a Snowflake query id: {query_id!r}")


class SnowflakeSession:
    """One connection to Snowflake, opened from the job's credentials."""

    def __init__(
        self,
        connection: snowflake.connector.SnowflakeConnection,
        env: SnowflakeEnvironment,
        query_timeout: float,
    ) -> None:
        self._connection = connection
        self._env = env
        self._query_timeout = query_timeout
        # Snowflake stops a statement at STATEMENT_TIMEOUT_IN_SECONDS and says so; waiting a
        # little longer lets its own message arrive first.
        self._wait_timeout = query_timeout + RESULT_WAIT_MARGIN_SECONDS
        self.submitted: list[str] = []  # the ids of the statements this session submitted

    @property
    def query_timeout(self) -> float:
        """The bound on each statement of this session (``query_timeout_seconds``)."""
        return self._query_timeout

    def _explain(self, error: snowflake.connector.errors.Error, what: str) -> UserError:
        return explain_query_error(error, what, self._env.warehouse, self._query_timeout)

    def check_context(self) -> None:
        """Fail early, by name, when the configured database cannot be used.

        (A missing warehouse shows up as error 606 on the first query, explained there.)
        """
        wanted = self._env.database
        if not wanted:
            return
        ((current,),) = self.fetch("SELECT CURRENT_DATABASE()", "a session check")
        if not current or stored_name(str(current)) != stored_name(wanted):
            raise UserError(
                f"Snowflake database {wanted} does not exist or the role may not use it: "
                "check SNOWFLAKE_DATABASE and SNOWFLAKE_ROLE."
            )

    def describe(self, sql: str, what: str) -> list[Column]:
        """The columns ``sql`` would return, without running it."""
        try:
            metadata: list[ResultMetadata] = self._connection.cursor().describe(sql)
        except snowflake.connector.errors.Error as error:
            raise self._explain(error, what) from None
        return [Column(m.name, FIELD_ID_TO_NAME[m.type_code]) for m in metadata]

    def table_columns(self, table: str, what: str) -> list[Column] | None:
        """A table's columns, or None when Snowflake says it does not exist (error 2003, which
        is also its answer when the role may not see the table)."""
        try:
            metadata: list[ResultMetadata] = self._connection.cursor().describe(
                f"SELECT * FROM {table}"
            )
        except snowflake.connector.errors.Error as error:
            if getattr(error, "errno", None) == OBJECT_NOT_FOUND:
                return None
            raise self._explain(error, what) from None
        return [Column(m.name, FIELD_ID_TO_NAME[m.type_code]) for m in metadata]

    def fetch(self, sql: str, what: str) -> list[tuple]:
        """Run a statement with a small result (counts, distinct values) and return its rows."""
        try:
            # ``timeout``: connector 4.x otherwise cancels the statement after network_timeout
            # (5.x ignores it: its ``query_timeout`` is set at connect).
            cursor = self._connection.cursor()
            return cursor.execute(sql, timeout=self._wait_timeout).fetchall()
        except snowflake.connector.errors.Error as error:
            raise self._explain(error, what) from None

    def current_time(self) -> str:
        """Snowflake's clock (ISO 8601, with its offset): when the next statement starts."""
        ((now,),) = self.fetch("SELECT CURRENT_TIMESTAMP()", "a clock check")
        return now.isoformat()

    def holds_result(self, query_id: str) -> bool:
        """Whether Snowflake still holds a query's result (it keeps results for 24 hours).

        Reads the stored result's description by id (nothing runs, nothing is materialized).
        Only Snowflake's "result has expired" answer means gone; any other error is reported.
        """
        _check_query_id(query_id)
        if self._still_running(query_id):
            # An earlier attempt's query may still run (the record is written before the hosts
            # wait for it): its result answers "in progress" until it is done, which 4.x's
            # query_result cannot read.
            self.wait_for(query_id, f"the recorded query {query_id}", self._wait_timeout)
        cursor = self._connection.cursor()
        try:
            cursor.query_result(query_id)
        except snowflake.connector.errors.Error as error:
            if getattr(error, "errno", None) in (RESULT_EXPIRED, QUERY_CANCELLED):
                # Expired, or cancelled when the earlier attempt failed or was stopped.
                logger.info("The result of query %s is gone: %s", query_id, error.msg)
                return False
            raise self._explain(error, f"reading the stored result of query {query_id}") from None
        finally:
            cursor.close()
        return True

    def _still_running(self, query_id: str) -> bool:
        """Whether Snowflake reports a query as waiting or running (NO_DATA, an unknown status
        or an error of the status call: not known to run, the read says what is wrong)."""
        try:
            status = self._connection.get_query_status(query_id)
        except (KeyError, snowflake.connector.errors.Error):
            return False
        return status != QueryStatus.NO_DATA and self._connection.is_still_running(status)

    def submit(self, sql: str, what: str) -> str:
        """Start ``sql`` and return its query id; the hosts read the result by this id."""
        cursor = self._connection.cursor()
        try:
            cursor.execute_async(sql)
        except snowflake.connector.errors.Error as error:
            raise self._explain(error, what) from None
        self.submitted.append(cursor.sfqid)
        return cursor.sfqid

    def cancel_running(self, query_ids: Iterable[str]) -> list[str]:
        """Cancel those of ``query_ids`` that are still running (``SYSTEM$CANCEL_QUERY``), each
        bounded; the ids of those cancelled. Never raises: it runs on the way out of a failed
        job, whose own error is the one to report."""
        cancelled = []
        for query_id in query_ids:
            try:
                _check_query_id(query_id)
                if not self._still_running(query_id):
                    continue
                cursor = self._connection.cursor()
                cursor.execute(
                    f"SELECT SYSTEM$CANCEL_QUERY('{query_id}')", timeout=CANCEL_TIMEOUT_SECONDS
                )
                cancelled.append(query_id)
            except Exception as error:  # whatever it is, the job's own failure comes first
                logger.warning("Could not cancel query %s: %s", query_id, error)
        if cancelled:
            logger.info("Cancelled the job's running queries: %s", ", ".join(cancelled))
        return cancelled

    def run(self, sql: str, what: str) -> str:
        """Submit ``sql``, wait until it has succeeded and return its query id."""
        query_id = self.submit(sql, what)
        self.wait_for(query_id, what, self._wait_timeout)
        return query_id

    def wait_for(self, query_id: str, what: str, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until a submitted query has succeeded.

        Only SUCCESS ends the wait; a failed query raises Snowflake's message; every other
        status (RUNNING, QUEUED, RESUMING_WAREHOUSE, RESTARTED, NO_DATA, one the connector does
        not know) keeps waiting.
        """
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                status = self._connection.get_query_status_throw_if_error(query_id)
                seen = status.name
            except KeyError as unknown:  # a status newer than the connector's QueryStatus
                status, seen = None, str(unknown).strip("'")
                logger.info("query %s: status %s, waiting", query_id, seen)
            except snowflake.connector.errors.Error as error:
                raise self._explain(error, what) from None
            if status == QueryStatus.SUCCESS:
                return
            if time.monotonic() + delay > deadline:
                said = (
                    "Snowflake had no status for it (NO_DATA)"
                    if status == QueryStatus.NO_DATA
                    else f"its status was still {seen}"
                )
                raise UserError(
                    f"Snowflake did not finish {what} (query id {query_id}) within {timeout:g}s "
                    f"({said}): raise query_timeout_seconds, use a larger warehouse, or reduce "
                    "the data."
                )
            time.sleep(delay)
            delay = min(2 * delay, 5.0)

    def result_batches(self, query_id: str, what: str) -> list[ResultBatch]:
        """Wait for a query to succeed and list its stored result's batches, in order.

        ``cursor.query_result`` reads the original query's result by id (connector 4.x:
        ``GET /queries/{id}/result``; 5.x: the same call through its core): the same chunk list
        in the same order in every session of the user, with fresh chunk URLs on each call. A
        ``RESULT_SCAN`` would be a new query whose rows may come in another order.
        """
        _check_query_id(query_id)
        self.wait_for(query_id, what, self._wait_timeout)
        cursor = self._connection.cursor()
        try:
            cursor.query_result(query_id)
            batches = list(cursor.get_result_batches() or [])
        except snowflake.connector.errors.Error as error:
            raise self._explain(error, f"reading the result of {what}") from None
        for batch in batches:
            # Connector 4.x hands a JSON result as JSONResultBatch (whose to_arrow raises);
            # 5.x's core converts every result to Arrow itself.
            if type(batch).__name__ == "JSONResultBatch":
                raise UserError(
                    f"Snowflake sent the result of {what} (query {query_id}) as "
                    f"{type(batch).__name__}, not Arrow: the session asks for "
                    "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT=ARROW; check that no user or account "
                    "policy overrides it."
                )
        return batches

    def close(self) -> None:
        self._connection.close()


def _connect(arguments: dict[str, Any]) -> snowflake.connector.SnowflakeConnection:
    """``snowflake.connector.connect`` in a daemon thread, the main thread waiting.

    Connector 5.x signs in inside one native call, which holds the calling thread (and so any
    signal handler, SIGTERM's included) until it returns: up to the login timeout.
    """
    result: Future = Future()

    def sign_in() -> None:
        try:
            result.set_result(snowflake.connector.connect(**arguments))
        except BaseException as error:  # handed to the waiting thread as it is
            result.set_exception(error)

    threading.Thread(target=sign_in, name="snowflake-sign-in", daemon=True).start()
    while True:
        try:
            return result.result(timeout=SIGNAL_CHECK_SECONDS)
        except FutureTimeout:
            continue


def _logout_arguments(keeps_queries: bool) -> dict[str, Any]:
    """Whether closing the session logs out, which cancels the session's running queries.

    A session that submits queries the hosts read after it closed never logs out (it expires on
    its own); every other session always does. Connector 5.x also asks for the auto-detection
    flag to be explicit (its default will change); 4.x does not know it.
    """
    arguments: dict[str, Any] = {"server_session_keep_alive": keeps_queries}
    if CONNECTOR_MAJOR >= 5:
        arguments["enable_server_session_keep_alive_auto_detection"] = False
    return arguments


@contextmanager
def open_session(
    env: SnowflakeEnvironment, query_timeout: int, keeps_queries: bool = False
) -> Iterator[SnowflakeSession]:
    """Connect (bounded by the login timeout) and close the connection afterwards.

    ``keeps_queries``: the session submits queries that must outlive it (no logout on close).
    """
    arguments = {**connection_arguments(env, query_timeout), **_logout_arguments(keeps_queries)}
    logger.info("Signing in to Snowflake at %s", env.endpoint)
    try:
        connection = _connect(arguments)
    except snowflake.connector.errors.Error as error:
        raise explain_connect_error(error, env) from None
    session = SnowflakeSession(connection, env, query_timeout)
    try:
        yield session
    finally:
        session.close()


def cancel_queries(env: SnowflakeEnvironment, query_timeout: int, query_ids: Iterable[str]) -> None:
    """Cancel those of a failed job's queries that still run, in a session of its own (bounded
    by the login timeout and each cancel's); never raises."""
    query_ids = list(query_ids)
    if not query_ids:
        return
    try:
        with open_session(env, query_timeout) as session:
            session.cancel_running(query_ids)
    except Exception as error:  # the job's own failure is the one to report
        logger.warning("Could not cancel the job's queries %s: %s", query_ids, error)


@contextmanager
def cancelled_on_failure(
    env: SnowflakeEnvironment, query_timeout: int, query_ids: Mapping[str, str]
) -> Iterator[None]:
    """On any failure inside (SIGTERM's included), cancel ``query_ids`` that still run, then
    let the failure go on as it was: a failed job leaves no statement running up credits."""
    try:
        yield
    except BaseException:
        cancel_queries(env, query_timeout, query_ids.values())
        raise

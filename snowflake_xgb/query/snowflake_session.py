"""Snowflake access: connect with the job's credentials, describe, submit and reopen queries.

Every host opens its own session. The coordinator describes and submits the training query;
every host then reopens that one result by its query id and lists its Arrow result batches
(descriptors with a row count and a download location; nothing is downloaded here).
Connector errors become :class:`UserError` messages that say what to fix; connector messages
are quoted because Snowflake writes them about the SQL, never about credentials.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from snowflake.connector.constants import FIELD_ID_TO_NAME
from snowflake.connector.cursor import ResultMetadata
from snowflake.connector.result_batch import ResultBatch

from ..credentials.snowflake_environment import SnowflakeCredentials, SnowflakeEnvironment
from ..errors import UserError
from ..identifiers import QUERY_ID, stored_name

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT_SECONDS = 60  # the connector's own default per request
NETWORK_TIMEOUT_SECONDS = 300
RESULT_WAIT_MARGIN_SECONDS = 60
SIGNAL_CHECK_SECONDS = 0.2  # how often a thread waiting on the sign-in lets signals through


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
        "user": credentials.user,
        "application": "snowflake_xgb",
        "login_timeout": env.login_timeout,
        # One login request waits up to the socket timeout (connector default 60 s) before the
        # login timeout is even checked: cap it so a shorter login timeout holds. Every later
        # request of ours answers at once (the query is submitted asynchronously).
        "socket_timeout": min(env.login_timeout, DEFAULT_SOCKET_TIMEOUT_SECONDS),
        "network_timeout": NETWORK_TIMEOUT_SECONDS,
        "session_parameters": {"STATEMENT_TIMEOUT_IN_SECONDS": query_timeout},
    }
    for name in ("warehouse", "database", "schema", "role", "host", "port", "protocol"):
        if getattr(env, name):
            arguments[name] = getattr(env, name)

    if credentials.private_key:
        arguments["private_key"] = _private_key(credentials)
        arguments["authenticator"] = "SNOWFLAKE_JWT"
    elif credentials.token:
        is_oauth = credentials.authenticator == "oauth"
        arguments["authenticator"] = "oauth" if is_oauth else "PROGRAMMATIC_ACCESS_TOKEN"
        arguments["token"] = credentials.token
    else:
        arguments["password"] = credentials.password
    return arguments


def explain_connect_error(error: Exception, env: SnowflakeEnvironment) -> UserError:
    """Turn a failed sign-in into a message that says what to check."""
    errno = getattr(error, "errno", None)
    text = str(getattr(error, "msg", "") or error)
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
    error: snowflake.connector.errors.Error, what: str, warehouse: str | None
) -> UserError:
    """Turn a failed statement into a message naming the statement and Snowflake's reason."""
    text = " ".join(str(getattr(error, "msg", "") or error).split())[:400]
    errno = getattr(error, "errno", None)
    if errno == 606:
        hint = (
            f"SNOWFLAKE_WAREHOUSE is {warehouse}: check that this warehouse exists and that the "
            "role may use it (GRANT USAGE ON WAREHOUSE ...)."
            if warehouse
            else "Set SNOWFLAKE_WAREHOUSE (environment or secret) to a warehouse the role may use."
        )
    elif errno == 2003:
        hint = "Check the name, SNOWFLAKE_DATABASE/SNOWFLAKE_SCHEMA and the role's grants."
    elif errno in (1003, 1007, 904, 2040):
        hint = "Fix the SQL (run it in a Snowflake worksheet to check it)."
    else:
        hint = "Check the query, the session context and the role's grants."
    return UserError(f"Snowflake could not run {what}: {text} {hint}")


def _check_query_id(query_id: str) -> None:
    """Query ids are pasted into ``RESULT_SCAN('...')``: only ever Snowflake's own shape."""
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
        # Snowflake stops a statement at STATEMENT_TIMEOUT_IN_SECONDS and says so; waiting a
        # little longer lets its own message arrive first.
        self._wait_timeout = query_timeout + RESULT_WAIT_MARGIN_SECONDS

    def _explain(self, error: snowflake.connector.errors.Error, what: str) -> UserError:
        return explain_query_error(error, what, self._env.warehouse)

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

    def fetch(self, sql: str, what: str) -> list[tuple]:
        """Run a statement with a small result (counts, distinct values) and return its rows."""
        try:
            return self._connection.cursor().execute(sql).fetchall()
        except snowflake.connector.errors.Error as error:
            raise self._explain(error, what) from None

    def current_time(self) -> str:
        """Snowflake's clock (ISO 8601, with its offset): when the next statement starts."""
        ((now,),) = self.fetch("SELECT CURRENT_TIMESTAMP()", "a clock check")
        return now.isoformat()

    def holds_result(self, query_id: str) -> bool:
        """Whether Snowflake still holds a query's result (it keeps results for 24 hours).

        The statement is the one the connector runs to reopen a result by id, so it costs what
        one more host's reopen costs, and fails at once (error 709) when the result is gone.
        """
        _check_query_id(query_id)
        cursor = self._connection.cursor()
        try:
            cursor.execute(f"SELECT * FROM TABLE(RESULT_SCAN('{query_id}'))")
        except snowflake.connector.errors.ProgrammingError as error:
            logger.info("The result of query %s is gone: %s", query_id, getattr(error, "msg", ""))
            return False
        finally:
            cursor.close()
        return True

    def submit(self, sql: str, what: str) -> str:
        """Start ``sql`` and return its query id; the hosts read the result by this id."""
        cursor = self._connection.cursor()
        try:
            cursor.execute_async(sql)
        except snowflake.connector.errors.Error as error:
            raise self._explain(error, what) from None
        return cursor.sfqid

    def wait_for(self, query_id: str, what: str, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until a submitted query has finished."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                status = self._connection.get_query_status_throw_if_error(query_id)
            except snowflake.connector.errors.Error as error:
                raise self._explain(error, what) from None
            if not self._connection.is_still_running(status):
                return
            if time.monotonic() + delay > deadline:
                raise UserError(
                    f"Snowflake did not finish {what} (query id {query_id}) within {timeout:g}s: "
                    "raise query_timeout_seconds, use a larger warehouse, or reduce the data."
                )
            time.sleep(delay)
            delay = min(2 * delay, 5.0)

    def result_batches(self, query_id: str, what: str) -> list[ResultBatch]:
        """Wait for a query to finish, reopen its result by id and list its batches, in order.

        The reopen (``RESULT_SCAN``) reads the stored result; it runs nothing again. Public
        connector API only, the same on connector 4.x and 5.x; each call hands out fresh chunk
        URLs (they expire).
        """
        _check_query_id(query_id)
        self.wait_for(query_id, what, self._wait_timeout)
        cursor = self._connection.cursor()
        try:
            cursor.execute(f"SELECT * FROM TABLE(RESULT_SCAN('{query_id}'))")
            return list(cursor.get_result_batches() or [])
        except snowflake.connector.errors.Error as error:
            raise self._explain(error, f"reading the result of {what}") from None

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


@contextmanager
def open_session(env: SnowflakeEnvironment, query_timeout: int) -> Iterator[SnowflakeSession]:
    """Connect (bounded by the login timeout) and close the connection afterwards."""
    arguments = connection_arguments(env, query_timeout)
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

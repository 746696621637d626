"""An HTTP front for the Snowflake stand-in (``fakesnow -s``) that answers as Snowflake does.

fakesnow runs every query synchronously, answers each result as one inline Arrow batch, accepts
any credentials and speaks only what connector 4.x needs. This front forwards to it and adds:

- results as Snowflake serves them (``result_store``): an inline first chunk and a list of
  gzip-compressed chunks behind expiring URLs that the front serves itself, with latency,
  bandwidth and faults; a reopen by id (``RESULT_SCAN``, ``GET /queries/{id}/result``,
  ``/monitoring/queries/{id}``) is answered from what the front holds, without running anything;
- what connector 5.x needs: ``masterToken`` in the login reply, the monitoring route (5.x asks
  for ``/monitoring/queries//{id}``) and the result route;
- Snowflake's refusals a test asks for: a wrong password, an unknown database, no warehouse;
- the statements' life cycle (``query_lifecycle``): statuses other than RUNNING/SUCCESS,
  statements that run a while, time out or are cancelled (also when the session that submitted
  them logs out), and results in JSON for a session whose ``PYTHON_CONNECTOR_QUERY_RESULT_FORMAT``
  (or the account's) is JSON;
- internal stages (``stages``): a ``PUT`` answered with the stage's ``stageInfo`` (the connector
  uploads the file itself), ``COPY INTO`` loading the stage's Parquet files into the table
  (fakesnow has no stages), and ``ALTER TABLE ... RENAME TO`` a qualified name (DuckDB takes
  the new name unqualified);
- ``WORKLOAD_IDENTITY`` logins verified as Snowflake does for AWS (``workload_identity_check``):
  the signed ``GetCallerIdentity`` is executed against the STS stand-in (``sts_url``) and only
  the service user whose registered ARN matches is signed in (``workload_identities``).

``SnowflakeFront`` holds what the front knows (sessions, settings, counters), every change
under its lock; ``FrontHandler`` answers one request, chosen by ``ROUTES`` (method and path).
Tests in another process read and change it through ``/__front/`` (``FrontControl``: settings,
counters, reset, forget). Standard library and pyarrow only: it runs in the stand-ins' own
environment, as a process (``python snowflake_front.py --upstream-port P --port Q``) or inside
a test.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import re
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

import pyarrow.parquet as pq
import stages
import workload_identity_check
from query_lifecycle import ERROR_STATUSES, LifecycleSettings, QueryLifecycle
from result_store import RESULT_FORMATS, ResultSettings, ResultStore, write_throttled

# What Snowflake answers to a login with a wrong password (and, for JWT, with a key it does not
# know): ``success`` false, a GS error code and a message; the connector raises DatabaseError.
WRONG_PASSWORD = {"code": "390100", "message": "Incorrect username or password was specified."}
NO_WAREHOUSE = {
    "code": "000606",
    "sqlState": "57P03",
    "message": "No active warehouse selected in the current session.  Select an active "
    "warehouse with the 'use warehouse' command.\n",
}
# What Snowflake answers for a result it no longer holds (snowflake-connector-python issue 1596).
RESULT_GONE = {"code": "000710", "sqlState": "02000", "message": "Result for query {} has expired"}
STATEMENT_NOT_FOUND = {"code": "000709", "sqlState": "02000", "message": "Statement {} not found"}
# What Snowflake reports for a cancelled statement (status ABORTED, connector constants.py
# QueryStatus), as quoted in public reports: "000604 (57014): SQL execution canceled".
QUERY_CANCELLED = {"code": "000604", "sqlState": "57014", "message": "SQL execution canceled"}
# A failed statement (FAILED_WITH_ERROR): one of Snowflake's runtime errors.
QUERY_FAILED = {"code": "100038", "sqlState": "22018",
                "message": "Numeric value 'abc' is not recognized"}  # fmt: skip
RESULT_FORMAT = "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT"
# Snowflake's answer to an asynchronous submission (connector network.py: GS code 333334),
# and to a synchronous statement still running when its request is answered (333333): the
# connector polls ``getResultUrl`` until the code changes (network.py ``_post_request``).
ASYNC_IN_PROGRESS_CODE, IN_PROGRESS_CODE = "333334", "333333"
ASYNC_IN_PROGRESS = (
    "Asynchronous execution in progress. Use provided query id to perform query monitoring and "
    "management."
)
IN_PROGRESS = "Query execution in progress. Use provided query id to monitor the query."
# SYSTEM$CANCEL_QUERY('<id>'): a statement that cancels a running query and says so.
CANCEL_QUERY = re.compile(r"system\$cancel_query\s*\(\s*'([^']+)'\s*\)", re.I)
STATEMENT_TIMEOUT = "STATEMENT_TIMEOUT_IN_SECONDS"
SET_RESULT_FORMAT = re.compile(
    r"^\s*alter\s+session\s+set\s+python_connector_query_result_format\s*=\s*'?(\w+)'?", re.I
)
# The session parameters Snowflake's login reply carries (the connector reads them at sign-in);
# the account defaults, as documented (TIMEZONE: America/Los_Angeles), and the client's own.
LOGIN_SESSION_PARAMETERS = {
    "TIMEZONE": "America/Los_Angeles",
    "TIMESTAMP_OUTPUT_FORMAT": "YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM",
    "TIMESTAMP_NTZ_OUTPUT_FORMAT": "YYYY-MM-DD HH24:MI:SS.FF3",
    "TIMESTAMP_LTZ_OUTPUT_FORMAT": "",
    "TIMESTAMP_TZ_OUTPUT_FORMAT": "",
    "DATE_OUTPUT_FORMAT": "YYYY-MM-DD",
    "TIME_OUTPUT_FORMAT": "HH24:MI:SS",
    "BINARY_OUTPUT_FORMAT": "HEX",
    "CLIENT_PREFETCH_THREADS": 4,
    "CLIENT_RESULT_CHUNK_SIZE": 160,
    "CLIENT_SESSION_KEEP_ALIVE": False,
    "CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY": 3600,
    "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "ARROW",
    "ABORT_DETACHED_QUERY": False,
    "STATEMENT_TIMEOUT_IN_SECONDS": 172800,
}
# Snowflake's generic sign-in refusal; its code for a refused workload identity is not documented.
WORKLOAD_IDENTITY_REFUSED = {
    "code": "390100",
    "message": "Incorrect username or password was specified.",
}
CONTROL = "/__front/"
RESULT_SCAN = re.compile(
    r"^\s*select\s+\*\s+from\s+table\s*\(\s*result_scan\s*\(\s*'([^']+)'\s*\)\s*\)\s*;?\s*$",
    re.IGNORECASE,
)
# RESULT_SCAN inside a larger statement (aggregates, filters over a stored result).
NESTED_RESULT_SCAN = re.compile(r"table\s*\(\s*result_scan\s*\(\s*'([^']+)'\s*\)\s*\)", re.I)


@dataclass(frozen=True)
class SessionSettings:
    """What a session gets at sign-in.

    account_result_format: the account's PYTHON_CONNECTOR_QUERY_RESULT_FORMAT, for sessions
        that do not set it (ARROW or JSON); a session answered JSON gets ``rowset`` rows.
    login_session_parameters: the login reply carries the session parameters, as Snowflake's
        does (False: fakesnow's reply, without them).
    """

    account_result_format: str = "ARROW"
    login_session_parameters: bool = True

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> SessionSettings:
        """The settings a control request names (JSON values); the rest at their defaults."""
        settings = cls(**document)
        result_format = str(settings.account_result_format).upper()
        if result_format not in RESULT_FORMATS:
            raise ValueError(f"account_result_format must be one of {RESULT_FORMATS}")
        return cls(result_format, bool(settings.login_session_parameters))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FrontSettings:
    """Every switch of the front, by what it is about: sign-in, the statements' life cycle, the
    results. Tests set them by name, as one flat JSON object (``FrontControl.settings``); the
    names are unique across the three."""

    sessions: SessionSettings = field(default_factory=SessionSettings)
    queries: LifecycleSettings = field(default_factory=LifecycleSettings)
    results: ResultSettings = field(default_factory=ResultSettings)

    def updated(self, changes: dict[str, Any]) -> FrontSettings:
        """These settings with ``changes`` (switch name -> JSON value); ValueError naming an
        unknown switch or a bad value."""
        known = set(self.to_json())
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        groups = {}
        for group in fields(self):
            current = getattr(self, group.name)
            mine = {k: v for k, v in changes.items() if k in current.to_json()}
            groups[group.name] = type(current).from_json({**current.to_json(), **mine})
        return FrontSettings(**groups)

    def to_json(self) -> dict[str, Any]:
        return {**self.sessions.to_json(), **self.queries.to_json(), **self.results.to_json()}


class SnowflakeFront:
    """Listens on ``host:port`` (0: a free port); forwards to fakesnow on ``upstream_port``.

    login_failure: answer every login with this failure (no upstream needed).
    unknown_databases: forward logins naming one of these databases without it, as Snowflake
        opens a session without a database when the named one does not exist or may not be used.
    query_failure: answer every statement that needs a warehouse with this failure.
    settings: the front's switches (``FrontSettings``; default: results whole, inline).
    sts_url: the STS stand-in that ``WORKLOAD_IDENTITY`` attestations are executed against.
    workload_identities: service user -> registered ARN (``WORKLOAD_IDENTITY = (TYPE = AWS ARN
        = ...)``); also set through ``/__front/workload_identities``.

    Requests are answered on threads of their own: every attribute below that changes after
    the start changes under ``_lock``, through the methods here. The results, the statements'
    life cycle and the stages keep their own state under their own locks.
    """

    def __init__(
        self,
        upstream_port: int | None = None,
        login_failure: dict | None = None,
        unknown_databases: tuple[str, ...] = (),
        query_failure: dict | None = None,
        settings: FrontSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        spool: Path | None = None,
        sts_url: str | None = None,
        workload_identities: dict[str, str] | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.login_failure = login_failure
        self.unknown_databases = {name.upper() for name in unknown_databases}
        self.query_failure = query_failure
        self.sts_url = sts_url
        self.initial_settings = settings or FrontSettings()
        self.settings = self.initial_settings
        self.store = ResultStore(self.settings.results, spool)
        self.lifecycle = QueryLifecycle(self.settings.queries)
        self._stage_root = tempfile.TemporaryDirectory(prefix="front-stages-")
        self.stages = stages.Stages(Path(self._stage_root.name))
        # fakesnow's DDL, one statement group at a time (concurrent DDL conflicts in DuckDB's
        # catalog): COPY INTO's loads, and the tables holding a result that RESULT_SCAN reads.
        self.ddl_lock = threading.Lock()
        self.held_tables: set[str] = set()  # changed under ddl_lock
        self._lock = threading.Lock()
        self.workload_identities = {k.upper(): v for k, v in (workload_identities or {}).items()}
        self.workload_identity_refusals: list[str] = []  # why each refused attestation failed
        self.logins: list[dict] = []  # each login request's JSON body
        self.login_parameters: list[dict] = []  # and its URL parameters (databaseName, ...)
        self.readers: dict[str, int] = {}  # session token -> session number (1, 2, ...)
        self.result_formats: dict[str, str] = {}  # session token -> the format it asked for
        self.statement_timeouts: dict[str, float] = {}  # session token -> its statement timeout
        self.client_lines: dict[str, int] = {}  # session token -> the connector's major version
        # Every secret a sign-in derived (session and master tokens, and the JWT or workload
        # identity attestation it was signed in with), for tests that search logs for leaks.
        self.derived_secrets: list[str] = []
        self.forwarded_queries = 0
        self._server = _FrontServer((host, port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SnowflakeFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        self._server.shutdown()
        self._server.server_close()
        self._stage_root.cleanup()

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self._close()

    def _close(self) -> None:
        self.lifecycle.close()
        self.store.close()

    def environ(self) -> dict[str, str]:
        """The job environment that sends the connector here."""
        return {"SNOWFLAKE_HOST": "127.0.0.1", "SNOWFLAKE_PORT": str(self.port)}

    # -- sessions ----------------------------------------------------------------------------
    def login_requested(self, body: dict, parameters: dict[str, str]) -> None:
        with self._lock:
            self.logins.append(body)
            self.login_parameters.append(parameters)

    def signed_in(self, token: str, login: dict, derived: list[str]) -> int:
        """A session opened with ``token`` by login request ``login`` (its ``data``); the
        secrets its sign-in derived. Its session number."""
        asked = login.get("SESSION_PARAMETERS") or {}
        asked = {str(k).upper(): str(v).upper() for k, v in asked.items()}
        version = str(login.get("CLIENT_APP_VERSION") or "0")
        with self._lock:
            reader = self.readers[token] = len(self.readers) + 1
            if RESULT_FORMAT in asked:
                self.result_formats[token] = asked[RESULT_FORMAT]
            if asked.get(STATEMENT_TIMEOUT, "").isdigit():
                self.statement_timeouts[token] = float(asked[STATEMENT_TIMEOUT])
            self.client_lines[token] = int(version.split(".")[0] or 0)
            self.derived_secrets += [secret for secret in derived if secret]
        return reader

    def workload_identity_refused(self, reason: str) -> None:
        with self._lock:
            self.workload_identity_refusals.append(reason)

    def registered_identities(self) -> dict[str, str]:
        with self._lock:
            return dict(self.workload_identities)

    def reader(self, token: str) -> int:
        with self._lock:
            return self.readers.get(token, 0)

    def client_line(self, token: str) -> int:
        """The connector line (major version) the session signed in with."""
        with self._lock:
            return self.client_lines.get(token, 0)

    def statement_timeout(self, token: str) -> float:
        with self._lock:
            return self.statement_timeouts.get(token, 0.0)

    def result_format(self, token: str) -> str:
        """ARROW or JSON: what the session asked for, else the account's default."""
        with self._lock:
            return self.result_formats.get(token) or self.settings.sessions.account_result_format

    def set_result_format(self, token: str, result_format: str) -> None:
        with self._lock:
            self.result_formats[token] = result_format.upper()

    def forwarding(self) -> None:
        """A client's statement is forwarded to fakesnow."""
        with self._lock:
            self.forwarded_queries += 1

    # -- control -----------------------------------------------------------------------------
    def _apply(self, settings: FrontSettings) -> None:
        """Switch every part to ``settings`` (called with the lock held)."""
        self.settings = settings
        self.store.settings = settings.results
        self.lifecycle.settings = settings.queries

    def control(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``/__front/<name>``, answered by the method of that name (``FrontControl``'s)."""
        answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "settings": self._settings,
            "counters": self._counters,
            "reset": self._reset,
            "workload_identities": self._workload_identities,
            "derived_secrets": self._derived_secrets,
            "forget": lambda body: {"forgotten": self.store.forget(body["query_id"])},
            "stages": self.stages.control,
        }
        return answers[name](body)

    def _settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the switches named in ``changes`` (none: read them); all of them."""
        with self._lock:
            if changes:
                self._apply(self.settings.updated(changes))
            return self.settings.to_json()

    def _counters(self, _: dict[str, Any]) -> dict[str, Any]:
        counters = {**self.store.counters(), **self.lifecycle.counters()}
        with self._lock:
            counters.update(logins=len(self.logins), forwarded_queries=self.forwarded_queries)
        return counters

    def _reset(self, _: dict[str, Any]) -> dict[str, Any]:
        """Settings back to the front's start, counters to zero."""
        self.store.reset_counters()
        self.lifecycle.reset_counters()
        with self._lock:
            self._apply(self.initial_settings)
            self.forwarded_queries = 0
            return self.settings.to_json()

    def _workload_identities(self, users: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if users:
                self.workload_identities = {k.upper(): v for k, v in users.items()}
            return {
                "users": dict(self.workload_identities),
                "refusals": list(self.workload_identity_refusals),
            }

    def _derived_secrets(self, _: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"secrets": list(self.derived_secrets)}


class _FrontServer(ThreadingHTTPServer):
    """The HTTP server; its handlers reach the front through ``front``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], front: SnowflakeFront) -> None:
        self.front = front
        super().__init__(address, FrontHandler)


class FrontHandler(BaseHTTPRequestHandler):
    """One request to the front, answered by the method ``ROUTES`` names for it (else forwarded
    to fakesnow as it came). Shared state is changed only through ``self.front``'s methods."""

    server: _FrontServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    @property
    def front(self) -> SnowflakeFront:
        return self.server.front

    def _dispatch(self) -> None:
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            answer, arguments = route(self.command, url.path)
            answer(self, body, url, **arguments)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            raise

    do_GET = do_POST = do_PUT = _dispatch

    # -- the routes --------------------------------------------------------------------------
    def control(self, body: bytes, url: SplitResult, name: str) -> None:
        """``/__front/<name>`` (``SnowflakeFront.control``); 400 for a bad request."""
        try:
            self._answer(self.front.control(name, self._json(body) if body else {}))
        except (KeyError, ValueError, TypeError) as error:
            self._answer({"error": str(error)}, status=400)

    def forward(self, body: bytes, url: SplitResult) -> None:
        """What the front does not answer itself: fakesnow's answer, as it came."""
        self._relay(*self._upstream(body, self.path))

    def login(self, body: bytes, url: SplitResult) -> None:
        login = self._json(body)
        self.front.login_requested(login, dict(parse_qsl(url.query)))
        if self.front.login_failure is not None:
            data = {"nextAction": "RETRY_LOGIN", "signInOptions": {}}
            self._answer({**self.front.login_failure, "data": data, "success": False})
            return
        if login.get("data", {}).get("AUTHENTICATOR") == "WORKLOAD_IDENTITY":
            body = self._workload_identity_login(login)
            if body is None:
                return
        query = parse_qsl(url.query)
        unknown = self.front.unknown_databases
        if any(k == "databaseName" and v.upper() in unknown for k, v in query):
            query = [(k, v) for k, v in query if k != "databaseName"]
        status, headers, answer = self._upstream(body, f"{url.path}?{urlencode(query)}")
        document = json.loads(answer)
        data = document.get("data") or {}
        if document.get("success") and "token" in data:
            # Fields Snowflake's login reply has and connector 5.x requires.
            data.setdefault("masterToken", f"master-{uuid.uuid4()}")
            requested = login.get("data") or {}
            derived = [data["token"], data["masterToken"], str(requested.get("TOKEN") or "")]
            reader = self.front.signed_in(data["token"], requested, derived)
            data.setdefault("sessionId", reader)
            data.setdefault("validityInSeconds", 3600)
            data.setdefault("masterValidityInSeconds", 14400)
            sessions = self.front.settings.sessions
            if sessions.login_session_parameters:
                data["parameters"] = _login_parameters(
                    self._json(body), data, sessions.account_result_format
                )
            answer = json.dumps(document).encode()
        self._relay(status, headers, answer)

    def logout(self, body: bytes, url: SplitResult) -> None:
        """``POST /session?delete=true``: the session's unfinished queries may be cancelled."""
        if dict(parse_qsl(url.query)).get("delete") == "true":
            self.front.lifecycle.logged_out(self._session())
        self.forward(body, url)

    def query(self, body: bytes, url: SplitResult) -> None:
        request = self._json(body)
        sql = request.get("sqlText", "")
        plain = False  # the body is still the client's
        if self.front.query_failure and not sql.strip().upper().startswith("SELECT CURRENT_"):
            self._failure(self.front.query_failure)
            return
        if refusal := self.front.stages.refusal(sql):
            self._failure(refusal)
            return
        s3 = self._base_url() if self.front.client_line(self._session()) >= 5 else None
        if put := self.front.stages.put_answer(sql, str(uuid.uuid4()), s3):
            rate = self.front.stages.settings.upload_bytes_per_second
            if rate:
                time.sleep(Path(put["src_locations"][0]).stat().st_size / rate)
            self._answer({"data": put, "code": None, "message": None, "success": True})
            return
        rewritten_sql = self._stage_statement(sql)
        if rewritten_sql is None:
            return
        if rewritten_sql != sql:
            sql = rewritten_sql
            request = {**request, "sqlText": sql}
            body, plain = json.dumps(request).encode(), True
        self.front.stages.table_replaced(sql)
        if match := SET_RESULT_FORMAT.match(sql):
            self.front.set_result_format(self._session(), match.group(1))
        if match := CANCEL_QUERY.search(sql):
            cancelled = self.front.lifecycle.cancel(match.group(1))
            answer = (
                f"query [{cancelled}] terminated."
                if cancelled
                else "Identified SQL statement is not currently executing."
            )
            sql = CANCEL_QUERY.sub(f"'{answer}'", sql)
            body, plain = json.dumps({**request, "sqlText": sql}).encode(), True
        if match := RESULT_SCAN.match(sql):
            reopened = match.group(1)
            if self._result_scan(reopened):
                return
            if self.front.store.was_forgotten(reopened):
                self._gone(reopened)
                return
        if NESTED_RESULT_SCAN.search(sql):
            rewritten = self._nested_result_scans(sql)
            if rewritten is None:
                return
            body, plain = json.dumps({**request, "sqlText": rewritten}).encode(), True
        for change in self.front.lifecycle.table_changes_before(sql):
            self._run_upstream(change)
        self.front.forwarding()
        status, headers, answer = self._upstream(body, self.path, plain)
        document = json.loads(answer) if answer else {}
        data = document.get("data") or {}
        if document.get("success") is False:  # in the front's log, for whoever debugs a test
            print(f"upstream refused: {document.get('message')!r}", file=sys.stderr, flush=True)
        if (
            status == 200
            and document.get("success")
            and data.get("queryResultFormat") == "arrow"
            and "rowtype" in data
            and not request.get("describeOnly")
            and self._answer_held(request, sql, data)
        ):
            return
        self._relay(status, headers, answer)

    def chunk(self, body: bytes, url: SplitResult, query_id: str, batch: str) -> None:
        """A download of one remote chunk from the front's own "cloud storage"."""

        def respond(status: int, content: bytes, bytes_per_second: float = 0) -> None:
            kind = "application/octet-stream" if status == 200 else "application/xml"
            self._send(status, content, kind, bytes_per_second)

        parameters = dict(parse_qsl(url.query))
        self.front.store.serve_chunk(query_id, int(batch), parameters, self.headers, respond)

    def stage_upload(self, body: bytes, url: SplitResult, key: str) -> None:
        """Connector 5.x's upload of a PUT's file to the stage's bucket (S3's PutObject)."""
        self.front.stages.upload(key, body)
        self.send_response(200)
        self.send_header("ETag", '"stand-in"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def result_by_id(self, body: bytes, url: SplitResult, query_id: str) -> None:
        """``GET /queries/{id}/result``: the original result as it was stored, once done."""
        if self._until_done(query_id):
            return
        data = self.front.store.read_by_id(
            query_id, self._base_url(), self._reader(), self._result_format()
        )
        if data is None and self.front.store.was_forgotten(query_id):
            self._gone(query_id)
            return
        if data is None:
            message = STATEMENT_NOT_FOUND["message"].format(query_id)
            self._failure({**STATEMENT_NOT_FOUND, "message": message}, query_id)
            return
        self._answer({"data": data, "code": None, "message": None, "success": True})

    def abort_by_request_id(self, body: bytes, url: SplitResult) -> None:
        """Connector 4.x's cancel of its own statement (its timeout, or a cancel): the
        statement is named by the request id that submitted it."""
        self.front.lifecycle.cancel(request_id=str(self._json(body).get("requestId", "")))
        self._answer({"data": None, "code": None, "message": None, "success": True})

    def abort(self, body: bytes, url: SplitResult, query_id: str) -> None:
        cancelled = self.front.lifecycle.cancel(query_id)
        self._answer({"data": None, "success": cancelled is not None})

    def monitoring(self, body: bytes, url: SplitResult, query_id: str) -> None:
        """``/monitoring/queries/{id}``: a held query's status as the life cycle has it."""
        if not self.front.store.holds(query_id):
            self._relay(*self._upstream(body, f"/monitoring/queries/{query_id}"))
            return
        status = self.front.lifecycle.status(query_id)
        query = {"id": query_id, "status": status}
        if status in ERROR_STATUSES:
            failure = self.front.lifecycle.failure(query_id) or _status_failure(status)
            query.update(errorCode=failure["code"], errorMessage=failure["message"])
        queries = [query] if status is not None else []  # None: nothing known yet
        self._answer({"data": {"queries": queries}, "success": True})

    # -- answers -----------------------------------------------------------------------------
    def _json(self, raw: bytes) -> dict:
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return json.loads(raw or b"{}")

    def _send(
        self, status: int, body: bytes, content_type: str, bytes_per_second: float = 0
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        write_throttled(self.wfile, body, bytes_per_second)

    def _answer(self, document: dict, status: int = 200) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _answer_in_progress(self, query_id: str, synchronous: bool) -> None:
        answer = _in_progress(query_id, synchronous)
        self.front.lifecycle.answered_in_progress(answer["code"])
        self._answer(answer)

    def _failure(self, failure: dict, query_id: str | None = None) -> None:
        failure = dict(failure)
        data = {
            "errorCode": failure["code"],
            "sqlState": failure.pop("sqlState", "08001"),
            "queryId": query_id or str(uuid.uuid4()),
            "internalError": False,
            "line": -1,
            "pos": -1,
            "type": "COMPILATION",
        }
        self._answer({**failure, "data": data, "success": False})

    def _gone(self, query_id: str) -> None:
        self._failure({**RESULT_GONE, "message": RESULT_GONE["message"].format(query_id)})

    def _relay(self, status: int, headers: list, body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # -- the session asking ------------------------------------------------------------------
    def _session(self) -> str:
        """The session token of the request (``Authorization: Snowflake Token="..."``)."""
        return (self.headers.get("Authorization") or "")[17:-1]

    def _base_url(self) -> str:
        return f"http://{self.headers.get('Host', f'127.0.0.1:{self.front.port}')}"

    def _reader(self) -> int:
        return self.front.reader(self._session())

    def _result_format(self) -> str:
        return self.front.result_format(self._session())

    # -- fakesnow ----------------------------------------------------------------------------
    def _upstream(self, raw: bytes, path: str, plain: bool = False) -> tuple[int, list, bytes]:
        """Forward to fakesnow; ``plain``: a body of our own (not gzip, new length)."""
        upstream = http.client.HTTPConnection("127.0.0.1", self.front.upstream_port, timeout=600)
        # http.client sets Content-Length from the body, which a login check may rewrite.
        dropped = ("host", "connection", "content-length") + (
            ("content-encoding",) if plain else ()
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
            upstream.request(self.command, path, body=raw or None, headers=headers)
            response = upstream.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            upstream.close()

    def _run_upstream(self, sql: str) -> dict:
        """One statement of the front's own, run by fakesnow; its answer."""
        raw = json.dumps({"sqlText": sql}).encode()
        _, _, body = self._upstream(raw, self.path, plain=True)
        document = json.loads(body) if body else {}
        if not document.get("success"):
            print(f"upstream refused: {document.get('message')!r}", file=sys.stderr, flush=True)
        return document

    # -- sign-in -----------------------------------------------------------------------------
    def _workload_identity_login(self, login: dict) -> bytes | None:
        """Verify the attestation; the login to forward as the matched user, or None."""
        data = login["data"]
        sts_url = self.front.sts_url
        try:
            if data.get("PROVIDER") != "AWS" or not sts_url:
                raise workload_identity_check.Refused("only AWS attestations are checked")
            arn = workload_identity_check.caller_arn(
                data.get("TOKEN", ""), sts_url, urlsplit(sts_url).hostname or ""
            )
            user = workload_identity_check.matching_user(
                arn, data.get("LOGIN_NAME"), self.front.registered_identities()
            )
        except workload_identity_check.Refused as refusal:
            self.front.workload_identity_refused(str(refusal))
            failure = {**WORKLOAD_IDENTITY_REFUSED, "data": {"nextAction": "RETRY_LOGIN"}}
            self._answer({**failure, "success": False})
            return None
        # fakesnow signs anyone in: forward as the matched user, without the attestation.
        forwarded = {k: v for k, v in data.items() if k not in ("TOKEN", "PROVIDER")}
        forwarded.update(LOGIN_NAME=user, AUTHENTICATOR="SNOWFLAKE", PASSWORD="-")
        body = json.dumps({**login, "data": forwarded}).encode()
        return gzip.compress(body) if self.headers.get("Content-Encoding") == "gzip" else body

    # -- results -----------------------------------------------------------------------------
    def _answer_held(self, request: dict, sql: str, data: dict) -> bool:
        """A new Arrow result from fakesnow: held, timed when the life cycle says so, and
        answered as Snowflake would (in progress, its error, or its first chunk and list).
        Whether it was answered (not: it is no longer held)."""
        self.front.store.hold(data)
        query_id = data["queryId"]
        session = self._session()
        request_id = dict(parse_qsl(urlsplit(self.path).query)).get("requestId")
        submission = self.front.lifecycle.submitted(
            query_id,
            session,
            sql,
            synchronous=not request.get("asyncExec"),
            timeout_seconds=self.front.statement_timeout(session),
            request_id=request_id,
        )
        if submission is not None and not submission.synchronous:
            if self.front.lifecycle.running(query_id):
                self._answer_in_progress(query_id, synchronous=False)
                return True
        elif submission is not None and self._until_done(query_id):
            return True
        return self._result_answer(query_id)

    def _result_answer(self, query_id: str, new_query_id: str | None = None) -> bool:
        data = self.front.store.answer(
            query_id, self._base_url(), self._reader(), new_query_id, self._result_format()
        )
        if data is None:
            return False
        self._answer({"data": data, "code": None, "message": None, "success": True})
        return True

    def _result_scan(self, query_id: str) -> bool:
        """A RESULT_SCAN: a new query; its rows reordered when the settings say so."""
        new_query_id = str(uuid.uuid4())
        if not self.front.store.settings.result_scan_shuffles:
            return self._result_answer(query_id, new_query_id)
        if self.front.store.result_scan(query_id, new_query_id) is None:
            return False
        return self._result_answer(new_query_id)

    def _ended(self, query_id: str) -> bool:
        """Answer the error a query ended with, if it did; whether it did."""
        ended = self.front.lifecycle.ended_with(query_id)
        if ended:
            failure = self.front.lifecycle.failure(query_id) or _status_failure(ended)
            self._failure(failure, query_id)
        return bool(ended)

    def _until_done(self, query_id: str) -> bool:
        """Hold while a timed query runs (at most ``in_progress_hold_seconds``), then answer
        "in progress" or its error; False: it is done, the caller answers its result."""
        lifecycle = self.front.lifecycle
        if not lifecycle.wait_while_running(query_id, lifecycle.settings.in_progress_hold_seconds):
            self._answer_in_progress(query_id, lifecycle.is_synchronous(query_id))
            return True
        return self._ended(query_id)

    def _nested_result_scans(self, sql: str) -> str | None:
        """``TABLE(RESULT_SCAN('<id>'))`` inside a statement reads the held result (as
        Snowflake reads its stored result): fakesnow only knows the bare form, so the front
        copies the held rows into a table of its own once and names that instead. None: the
        answer (result gone) was sent."""
        store = self.front.store
        for query_id in set(NESTED_RESULT_SCAN.findall(sql)):
            parquet = store.parquet_of(query_id)
            if parquet is None:
                if store.was_forgotten(query_id):
                    self._gone(query_id)
                    return None
                columns = store.columns_of(query_id)
                if columns is not None:  # held, with no rows: the same columns, empty
                    sql = re.sub(_nested(query_id), _empty_relation(columns), sql, flags=re.I)
                continue
            table = f"FRONT_HELD.RESULTS.R_{query_id.replace('-', '_').upper()}"
            with self.front.ddl_lock:
                if table not in self.front.held_tables:
                    for statement in (
                        "CREATE DATABASE IF NOT EXISTS FRONT_HELD",
                        "CREATE SCHEMA IF NOT EXISTS FRONT_HELD.RESULTS",
                        f"CREATE OR REPLACE TABLE {table} AS "
                        f"SELECT * FROM read_parquet('{parquet}')",
                    ):
                        self._run_upstream(statement)
                    self.front.held_tables.add(table)
            sql = re.sub(_nested(query_id), table, sql, flags=re.I)
        return sql

    # -- stages ------------------------------------------------------------------------------
    def _stage_statement(self, sql: str) -> str | None:
        """COPY INTO and a qualified RENAME TO, which fakesnow does not take, done with
        statements it does: the client's statement to forward in their place, or None
        when the answer was sent (a failure)."""
        try:
            plan = self.front.stages.copy_plan(sql)
        except ValueError as error:
            self._failure({"code": "002030", "sqlState": "42601", "message": str(error)})
            return None
        if plan is not None:
            return self._copy(*plan)
        if match := stages.RENAME.match(sql):
            # DuckDB takes the new name without its qualifier (same schema).
            return f"ALTER TABLE {match['a']} RENAME TO {_quoted(stages.parts(match['b'])[-1])}"
        return sql

    def _copy(self, table: str, files: list, purge: bool) -> str | None:
        """Load the files into ``table``; the SELECT that answers as COPY INTO does."""
        answers = []
        described = self._run_upstream(f"SELECT * FROM {table} LIMIT 0")
        # fakesnow takes no column list after INSERT INTO: the table's columns in order,
        # each from the file's column of that name (MATCH_BY_COLUMN_NAME), else NULL.
        table_columns = [c["name"] for c in (described.get("data") or {}).get("rowtype", [])]
        for file, digest, columns in files:
            names = ", ".join(_quoted(c) if c in columns else "NULL" for c in table_columns)
            # fakesnow refuses read_parquet() in an INSERT from a session without a current
            # database (it is an unqualified source): through a table of the front's own.
            loading = f"FRONT_HELD.RESULTS.LOAD_{digest.upper()}"
            statements = (
                "CREATE DATABASE IF NOT EXISTS FRONT_HELD",
                "CREATE SCHEMA IF NOT EXISTS FRONT_HELD.RESULTS",
                f"CREATE OR REPLACE TABLE {loading} AS SELECT * FROM read_parquet('{file}')",
                f"INSERT INTO {table} SELECT {names} FROM {loading}",
                f"DROP TABLE {loading}",
            )
            with self.front.ddl_lock:
                loaded = all(self._run_upstream(sql).get("success") for sql in statements)
            if not loaded:
                failed = f"Failed to load {file.name} into {table}"
                self._failure({"code": "100071", "sqlState": "22000", "message": failed})
                return None
            rows = pq.read_metadata(file).num_rows
            self.front.stages.loaded(table, file, digest, rows, purge)
            answers.append(
                f"SELECT '{file.name}' AS \"file\", 'LOADED' AS \"status\", "
                f'{rows} AS "rows_parsed", {rows} AS "rows_loaded", '
                '1 AS "error_limit", 0 AS "errors_seen", '
                'CAST(NULL AS VARCHAR) AS "first_error"'
            )
        time.sleep(self.front.stages.settings.copy_answer_seconds)
        self.front.stages.answered()
        if not answers:
            return "SELECT 'Copy executed with 0 files processed.' AS \"status\""
        return " UNION ALL ".join(answers)


@dataclass(frozen=True)
class Route:
    """Requests with one of ``methods`` whose path matches ``pattern`` are answered by
    ``answer`` (a ``FrontHandler`` method; the pattern's named groups are its arguments)."""

    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    answer: Callable[..., None]


_QUERY_ID = r"(?P<query_id>[^/]+)"
# What the front answers itself; the first route that matches wins, anything else is forwarded.
ROUTES = (
    Route(("GET", "POST"), re.compile(rf"^{CONTROL}(?P<name>\w+)$"), FrontHandler.control),
    Route(("POST",), re.compile(r"^/session/v1/login-request$"), FrontHandler.login),
    Route(("POST",), re.compile(r"^/session$"), FrontHandler.logout),
    Route(("POST",), re.compile(r"^/queries/v1/query-request$"), FrontHandler.query),
    Route(("POST",), re.compile(r"^/queries/v1/abort-request$"), FrontHandler.abort_by_request_id),
    Route(("POST",), re.compile(rf"^/queries/{_QUERY_ID}/abort-request$"), FrontHandler.abort),
    Route(("GET",), re.compile(rf"^/queries/{_QUERY_ID}/result$"), FrontHandler.result_by_id),
    # Connector 5.x asks for /monitoring/queries//{id}.
    Route(("GET",), re.compile(rf"^/monitoring/queries/+{_QUERY_ID}$"), FrontHandler.monitoring),
    Route(("GET",), re.compile(rf"^/results/{_QUERY_ID}/(?P<batch>\d+)$"), FrontHandler.chunk),
    Route(("PUT",), re.compile(rf"^/{stages.S3_BUCKET}/(?P<key>.+)$"), FrontHandler.stage_upload),
)


def route(method: str, path: str) -> tuple[Callable[..., None], dict[str, str]]:
    """The ``FrontHandler`` method that answers ``method path``, with its arguments from the
    path; ``FrontHandler.forward`` for what the front does not answer itself."""
    for candidate in ROUTES:
        match = candidate.pattern.match(path)
        if match and method in candidate.methods:
            return candidate.answer, match.groupdict()
    return FrontHandler.forward, {}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _in_progress(query_id: str, synchronous: bool) -> dict[str, Any]:
    """Snowflake's answer for a statement still running: GS code 333333 for a synchronous one,
    333334 for an asynchronous one, with the URL to poll for its result."""
    data = {"queryId": query_id, "getResultUrl": f"/queries/{query_id}/result",
            "queryAbortsAfterSecs": 300, "progressDesc": None}  # fmt: skip
    if synchronous:
        return {"code": IN_PROGRESS_CODE, "message": IN_PROGRESS, "data": data, "success": True}
    return {"code": ASYNC_IN_PROGRESS_CODE, "message": ASYNC_IN_PROGRESS, "data": data,
            "success": True}  # fmt: skip


def _status_failure(status: str) -> dict[str, str]:
    """What Snowflake says of a query that ended with error status ``status``."""
    return QUERY_CANCELLED if status in ("ABORTED", "ABORTING") else QUERY_FAILED


def _login_parameters(request: dict, data: dict, result_format: str) -> list[dict[str, Any]]:
    """The login reply's ``parameters``: the defaults, upstream's, then those the client set."""
    parameters = {**LOGIN_SESSION_PARAMETERS, RESULT_FORMAT: result_format}
    parameters.update({p["name"]: p["value"] for p in data.get("parameters") or []})
    asked = (request.get("data") or {}).get("SESSION_PARAMETERS") or {}
    parameters.update({str(name).upper(): value for name, value in asked.items()})
    return [{"name": name, "value": value} for name, value in parameters.items()]


# Snowflake's rowtype types as DuckDB (fakesnow) names them, for an empty held result.
_DUCKDB_TYPES = {"real": "DOUBLE", "text": "VARCHAR", "boolean": "BOOLEAN", "date": "DATE"}


def _nested(query_id: str) -> str:
    """The pattern of ``TABLE(RESULT_SCAN('<query_id>'))`` inside a statement."""
    return rf"table\s*\(\s*result_scan\s*\(\s*'{re.escape(query_id)}'\s*\)\s*\)"


def _empty_relation(columns: list[dict[str, Any]]) -> str:
    """A relation with ``columns`` (a result's rowtype) and no rows."""

    def duckdb_type(column: dict[str, Any]) -> str:
        kind = str(column.get("type", "text")).lower()
        if kind == "fixed":
            return f"DECIMAL({column.get('precision') or 38},{column.get('scale') or 0})"
        if kind.startswith("timestamp"):
            return "TIMESTAMPTZ" if kind.endswith(("_tz", "_ltz")) else "TIMESTAMP"
        return _DUCKDB_TYPES.get(kind, "VARCHAR")

    names = ", ".join(
        f'CAST(NULL AS {duckdb_type(c)}) AS "{c["name"].replace(chr(34), chr(34) * 2)}"'
        for c in columns
    )
    return f"(SELECT {names} WHERE FALSE)"


class FrontControl:
    """A client of a running front's control route (for tests and benchmarks in other processes)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{CONTROL}{name}", data=data)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Change the settings given (none: read them); returns them all."""
        return self._call("settings", changes or None)

    def counters(self) -> dict[str, Any]:
        return self._call("counters")

    def reset(self) -> dict[str, Any]:
        """Settings back to the front's start, counters to zero."""
        return self._call("reset", {})

    def workload_identities(self, users: dict[str, str] | None = None) -> dict[str, Any]:
        """Register service users' ARNs (none: read them), with the refusals so far."""
        return self._call("workload_identities", users or None)

    def stages(self, **changes: Any) -> dict[str, Any]:
        """Change the stage settings given (``StageSettings``); returns settings and counters."""
        return self._call("stages", changes)

    def forget(self, query_id: str) -> bool:
        return self._call("forget", {"query_id": query_id})["forgotten"]

    def derived_secrets(self) -> list[str]:
        """The session and master tokens the front handed out, and the JWTs or attestations
        sessions signed in with: what a log must never show."""
        return self._call("derived_secrets")["secrets"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-port", type=int, required=True, help="fakesnow's port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--settings", default="{}", help="FrontSettings as JSON (switch -> value)")
    parser.add_argument("--spool", type=Path, help="where chunks are kept (default: a temp dir)")
    parser.add_argument("--sts-url", help="the STS stand-in for WORKLOAD_IDENTITY logins")
    parser.add_argument(
        "--workload-identities", default="{}", help="service user -> registered ARN, as JSON"
    )
    args = parser.parse_args()
    settings = FrontSettings().updated(json.loads(args.settings))
    front = SnowflakeFront(
        args.upstream_port, settings=settings, host=args.host, port=args.port, spool=args.spool,
        sts_url=args.sts_url, workload_identities=json.loads(args.workload_identities),
    )  # fmt: skip
    front.serve_forever()


if __name__ == "__main__":
    main()

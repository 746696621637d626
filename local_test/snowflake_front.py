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
- query statuses other than RUNNING/SUCCESS, asynchronous queries that run a while and are
  cancelled when the session that submitted them logs out, and results in JSON for a session
  whose ``PYTHON_CONNECTOR_QUERY_RESULT_FORMAT`` (or the account's) is JSON;
- ``WORKLOAD_IDENTITY`` logins verified as Snowflake does for AWS (``workload_identity_check``):
  the signed ``GetCallerIdentity`` is executed against the STS stand-in (``sts_url``) and only
  the service user whose registered ARN matches is signed in (``workload_identities``).

Tests in another process read and change it through ``/__front/`` (settings, counters, reset,
forget). Standard library and pyarrow only: it runs in the stand-ins' own environment, as a
process (``python snowflake_front.py --upstream-port P --port Q``) or inside a test.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import re
import sys
import threading
import traceback
import urllib.request
import uuid
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import workload_identity_check
from result_store import ERROR_STATUSES, ChunkSettings, ResultStore, write_throttled

# What Snowflake answers to a login with a wrong password (and, for JWT, with a key it does not
# know): ``success`` false, a GS error code and a message; the connector raises DatabaseError.
WRONG_PASSWORD = {"code": "390100", "message": "Incorrect username or password was specified."}
INVALID_JWT = {"code": "390144", "message": "JWT token is invalid. [6d1cbbb4-0f8b-4e0f-9a1c]"}
NO_WAREHOUSE = {
    "code": "000606",
    "sqlState": "57P03",
    "message": "No active warehouse selected in the current session.  Select an active "
    "warehouse with the 'use warehouse' command.\n",
}
# What Snowflake answers for a result it no longer holds (snowflake-connector-python issue 1596).
RESULT_GONE = {"code": "000710", "sqlState": "02000", "message": "Result for query {} has expired"}
# The session parameters Snowflake's login reply carries (the connector reads them at sign-in);
# the account defaults, as documented (TIMEZONE: America/Los_Angeles), and the client's own.
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
ABORT_ROUTE = re.compile(r"^/queries/([^/]+)/abort-request$")
STATEMENT_TIMEOUT = "STATEMENT_TIMEOUT_IN_SECONDS"
SET_RESULT_FORMAT = re.compile(
    r"^\s*alter\s+session\s+set\s+python_connector_query_result_format\s*=\s*'?(\w+)'?", re.I
)
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
RESULT_ROUTE = re.compile(r"^/queries/([^/]+)/result$")
MONITORING_ROUTE = re.compile(r"^/monitoring/queries/+([^/]+)$")
CHUNK_ROUTE = re.compile(r"^/results/([^/]+)/(\d+)$")


class SnowflakeFront:
    """Listens on ``host:port`` (0: a free port); forwards to fakesnow on ``upstream_port``.

    login_failure: answer every login with this failure (no upstream needed).
    unknown_databases: forward logins naming one of these databases without it, as Snowflake
        opens a session without a database when the named one does not exist or may not be used.
    query_failure: answer every statement that needs a warehouse with this failure.
    settings: how results are cut and served (``ChunkSettings``; default: whole, inline).
    sts_url: the STS stand-in that ``WORKLOAD_IDENTITY`` attestations are executed against.
    workload_identities: service user -> registered ARN (``WORKLOAD_IDENTITY = (TYPE = AWS ARN
        = ...)``); also set through ``/__front/workload_identities``.
    """

    def __init__(
        self,
        upstream_port: int | None = None,
        login_failure: dict | None = None,
        unknown_databases: tuple[str, ...] = (),
        query_failure: dict | None = None,
        settings: ChunkSettings | None = None,
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
        self.store = ResultStore(settings or ChunkSettings(), spool)
        self.sts_url = sts_url
        self.workload_identities = {k.upper(): v for k, v in (workload_identities or {}).items()}
        self.workload_identity_refusals: list[str] = []  # why each refused attestation failed
        self.logins: list[dict] = []  # each login request's JSON body
        self.login_parameters: list[dict] = []  # and its URL parameters (databaseName, ...)
        self.readers: dict[str, int] = {}  # session token -> session number (1, 2, ...)
        self.result_formats: dict[str, str] = {}  # session token -> the format it asked for
        self.statement_timeouts: dict[str, float] = {}  # session token -> its statement timeout
        self.forwarded_queries = 0
        self.held_tables: dict[str, bool] = {}  # fakesnow tables holding a result RESULT_SCAN reads
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SnowflakeFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self.store.close()

    def environ(self) -> dict[str, str]:
        """The job environment that sends the connector here."""
        return {"SNOWFLAKE_HOST": "127.0.0.1", "SNOWFLAKE_PORT": str(self.port)}

    def reader(self, authorization: str | None) -> int:
        with self._lock:
            return self.readers.get(_token(authorization), 0)

    def result_format(self, authorization: str | None) -> str:
        """ARROW or JSON: what the session asked for, else the account's default."""
        with self._lock:
            asked = self.result_formats.get(_token(authorization))
        return asked or self.store.settings.account_result_format

    def control(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``/__front/<name>``: settings (read, or change with a body), counters, reset, forget."""
        if name == "settings":
            if body:
                self.store.settings = self.store.settings.updated(body)
            return asdict(self.store.settings)
        if name == "counters":
            counters = self.store.counters()
            with self._lock:
                counters.update(logins=len(self.logins), forwarded_queries=self.forwarded_queries)
            return counters
        if name == "reset":
            self.store.settings = self.store.initial_settings
            self.store.reset_counters()
            with self._lock:
                self.forwarded_queries = 0
            return asdict(self.store.settings)
        if name == "workload_identities":
            if body:
                self.workload_identities = {k.upper(): v for k, v in body.items()}
            return {"users": self.workload_identities, "refusals": self.workload_identity_refusals}
        if name == "forget":
            return {"forgotten": self.store.forget(body["query_id"])}
        raise KeyError(name)


def _handler(front: SnowflakeFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

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
            front.store.answered_in_progress(answer["code"])
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

        def _upstream(self, raw: bytes, path: str, plain: bool = False) -> tuple[int, list, bytes]:
            """Forward to fakesnow; ``plain``: a body of our own (not gzip, new length)."""
            upstream = http.client.HTTPConnection("127.0.0.1", front.upstream_port, timeout=600)
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

        def _relay(self, status: int, headers: list, body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _base_url(self) -> str:
            return f"http://{self.headers.get('Host', f'127.0.0.1:{front.port}')}"

        def _reader(self) -> int:
            return front.reader(self.headers.get("Authorization"))

        def _result_format(self) -> str:
            return front.result_format(self.headers.get("Authorization"))

        def _result_answer(self, query_id: str, new_query_id: str | None = None) -> bool:
            data = front.store.answer(
                query_id, self._base_url(), self._reader(), new_query_id, self._result_format()
            )
            if data is None:
                return False
            self._answer({"data": data, "code": None, "message": None, "success": True})
            return True

        def _result_scan(self, query_id: str) -> bool:
            """A RESULT_SCAN: a new query; its rows reordered when the settings say so."""
            new_query_id = str(uuid.uuid4())
            if not front.store.settings.result_scan_shuffles:
                return self._result_answer(query_id, new_query_id)
            if front.store.result_scan(query_id, new_query_id) is None:
                return False
            return self._result_answer(new_query_id)

        def _ended(self, query_id: str) -> bool:
            """Answer the error a query ended with, if it did; whether it did."""
            ended = front.store.ended_with(query_id)
            if ended:
                failure = front.store.failure(query_id) or _status_failure(ended)
                self._failure(failure, query_id)
            return bool(ended)

        def _until_done(self, query_id: str) -> bool:
            """Hold while a timed query runs (at most ``in_progress_hold_seconds``), then answer
            "in progress" or its error; False: it is done, the caller answers its result."""
            hold = front.store.settings.in_progress_hold_seconds
            if not front.store.wait_while_running(query_id, hold):
                self._answer_in_progress(query_id, front.store.is_synchronous(query_id))
                return True
            return self._ended(query_id)

        def _by_id(self, query_id: str) -> None:
            """``GET /queries/{id}/result``: the original result as it was stored, once done."""
            if self._until_done(query_id):
                return
            data = front.store.read_by_id(
                query_id, self._base_url(), self._reader(), self._result_format()
            )
            if data is None and front.store.was_forgotten(query_id):
                self._gone(query_id)
                return
            if data is None:
                message = STATEMENT_NOT_FOUND["message"].format(query_id)
                self._failure({**STATEMENT_NOT_FOUND, "message": message}, query_id)
                return
            self._answer({"data": data, "code": None, "message": None, "success": True})

        def _login(self, raw: bytes, url: Any) -> None:
            front.logins.append(self._json(raw))
            front.login_parameters.append(dict(parse_qsl(url.query)))
            if front.login_failure is not None:
                data = {"nextAction": "RETRY_LOGIN", "signInOptions": {}}
                self._answer({**front.login_failure, "data": data, "success": False})
                return
            login = self._json(raw)
            if login.get("data", {}).get("AUTHENTICATOR") == "WORKLOAD_IDENTITY":
                raw = self._workload_identity_login(login)
                if raw is None:
                    return
            query = parse_qsl(url.query)
            if any(k == "databaseName" and v.upper() in front.unknown_databases for k, v in query):
                query = [(k, v) for k, v in query if k != "databaseName"]
            status, headers, body = self._upstream(raw, f"{url.path}?{urlencode(query)}")
            document = json.loads(body)
            data = document.get("data") or {}
            if document.get("success") and "token" in data:
                asked = (login.get("data") or {}).get("SESSION_PARAMETERS") or {}
                asked = {str(k).upper(): str(v).upper() for k, v in asked.items()}
                with front._lock:
                    reader = front.readers[data["token"]] = len(front.readers) + 1
                    if RESULT_FORMAT in asked:
                        front.result_formats[data["token"]] = asked[RESULT_FORMAT]
                    if asked.get(STATEMENT_TIMEOUT, "").isdigit():
                        front.statement_timeouts[data["token"]] = float(asked[STATEMENT_TIMEOUT])
                # Fields Snowflake's login reply has and connector 5.x requires.
                data.setdefault("masterToken", f"master-{uuid.uuid4()}")
                data.setdefault("sessionId", reader)
                data.setdefault("validityInSeconds", 3600)
                data.setdefault("masterValidityInSeconds", 14400)
                if front.store.settings.login_session_parameters:
                    data["parameters"] = _login_parameters(
                        self._json(raw), data, front.store.settings.account_result_format
                    )
                body = json.dumps(document).encode()
            self._relay(status, headers, body)

        def _workload_identity_login(self, login: dict) -> bytes | None:
            """Verify the attestation; the login to forward as the matched user, or None."""
            data = login["data"]
            try:
                if data.get("PROVIDER") != "AWS" or not front.sts_url:
                    raise workload_identity_check.Refused("only AWS attestations are checked")
                arn = workload_identity_check.caller_arn(
                    data.get("TOKEN", ""), front.sts_url, urlsplit(front.sts_url).hostname or ""
                )
                user = workload_identity_check.matching_user(
                    arn, data.get("LOGIN_NAME"), front.workload_identities
                )
            except workload_identity_check.Refused as refusal:
                with front._lock:
                    front.workload_identity_refusals.append(str(refusal))
                failure = {**WORKLOAD_IDENTITY_REFUSED, "data": {"nextAction": "RETRY_LOGIN"}}
                self._answer({**failure, "success": False})
                return None
            # fakesnow signs anyone in: forward as the matched user, without the attestation.
            forwarded = {k: v for k, v in data.items() if k not in ("TOKEN", "PROVIDER")}
            forwarded.update(LOGIN_NAME=user, AUTHENTICATOR="SNOWFLAKE", PASSWORD="-")
            body = json.dumps({**login, "data": forwarded}).encode()
            return gzip.compress(body) if self.headers.get("Content-Encoding") == "gzip" else body

        def _query(self, raw: bytes, path: str) -> None:
            request = self._json(raw)
            sql = request.get("sqlText", "")
            plain = False  # the body is still the client's
            if front.query_failure and not sql.strip().upper().startswith("SELECT CURRENT_"):
                self._failure(front.query_failure)
                return
            if match := SET_RESULT_FORMAT.match(sql):
                with front._lock:
                    front.result_formats[_token(self.headers.get("Authorization"))] = match.group(
                        1
                    ).upper()
            if match := CANCEL_QUERY.search(sql):
                cancelled = front.store.cancel(match.group(1))
                answer = (
                    f"query [{cancelled}] terminated."
                    if cancelled
                    else "Identified SQL statement is not currently executing."
                )
                sql = CANCEL_QUERY.sub(f"'{answer}'", sql)
                raw, plain = json.dumps({**request, "sqlText": sql}).encode(), True
            if match := RESULT_SCAN.match(sql):
                reopened = match.group(1)
                if self._result_scan(reopened):
                    return
                if front.store.was_forgotten(reopened):
                    self._gone(reopened)
                    return
            if NESTED_RESULT_SCAN.search(sql):
                rewritten = self._nested_result_scans(sql, path)
                if rewritten is None:
                    return
                raw, plain = json.dumps({**request, "sqlText": rewritten}).encode(), True
            for change in front.store.table_changes_before(sql):
                self._upstream(json.dumps({"sqlText": change}).encode(), path, plain=True)
            with front._lock:
                front.forwarded_queries += 1
            status, headers, body = self._upstream(raw, path, plain)
            document = json.loads(body) if body else {}
            data = document.get("data") or {}
            if document.get("success") is False:  # in the front's log, for whoever debugs a test
                print(f"upstream refused: {document.get('message')!r}", file=sys.stderr, flush=True)
            if (
                status == 200
                and document.get("success")
                and data.get("queryResultFormat") == "arrow"
                and "rowtype" in data
                and not request.get("describeOnly")
            ):
                front.store.hold(data)
                query_id = data["queryId"]
                token = _token(self.headers.get("Authorization"))
                with front._lock:
                    timeout = front.statement_timeouts.get(token, 0.0)
                request_id = dict(parse_qsl(urlsplit(path).query)).get("requestId")
                submission = front.store.submitted(
                    query_id, token, sql, not request.get("asyncExec"), timeout, request_id
                )
                if submission is not None and not submission.synchronous:
                    if front.store.running(query_id):
                        self._answer_in_progress(query_id, synchronous=False)
                        return
                elif submission is not None and self._until_done(query_id):
                    return
                if self._result_answer(query_id):
                    return
            self._relay(status, headers, body)

        def _nested_result_scans(self, sql: str, path: str) -> str | None:
            """``TABLE(RESULT_SCAN('<id>'))`` inside a statement reads the held result (as
            Snowflake reads its stored result): fakesnow only knows the bare form, so the front
            copies the held rows into a table of its own once and names that instead. None: the
            answer (result gone) was sent."""
            for query_id in set(NESTED_RESULT_SCAN.findall(sql)):
                parquet = front.store.parquet_of(query_id)
                if parquet is None:
                    if front.store.was_forgotten(query_id):
                        self._gone(query_id)
                        return None
                    columns = front.store.columns_of(query_id)
                    if columns is not None:  # held, with no rows: the same columns, empty
                        sql = re.sub(_nested(query_id), _empty_relation(columns), sql, flags=re.I)
                    continue
                table = f"FRONT_HELD.RESULTS.R_{query_id.replace('-', '_').upper()}"
                if front.held_tables.setdefault(table, False) is False:
                    for statement in (
                        "CREATE DATABASE IF NOT EXISTS FRONT_HELD",
                        "CREATE SCHEMA IF NOT EXISTS FRONT_HELD.RESULTS",
                        f"CREATE OR REPLACE TABLE {table} AS "
                        f"SELECT * FROM read_parquet('{parquet}')",
                    ):
                        self._upstream(json.dumps({"sqlText": statement}).encode(), path, True)
                    front.held_tables[table] = True
                sql = re.sub(_nested(query_id), table, sql, flags=re.I)
            return sql

        def _control(self, raw: bytes, name: str) -> None:
            try:
                self._answer(front.control(name, self._json(raw) if raw else {}))
            except (KeyError, ValueError, TypeError) as error:
                self._answer({"error": str(error)}, status=400)

        def _handle(self) -> None:
            raw = self._body()
            url = urlsplit(self.path)
            if url.path.startswith(CONTROL):
                self._control(raw, url.path[len(CONTROL) :])
            elif url.path == "/session/v1/login-request":
                self._login(raw, url)
            elif url.path == "/queries/v1/query-request":
                self._query(raw, self.path)
            elif match := CHUNK_ROUTE.match(url.path):
                front.store.serve_chunk(
                    match.group(1), int(match.group(2)), dict(parse_qsl(url.query)),
                    self.headers,
                    lambda status, body, rate=0: self._send(
                        status, body, "application/octet-stream" if status == 200
                        else "application/xml", rate),
                )  # fmt: skip
            elif url.path == "/session" and dict(parse_qsl(url.query)).get("delete") == "true":
                front.store.logged_out(_token(self.headers.get("Authorization")))
                self._relay(*self._upstream(raw, self.path))
            elif match := RESULT_ROUTE.match(url.path):
                self._by_id(match.group(1))
            elif url.path == "/queries/v1/abort-request":
                # Connector 4.x's cancel of its own statement (its timeout, or a cancel):
                # the statement is named by the request id that submitted it.
                front.store.cancel(request_id=str(self._json(raw).get("requestId", "")))
                self._answer({"data": None, "code": None, "message": None, "success": True})
            elif match := ABORT_ROUTE.match(url.path):
                cancelled = front.store.cancel(match.group(1))
                self._answer({"data": None, "success": cancelled is not None})
            elif match := MONITORING_ROUTE.match(url.path):
                query_id = match.group(1)
                if front.store.holds(query_id):
                    status = front.store.status(query_id)
                    query = {"id": query_id, "status": status}
                    if status in ERROR_STATUSES:
                        failure = front.store.failure(query_id) or _status_failure(status)
                        query.update(errorCode=failure["code"], errorMessage=failure["message"])
                    queries = [query] if status is not None else []  # None: nothing known yet
                    self._answer({"data": {"queries": queries}, "success": True})
                else:
                    self._relay(*self._upstream(raw, f"/monitoring/queries/{query_id}"))
            else:
                self._relay(*self._upstream(raw, self.path))

        def _handle_logged(self) -> None:
            try:
                self._handle()
            except Exception:
                traceback.print_exc(file=sys.stderr)
                raise

        do_GET = do_POST = _handle_logged

    return Handler


def _token(authorization: str | None) -> str:
    return (authorization or "")[17:-1]  # Snowflake Token="..."


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

    def forget(self, query_id: str) -> bool:
        return self._call("forget", {"query_id": query_id})["forgotten"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-port", type=int, required=True, help="fakesnow's port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--settings", default="{}", help="ChunkSettings as JSON")
    parser.add_argument("--spool", type=Path, help="where chunks are kept (default: a temp dir)")
    parser.add_argument("--sts-url", help="the STS stand-in for WORKLOAD_IDENTITY logins")
    parser.add_argument(
        "--workload-identities", default="{}", help="service user -> registered ARN, as JSON"
    )
    args = parser.parse_args()
    settings = ChunkSettings().updated(json.loads(args.settings))
    front = SnowflakeFront(
        args.upstream_port, settings=settings, host=args.host, port=args.port, spool=args.spool,
        sts_url=args.sts_url, workload_identities=json.loads(args.workload_identities),
    )  # fmt: skip
    front.serve_forever()


if __name__ == "__main__":
    main()

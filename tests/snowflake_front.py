"""An HTTP server in front of the Snowflake stand-in, answering some requests as Snowflake does.

fakesnow accepts any credentials, creates any database a session names and has no warehouses.
Real Snowflake refuses a wrong password at login, leaves a session without a database when the
named one does not exist or may not be used, and refuses queries without a usable warehouse.
This front forwards everything to fakesnow except what a test asks it to answer itself, with
the response bodies Snowflake sends (the real connector reads them and raises its real errors).
It also records each login request, so tests can check what the connector sent.
"""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

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


class SnowflakeFront:
    """Listens on 127.0.0.1:``port``; forwards to ``upstream_port`` unless told otherwise.

    login_failure: answer every login with this failure (no upstream needed).
    unknown_databases: forward logins naming one of these databases without it, as Snowflake
        opens a session without a database when the named one does not exist or may not be used.
    query_failure: answer every statement that needs a warehouse with this failure.
    """

    def __init__(
        self,
        upstream_port: int | None = None,
        login_failure: dict | None = None,
        unknown_databases: tuple[str, ...] = (),
        query_failure: dict | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.login_failure = login_failure
        self.unknown_databases = {name.upper() for name in unknown_databases}
        self.query_failure = query_failure
        self.logins: list[dict] = []  # each login request's JSON body
        self.login_parameters: list[dict] = []  # and its URL parameters (databaseName, ...)
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return raw

            def _json(self, raw: bytes) -> dict:
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                return json.loads(raw or b"{}")

            def _answer(self, document: dict) -> None:
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, raw: bytes, path: str) -> None:
                upstream = http.client.HTTPConnection("127.0.0.1", front.upstream_port, timeout=60)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                upstream.request(self.command, path, body=raw or None, headers=headers)
                response = upstream.getresponse()
                body = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                upstream.close()

            def _handle(self) -> None:
                raw = self._body()
                url = urlsplit(self.path)
                path = self.path
                if url.path == "/session/v1/login-request":
                    front.logins.append(self._json(raw))
                    front.login_parameters.append(dict(parse_qsl(url.query)))
                    if front.login_failure is not None:
                        data = {"nextAction": "RETRY_LOGIN", "signInOptions": {}}
                        self._answer({**front.login_failure, "data": data, "success": False})
                        return
                    query = parse_qsl(url.query)
                    if any(
                        k == "databaseName" and v.upper() in front.unknown_databases
                        for k, v in query
                    ):
                        query = [(k, v) for k, v in query if k != "databaseName"]
                        path = f"{url.path}?{urlencode(query)}"
                elif url.path == "/queries/v1/query-request" and front.query_failure:
                    sql = self._json(raw).get("sqlText", "").strip().upper()
                    if not sql.startswith("SELECT CURRENT_"):
                        failure = dict(front.query_failure)
                        data = {
                            "errorCode": failure["code"],
                            "sqlState": failure.pop("sqlState"),
                            "queryId": str(uuid.uuid4()),
                            "internalError": False,
                            "line": -1,
                            "pos": -1,
                            "type": "COMPILATION",
                        }
                        self._answer({**failure, "data": data, "success": False})
                        return
                self._forward(raw, path)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SnowflakeFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def environ(self) -> dict[str, str]:
        """The job environment that sends the connector here."""
        return {"SNOWFLAKE_HOST": "127.0.0.1", "SNOWFLAKE_PORT": str(self.port)}

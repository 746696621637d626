"""An HTTP server in front of moto's SageMaker API, answering ``Describe*`` as SageMaker does.

moto describes what was created without an optional structure with that structure empty (a
model's ``"VpcConfig": {}``, an endpoint configuration's ``"DataCaptureConfig": {}``); SageMaker
leaves such keys out. SDK v3's resource classes (``sagemaker.core.resources``) refuse the empty
objects (their required fields are missing), so ``Model.create`` and ``EndpointConfig.create``
fail on moto alone. This front forwards every request to moto and drops the empty top-level
objects from the replies of SageMaker's ``Describe*`` actions.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SageMakerFront:
    """Listens on 127.0.0.1 (``url``); forwards to moto at 127.0.0.1:``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SageMakerFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream_port = self.upstream_port

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                if self.headers.get("X-Amz-Target", "").startswith("SageMaker.Describe"):
                    document = json.loads(data)
                    data = json.dumps({k: v for k, v in document.items() if v != {}}).encode()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        return Handler

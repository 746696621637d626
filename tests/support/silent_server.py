"""An endpoint that accepts connections and never answers (``SilentServer``): a black-holed
Snowflake, where the job's waits must be bounded and a SIGTERM must still stop it.
"""

from __future__ import annotations

import socket
import threading


class SilentServer:
    """Listens on a free loopback port, accepts every connection and holds it, silent, until
    closed. A context manager; ``connections`` says how many it has accepted."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()

    @property
    def connections(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed
                return
            self._held.append(connection)

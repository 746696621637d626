"""Whether the other hosts are still there, and how far each has come.

XGBoost notices a dead peer only when it reads from that peer's socket; a host blocked in a
collective step with the others can otherwise wait for the whole collective timeout. So every
host answers on a small liveness port (the tracker port + 1), and a watchdog probes the peers'
ports: a peer that misses :data:`WATCHDOG_MISSES` probes in a row is lost, and the watchdog
calls back (``Hosts`` then ends the process with a reason naming the lost host).

Each answer also carries the host's ``Progress``: how many meeting points it has reached and
how many units of bounded work (a statement, a chunk) it has finished, so a host that waits
for a busy peer can tell a peer that works from one that is stuck (``hosts``).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PROBE_TIMEOUT_SECONDS = 3.0
WATCHDOG_INTERVAL_SECONDS = 5.0
WATCHDOG_MISSES = 2
LEAVE_WAIT_SECONDS = 30.0
EXIT_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Progress:
    """How far a host has come: meeting points reached, units of bounded work finished."""

    reached: int = 0
    work_done: int = 0

    def encode(self) -> bytes:
        return f"{self.reached} {self.work_done}\n".encode()

    @classmethod
    def decode(cls, answer: bytes) -> Progress | None:
        try:
            reached, work_done = answer.split()
            return cls(int(reached), int(work_done))
        except ValueError:
            return None


def answers(address: str, port: int) -> bool:
    """Whether something accepts a connection on ``address:port`` within the probe timeout."""
    try:
        with socket.create_connection((address, port), PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def progress_of(address: str, port: int) -> Progress | None:
    """The progress a peer reports now (None: it does not answer)."""
    try:
        with socket.create_connection((address, port), PROBE_TIMEOUT_SECONDS) as connection:
            connection.settimeout(PROBE_TIMEOUT_SECONDS)
            answer = b""
            while chunk := connection.recv(64):
                answer += chunk
            return Progress.decode(answer)
    except OSError:
        return None


class LivenessServer:
    """Answers each connection with this host's ``Progress`` and closes it, so peers can tell
    this process is alive and how far it has come."""

    def __init__(self, address: str, port: int) -> None:
        self._socket = socket.create_server((address, port), reuse_port=False)
        self._socket.settimeout(1.0)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._progress = Progress()
        self._thread = threading.Thread(target=self._serve, name="liveness", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            with connection, contextlib.suppress(OSError):  # a probe may hang up at once
                connection.sendall(self.progress.encode())

    @property
    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    def reach(self) -> int:
        """Count one more meeting point reached; return its number (1, 2, ...)."""
        with self._lock:
            self._progress = Progress(self._progress.reached + 1, self._progress.work_done)
            return self._progress.reached

    def work_done(self) -> None:
        """Count one more unit of bounded work finished."""
        with self._lock:
            self._progress = Progress(self._progress.reached, self._progress.work_done + 1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()


class Peers:
    """The other hosts' liveness ports."""

    def __init__(self, addresses: Mapping[str, str], current_host: str, port: int) -> None:
        self.addresses = {h: a for h, a in addresses.items() if h != current_host}
        self.port = port

    def unreachable(self) -> list[str]:
        """The peers whose liveness port does not answer now, in name order."""
        return sorted(h for h, a in self.addresses.items() if not answers(a, self.port))

    def progress(self) -> dict[str, Progress | None]:
        """Each peer's progress now (None: it did not answer)."""
        return {h: progress_of(a, self.port) for h, a in self.addresses.items()}


class PeerWatchdog:
    """Calls ``on_lost(hosts)`` once peers miss :data:`WATCHDOG_MISSES` probes in a row."""

    def __init__(self, peers: Peers, on_lost: Callable[[list[str]], None]) -> None:
        self._peers = peers
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peer-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        misses: dict[str, int] = {}
        while not self._stop.wait(WATCHDOG_INTERVAL_SECONDS):
            unreachable = set(self._peers.unreachable())
            misses = {host: misses.get(host, 0) + 1 for host in unreachable}
            lost = sorted(host for host, count in misses.items() if count >= WATCHDOG_MISSES)
            if lost and not self._stop.is_set():
                self._on_lost(lost)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=PROBE_TIMEOUT_SECONDS * 4)


def wait_until_gone(address: str, port: int) -> None:
    """Wait (at most :data:`LEAVE_WAIT_SECONDS`) until ``address`` stops answering on ``port``.

    Workers let the coordinator, whose work ends last (the model), exit first: SageMaker's
    local mode stops every container once one exits. A SIGTERM during this wait is that stop
    after the job's end, not an interruption, so it is absorbed.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: None) if in_main_thread else None
    try:
        deadline = time.monotonic() + LEAVE_WAIT_SECONDS
        while time.monotonic() < deadline and answers(address, port):
            time.sleep(0.1)
        time.sleep(EXIT_GRACE_SECONDS)  # its port closes just before its process ends
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)

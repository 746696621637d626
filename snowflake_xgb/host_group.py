"""The hosts of one job, joined into XGBoost's collective: who coordinates, and no endless waits.

Hosts are sorted; rank = index; host 0 runs XGBoost's tracker (``RabitTracker``) and every host
joins with ``collective.init``. Each wait is bounded: host names must resolve within
``host_timeout`` (capped exponential backoff), joining retries until the same deadline, and each
collective step fails after ``collective_timeout``. Every host also answers on a small liveness
port (tracker port + 1) and watches its peers' ports: when a host dies, the others end within
seconds with a failure reason that names it, instead of waiting out a collective timeout or
reporting only a broken socket. Hosts leave the group together (one last collective step),
so a host that finishes first is never taken for a lost one, and the workers exit after the
coordinator, whose work (the model) ends last.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import xgboost as xgb
from sagemaker_training import files
from xgboost import collective
from xgboost.tracker import RabitTracker

from .errors import UserError

logger = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_TIMEOUT_SECONDS = 3.0
PROBE_ATTEMPTS = 5
WATCHDOG_INTERVAL_SECONDS = 5.0
WATCHDOG_MISSES = 2
LEAVE_WAIT_SECONDS = 30.0
EXIT_GRACE_SECONDS = 2.0
TRACKER_SHUTDOWN_SECONDS = 30


class HostLostError(UserError):
    """Another host stopped answering, so this one cannot go on."""


def wait_for_names(hosts: Sequence[str], timeout: float) -> dict[str, str]:
    """Resolve every host name to an address, retrying with capped backoff until ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    addresses: dict[str, str] = {}
    while True:
        for host in hosts:
            if host not in addresses:
                with contextlib.suppress(socket.gaierror):
                    addresses[host] = socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
        missing = [host for host in hosts if host not in addresses]
        if not missing:
            return addresses
        if time.monotonic() + delay > deadline:
            raise UserError(
                f"Host name(s) {', '.join(missing)} did not resolve within {timeout:.0f}s: the "
                "training hosts cannot see each other (check the job's VPC/DNS settings)."
            )
        time.sleep(delay)
        delay = min(delay * 2, 10.0)


class _LivenessServer:
    """Accepts and closes connections on a port, so peers can tell this process is alive."""

    def __init__(self, address: str, port: int) -> None:
        self._socket = socket.create_server((address, port), reuse_port=False)
        self._socket.settimeout(1.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="liveness", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
                connection.close()
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()


class _PeerWatchdog:
    """Ends this process when a peer stops answering, even inside a blocked collective step.

    XGBoost notices a dead peer only when it reads from that peer's socket; a host blocked in a
    step with the others can otherwise wait for the whole collective timeout. The watchdog
    probes every peer's liveness port; a peer that misses ``WATCHDOG_MISSES`` probes in a row
    is lost: the reason, naming it, goes to the failure file and the process exits non-zero.
    """

    def __init__(self, group: HostGroup) -> None:
        self._group = group
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peer-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        misses: dict[str, int] = {}
        while not self._stop.wait(WATCHDOG_INTERVAL_SECONDS):
            unreachable = set(self._group.unreachable_peers())
            misses = {host: misses.get(host, 0) + 1 for host in unreachable}
            lost = sorted(host for host, count in misses.items() if count >= WATCHDOG_MISSES)
            if lost and not self._stop.is_set():
                self._group.abort(
                    f"Lost host(s) {', '.join(lost)}: they stopped answering for "
                    f"{WATCHDOG_MISSES * WATCHDOG_INTERVAL_SECONDS:.0f}s, so host "
                    f"{self._group.current_host} stops too. The lost host's own log says why "
                    "it stopped (instance failure, out of memory, or its own error)."
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=PROBE_TIMEOUT_SECONDS * 4)


class HostGroup:
    """This host's membership in the job: rank, world size and the collective operations."""

    def __init__(
        self,
        hosts: Sequence[str],
        current_host: str,
        port: int,
        host_timeout: int,
        collective_timeout: int,
    ) -> None:
        self.hosts = tuple(sorted(hosts))
        self.current_host = current_host
        self.rank = self.hosts.index(current_host)
        self.world = len(self.hosts)
        self._port = port
        self._host_timeout = host_timeout
        self._collective_timeout = collective_timeout
        self._addresses: dict[str, str] = {}
        self._tracker: RabitTracker | None = None
        self._liveness: _LivenessServer | None = None
        self._watchdog: _PeerWatchdog | None = None
        self._joined = False

    @property
    def is_coordinator(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world > 1

    def __enter__(self) -> HostGroup:
        if self.is_distributed:
            self._join()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._leave(failed=exc_type is not None)

    def _join(self) -> None:
        started = time.monotonic()
        self._addresses = wait_for_names(self.hosts, self._host_timeout)
        own_address = self._addresses[self.current_host]
        self._liveness = _LivenessServer(own_address, self._port + 1)
        coordinator = self._addresses[self.hosts[0]]
        if self.is_coordinator:
            try:
                self._tracker = RabitTracker(
                    n_workers=self.world,
                    host_ip=coordinator,
                    port=self._port,
                    sortby="task",
                    timeout=self._host_timeout,
                )
            except xgb.core.XGBoostError:
                raise UserError(
                    f"The coordinator {self.current_host} could not listen on port {self._port} "
                    "for the other hosts (in use?): set hyperparameter tracker_port to a free port."
                ) from None
            self._tracker.start()
            logger.info(
                "Tracker for %d hosts listening on %s:%d", self.world, coordinator, self._port
            )

        arguments = {
            "dmlc_tracker_uri": coordinator,
            "dmlc_tracker_port": self._port,
            "dmlc_task_id": f"{self.rank:05d}",
            "dmlc_timeout": self._collective_timeout,
            "dmlc_retry": 2,
        }
        deadline = started + self._host_timeout
        while True:
            try:
                with warnings.catch_warnings():  # XGBoost warns on each refused connection
                    warnings.simplefilter("ignore")
                    collective.init(**arguments)
                break
            except xgb.core.XGBoostError:
                # The coordinator's tracker may not be up yet (hosts start at different times).
                if time.monotonic() > deadline:
                    raise UserError(
                        f"Host {self.current_host} could not join the coordinator "
                        f"{self.hosts[0]} on port {self._port} within {self._host_timeout}s: "
                        "check that the coordinator started and that the hosts may reach "
                        "each other on this port (security group)."
                    ) from None
                time.sleep(2.0)
        self._joined = True
        self._watchdog = _PeerWatchdog(self)
        if collective.get_rank() != self.rank:
            raise RuntimeError(
                f"collective gave rank {collective.get_rank()}, expected {self.rank}"
            )
        logger.info(
            "Host %s joined as rank %d of %d in %.1fs",
            self.current_host, self.rank, self.world, time.monotonic() - started,
        )  # fmt: skip

    def _stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None

    def abort(self, reason: str) -> None:
        """Record ``reason`` as the job's failure and end the process now (from any thread)."""
        logger.error(reason)
        try:
            files.write_failure_file(reason)
        finally:
            logging.shutdown()
            os._exit(1)

    def _leave(self, failed: bool) -> None:
        if self._joined and not failed:
            # Hosts leave together, so none that is still working takes a finished one for lost.
            try:
                collective.allreduce(np.zeros(1), collective.Op.SUM)
            except xgb.core.XGBoostError as error:
                self._release(failed=True)
                raise self.explain_collective_failure(error, "leaving the host group") from None
        self._release(failed)
        if self.is_distributed and not self.is_coordinator and not failed:
            self._wait_for_coordinator_to_leave()

    def _release(self, failed: bool) -> None:
        self._stop_watching()
        if self._joined:
            self._joined = False
            try:
                collective.finalize()
            except xgb.core.XGBoostError:
                logger.warning("The collective did not shut down cleanly")
        if self._tracker is not None:
            tracker, self._tracker = self._tracker, None
            if not failed:
                try:
                    tracker.wait_for(TRACKER_SHUTDOWN_SECONDS)
                except xgb.core.XGBoostError:
                    logger.warning(
                        "The tracker did not shut down within %ds", TRACKER_SHUTDOWN_SECONDS
                    )
            # free() reports a failed job's error again; the failure is already known by then.
            with contextlib.suppress(xgb.core.XGBoostError):
                tracker.free()
        if self._liveness is not None:
            self._liveness.close()
            self._liveness = None

    def broadcast(self, value: T) -> T:
        """Host 0's ``value`` on every host (any picklable object)."""
        if not self.is_distributed:
            return value
        return collective.broadcast((value,), 0)[0]  # wrapped: XGBoost refuses to send None

    def decide(self, decision: Callable[[], T], what: str) -> T:
        """Run ``decision`` on the coordinator only; every host gets its result or its error.

        A :class:`UserError` on the coordinator reaches every host with the same message, so
        no host waits for a result that will never come.
        """
        outcome: tuple[T | None, str | None] = (None, None)
        if self.is_coordinator:
            try:
                outcome = (decision(), None)
            except UserError as error:
                outcome = (None, str(error))
            except Exception:
                self.broadcast((None, f"The coordinator failed while {what}; see its log."))
                raise
        value, error = self.broadcast(outcome)
        if error is not None:
            raise UserError(error)
        return value

    def gather(self, value: float) -> list[float]:
        """Every host's ``value``, in rank order."""
        if not self.is_distributed:
            return [value]
        values = np.zeros(self.world, dtype=np.float64)
        values[self.rank] = value
        return [float(v) for v in collective.allreduce(values, collective.Op.SUM)]

    def _answers(self, host: str) -> bool:
        try:
            address = self._addresses.get(host, host)
            with socket.create_connection((address, self._port + 1), PROBE_TIMEOUT_SECONDS):
                return True
        except OSError:
            return False

    def unreachable_peers(self) -> list[str]:
        """The other hosts whose liveness port does not answer now."""
        return [h for h in self.hosts if h != self.current_host and not self._answers(h)]

    def _wait_for_coordinator_to_leave(self) -> None:
        """Let the coordinator, whose work ends last (the model), be the first host to exit.

        SageMaker's local mode stops every container once one exits: a worker that exits first
        gets the coordinator stopped while it finishes. A SIGTERM during this wait is that stop
        after the job's end, not an interruption, so it is absorbed.
        """
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda *_: None) if in_main_thread else None
        try:
            deadline = time.monotonic() + LEAVE_WAIT_SECONDS
            while time.monotonic() < deadline and self._answers(self.hosts[0]):
                time.sleep(0.1)
            time.sleep(EXIT_GRACE_SECONDS)  # its port closes just before its process ends
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)

    def explain_collective_failure(self, error: Exception, during: str) -> UserError:
        """Name the lost host(s) when a collective step fails."""
        for _ in range(PROBE_ATTEMPTS):  # a host that is going down may still answer briefly
            lost = self.unreachable_peers()
            if lost:
                break
            time.sleep(1.0)
        # XGBoost's message is a stack of "- [file:line|time]: reason" lines; keep the reasons.
        reasons = [
            line.split("]: ", 1)[1] for line in str(error).splitlines() if line.startswith("- [")
        ]
        reason = "; ".join(dict.fromkeys(reasons)) or str(error).strip().splitlines()[0]
        if lost:
            return HostLostError(
                f"Lost host(s) {', '.join(lost)} during {during}: they stopped answering, so "
                f"host {self.current_host} stops too. The lost host's own log says why it "
                "stopped (instance failure, out of memory, or its own error)."
            )
        return HostLostError(
            f"A collective step failed during {during} on host {self.current_host} (all hosts "
            f"still answer): {reason[:300]}. If a host is slow rather than gone, raise "
            "collective_timeout_seconds."
        )

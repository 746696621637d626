"""The hosts of one job, joined into XGBoost's collective: who coordinates, and no endless waits.

Hosts are sorted; rank = index; host 0 runs XGBoost's tracker (``RabitTracker``) and every host
joins with ``collective.init``. Each wait has one of three bounds:

1. a host that is gone: the watchdog (``liveness``) ends this host within seconds, with a reason
   naming the peer that stopped answering;
2. a host that is alive and busy with bounded work (the coordinator's statements, a slower
   host's downloads): the others wait at a meeting point (``wait_for_hosts``) outside XGBoost's
   collective, for as long as that work's own bound (``WorkBound``: ``query_timeout_seconds``
   for a statement, the download bound for a chunk), counted from the last unit the busy host
   finished;
3. an exchange among hosts that are all there: ``collective_timeout_seconds`` (XGBoost's
   ``dmlc_timeout``, one timeout for every collective operation of the communicator), so every
   collective step that follows busy work is entered only after its meeting point.

Host names must resolve within ``host_timeout_seconds`` (capped exponential backoff) and joining
retries until the same deadline. Hosts leave together (a meeting point, then one last
collective step), so a host that finishes first is never taken for a lost one, and the workers
exit after the coordinator, whose work (the model) ends last.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import xgboost as xgb
from xgboost import collective
from xgboost.tracker import RabitTracker

from ..config.job_config import HostsSettings
from ..errors import UserError
from ..sagemaker import failure
from .liveness import (
    WATCHDOG_INTERVAL_SECONDS,
    WATCHDOG_MISSES,
    LivenessServer,
    Peers,
    PeerWatchdog,
    Progress,
    wait_until_gone,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_ATTEMPTS = 5
TRACKER_SHUTDOWN_SECONDS = 30
MEETING_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class WorkBound:
    """How long hosts wait at a meeting point for a peer that is busy with bounded work: at
    most ``seconds`` after the peer last finished a unit of it; ``setting`` names the bound."""

    seconds: float
    setting: str


def statement_bound(query_timeout: float) -> WorkBound:
    """Waiting for a host that runs or waits for a Snowflake statement."""
    return WorkBound(query_timeout, "query_timeout_seconds")


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


def _lost_hosts_message(lost: Sequence[str], current_host: str, during: str) -> str:
    return (
        f"Lost host(s) {', '.join(lost)} {during}: they stopped answering, so host "
        f"{current_host} stops too. The lost host's own log says why it stopped (instance "
        "failure, out of memory, or its own error)."
    )


class Hosts:
    """This host's membership in the job: rank, world size and the collective operations."""

    def __init__(self, hosts: Sequence[str], current_host: str, settings: HostsSettings) -> None:
        self.names = tuple(sorted(hosts))
        self.current_host = current_host
        self.rank = self.names.index(current_host)
        self.world = len(self.names)
        self.settings = settings
        self._tracker: RabitTracker | None = None
        self._liveness: LivenessServer | None = None
        self._peers: Peers | None = None
        self._watchdog: PeerWatchdog | None = None
        self._joined = False

    @property
    def is_coordinator(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world > 1

    def __enter__(self) -> Hosts:
        if self.is_distributed:
            self._join()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._leave(failed=exc_type is not None)

    def _start_tracker(self, address: str) -> None:
        port = self.settings.tracker_port
        try:
            self._tracker = RabitTracker(
                n_workers=self.world,
                host_ip=address,
                port=port,
                sortby="task",
                timeout=self.settings.host_timeout_seconds,
            )
        except xgb.core.XGBoostError:
            raise UserError(
                f"The coordinator {self.current_host} could not listen on port {port} for the "
                "other hosts (in use?): set hyperparameter tracker_port to a free port."
            ) from None
        self._tracker.start()
        logger.info("Tracker for %d hosts listening on %s:%d", self.world, address, port)

    def _join(self) -> None:
        started = time.monotonic()
        timeout = self.settings.host_timeout_seconds
        addresses = wait_for_names(self.names, timeout)
        self._liveness = LivenessServer(addresses[self.current_host], self.settings.liveness_port)
        self._peers = Peers(addresses, self.current_host, self.settings.liveness_port)
        coordinator = addresses[self.names[0]]
        if self.is_coordinator:
            self._start_tracker(coordinator)
        # Every host joins XGBoost's collective only once all have started (and the tracker
        # listens): XGBoost's bootstrap waits for the others with the collective timeout.
        try:
            self.wait_for_hosts("joining", WorkBound(timeout, "host_timeout_seconds"))
        except UserError:
            raise self._cannot_join() from None
        arguments = {
            "dmlc_tracker_uri": coordinator,
            "dmlc_tracker_port": self.settings.tracker_port,
            "dmlc_task_id": f"{self.rank:05d}",
            "dmlc_timeout": self.settings.collective_timeout_seconds,
            "dmlc_retry": 2,
            # XGBoost 3.3+: each host listens for its peers here (0: a port the OS picks).
            "dmlc_worker_port": self.settings.worker_port,
        }
        deadline = started + timeout
        while True:
            try:
                with warnings.catch_warnings():  # XGBoost warns on each refused connection
                    warnings.simplefilter("ignore")
                    collective.init(**arguments)
                break
            except xgb.core.XGBoostError:
                # The coordinator's tracker may not be up yet (hosts start at different times).
                if time.monotonic() > deadline:
                    raise self._cannot_join() from None
                time.sleep(2.0)
        self._joined = True
        self._watchdog = PeerWatchdog(self._peers, self._on_lost_peers)
        if collective.get_rank() != self.rank:
            raise RuntimeError(
                f"collective gave rank {collective.get_rank()}, expected {self.rank}"
            )
        logger.info(
            "Host %s joined as rank %d of %d in %.1fs",
            self.current_host,
            self.rank,
            self.world,
            time.monotonic() - started,
        )

    def _cannot_join(self) -> UserError:
        return UserError(
            f"Host {self.current_host} could not join the coordinator {self.names[0]} on port "
            f"{self.settings.tracker_port} within {self.settings.host_timeout_seconds}s: check "
            "that every host started and that the hosts may reach each other on this port and "
            "the next one (security group)."
        )

    def note_work_done(self) -> None:
        """Tell the hosts waiting for this one that it finished a unit of bounded work."""
        if self._liveness is not None:
            self._liveness.work_done()

    def wait_for_hosts(self, point: str, bound: WorkBound) -> None:
        """Meet every other host at ``point`` before the collective step that follows it.

        Waits outside XGBoost's collective, so a peer that is still busy is waited for as long
        as its work's own bound (``bound``, from the last unit it finished) rather than the
        collective timeout; a peer that is gone is named by the watchdog meanwhile.
        """
        if self._liveness is None or self._peers is None:
            return
        number = self._liveness.reach()
        started = time.monotonic()
        last_seen: dict[str, Progress | None] = {}
        last_change = started
        while True:
            behind = {
                host: progress
                for host, progress in self._peers.progress().items()
                if progress is None or progress.reached < number
            }
            if not behind:
                break
            if behind != last_seen:
                last_seen, last_change = behind, time.monotonic()
            elif time.monotonic() - last_change > bound.seconds:
                raise UserError(
                    f"Host(s) {', '.join(sorted(behind))} did not reach {point}, and finished "
                    f"no work for {bound.seconds:g}s, so host {self.current_host} stops: they "
                    f"are stuck or never started (their own logs say where). {bound.setting} "
                    "bounds this wait."
                )
            time.sleep(MEETING_POLL_SECONDS)
        waited = time.monotonic() - started
        if waited >= 1.0:
            logger.info("Waited %.1fs for the other hosts to reach %s", waited, point)

    def _on_lost_peers(self, lost: list[str]) -> None:
        seconds = WATCHDOG_MISSES * WATCHDOG_INTERVAL_SECONDS
        failure.abort(_lost_hosts_message(lost, self.current_host, f"for {seconds:.0f}s"))

    def _leave(self, failed: bool) -> None:
        if self._joined and not failed:
            # Hosts leave together, so none that is still working takes a finished one for lost;
            # the coordinator writes the outputs first.
            self.wait_for_hosts(
                "the end of the job",
                WorkBound(self.settings.host_timeout_seconds, "host_timeout_seconds"),
            )
            try:
                collective.allreduce(np.zeros(1), collective.Op.SUM)
            except xgb.core.XGBoostError as error:
                self._release(failed=True)
                raise self.explain_collective_failure(error, "leaving the hosts") from None
        coordinator_address = None
        if self._peers is not None and not self.is_coordinator:
            coordinator_address = self._peers.addresses[self.names[0]]
        self._release(failed)
        if coordinator_address is not None and not failed:
            wait_until_gone(coordinator_address, self.settings.liveness_port)

    def _release(self, failed: bool) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
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

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """One step of the job: logged with its duration; a failed collective step in it is
        explained (naming a lost host) as a :class:`HostLostError`."""
        logger.info("%s: started", name)
        started = time.monotonic()
        try:
            yield
        except xgb.core.XGBoostError as error:
            if self.is_distributed:
                raise self.explain_collective_failure(error, name) from None
            raise
        logger.info("%s: done in %.1fs", name, time.monotonic() - started)

    def broadcast(self, value: T) -> T:
        """Host 0's ``value`` on every host (any picklable object)."""
        if not self.is_distributed:
            return value
        return collective.broadcast((value,), 0)[0]  # wrapped: XGBoost refuses to send None

    def decide(self, decision: Callable[[], T], what: str, bound: WorkBound) -> T:
        """Run ``decision`` on the coordinator only; every host gets its result or its error.

        The others wait for the coordinator at a meeting point, bounded by ``bound`` (the
        decision's own work). A :class:`UserError` on the coordinator reaches every host with
        the same message, so no host waits for a result that will never come.
        """
        outcome: tuple[T | None, str | None] = (None, None)
        if self.is_coordinator:
            try:
                outcome = (decision(), None)
            except UserError as error:
                outcome = (None, str(error))
            except Exception:
                self.wait_for_hosts(what, bound)
                self.broadcast((None, f"The coordinator failed while {what}; see its log."))
                raise
        self.wait_for_hosts(what, bound)
        value, error = self.broadcast(outcome)
        if error is not None:
            raise UserError(error)
        return value

    def gather(self, value: float) -> list[float]:
        """Every host's ``value``, in rank order."""
        values = np.zeros(self.world, dtype=np.float64)
        values[self.rank] = value
        return [float(v) for v in self.sum(values)]

    def sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of every host's ``values`` (the same shape on every host)."""
        if not self.is_distributed:
            return values
        return collective.allreduce(values, collective.Op.SUM)

    def explain_collective_failure(self, error: Exception, during: str) -> UserError:
        """Name the lost host(s) when a collective step fails."""
        lost: list[str] = []
        for _ in range(PROBE_ATTEMPTS):  # a host that is going down may still answer briefly
            lost = self._peers.unreachable() if self._peers is not None else []
            if lost:
                break
            time.sleep(1.0)
        if lost:
            return HostLostError(_lost_hosts_message(lost, self.current_host, f"during {during}"))
        # XGBoost's message is a stack of "- [file:line|time]: reason" lines; keep the reasons.
        reasons = [
            line.split("]: ", 1)[1] for line in str(error).splitlines() if line.startswith("- [")
        ]
        reason = "; ".join(dict.fromkeys(reasons)) or str(error).strip().splitlines()[0]
        return HostLostError(
            f"A collective step failed during {during} on host {self.current_host} (all hosts "
            f"still answer): {reason[:300]}. If a host is slow rather than gone, raise "
            "collective_timeout_seconds."
        )

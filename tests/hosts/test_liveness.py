"""Whether the other hosts are still there: the liveness port, the peers' probe, the watchdog's
count of missed probes and the bounded wait for the coordinator to leave.

Real sockets on loopback, in this process; the watchdog's peers are scripted so that a test
says exactly which probes a peer missed. Hosts lost in real multi-process jobs are tested in
``test_distributed``.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from snowflake_xgb.hosts import liveness
from snowflake_xgb.hosts.liveness import LivenessServer, Peers, PeerWatchdog, answers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_host_answers_while_its_liveness_server_runs() -> None:
    port = _free_port()
    server = LivenessServer("127.0.0.1", port)
    try:
        assert answers("127.0.0.1", port)
        assert answers("127.0.0.1", port)  # every probe, not just the first
    finally:
        server.close()
    assert not answers("127.0.0.1", port)


def test_the_peers_are_the_other_hosts_and_the_silent_ones_are_named_in_order() -> None:
    port = _free_port()
    server = LivenessServer("127.0.0.2", port)
    addresses = {f"algo-{i}": f"127.0.0.{i}" for i in range(1, 5)}
    try:
        peers = Peers(addresses, "algo-1", port)
        assert sorted(peers.addresses) == ["algo-2", "algo-3", "algo-4"]  # never itself
        assert peers.unreachable() == ["algo-3", "algo-4"]
    finally:
        server.close()


class ScriptedPeers:
    """Peers whose probes give, round after round, the given unreachable hosts."""

    def __init__(self, rounds: list[list[str]]) -> None:
        self.rounds = list(rounds)

    def unreachable(self) -> list[str]:
        return self.rounds.pop(0) if self.rounds else []


def _watch(monkeypatch: pytest.MonkeyPatch, rounds: list[list[str]]) -> list[list[str]]:
    """What the watchdog reported lost over ``rounds`` probes."""
    monkeypatch.setattr(liveness, "WATCHDOG_INTERVAL_SECONDS", 0.01)
    peers, lost = ScriptedPeers(rounds), []
    watchdog = PeerWatchdog(peers, lost.append)  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while peers.rounds and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the last round's count, and its callback
    watchdog.stop()
    return lost


def test_a_peer_is_lost_after_missing_probes_in_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    assert liveness.WATCHDOG_MISSES == 2
    # algo-2 misses one probe, answers, misses one again: never twice in a row.
    # algo-3 misses the last two: lost then, and named alone.
    lost = _watch(monkeypatch, [["algo-2"], [], ["algo-2"], ["algo-3"], ["algo-3"]])
    assert lost == [["algo-3"]]


def test_a_peer_that_answers_again_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _watch(monkeypatch, [["algo-2"], [], ["algo-2"], [], ["algo-2"], []]) == []


def test_waiting_for_the_coordinator_to_leave_ends_when_its_port_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(liveness, "EXIT_GRACE_SECONDS", 0.0)
    port = _free_port()
    server = LivenessServer("127.0.0.1", port)
    threading.Timer(0.5, server.close).start()
    started = time.monotonic()
    liveness.wait_until_gone("127.0.0.1", port)
    assert 0.4 < time.monotonic() - started < 5


def test_waiting_for_a_coordinator_that_stays_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(liveness, "EXIT_GRACE_SECONDS", 0.0)
    monkeypatch.setattr(liveness, "LEAVE_WAIT_SECONDS", 0.5)
    port = _free_port()
    server = LivenessServer("127.0.0.1", port)
    try:
        started = time.monotonic()
        liveness.wait_until_gone("127.0.0.1", port)
        assert 0.4 < time.monotonic() - started < 5
    finally:
        server.close()


def test_a_sigterm_while_waiting_to_leave_is_absorbed_and_the_handler_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SageMaker's local mode stops every container once one exits: that SIGTERM, after the
    job's end, must not turn a finished worker into a failed one."""
    monkeypatch.setattr(liveness, "EXIT_GRACE_SECONDS", 0.0)
    monkeypatch.setattr(liveness, "LEAVE_WAIT_SECONDS", 1.5)
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, _: received.append(number))
    port = _free_port()
    server = LivenessServer("127.0.0.1", port)
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        liveness.wait_until_gone("127.0.0.1", port)
        assert received == []  # absorbed during the wait
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert received == [signal.SIGTERM]  # this process's own handler is back
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous)

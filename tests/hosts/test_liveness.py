"""Whether the other hosts are still there: the liveness port, the peers' probe, the watchdog's
count of missed probes and the bounded wait for the coordinator to leave.

Real sockets on loopback, in this process; the watchdog's peers are scripted so that a test
says exactly which probes a peer missed, and the test takes the watchdog's probes one at a time
(``check_once``), so nothing depends on how long a thread sleeps. Hosts lost in real
multi-process jobs are tested in ``test_distributed``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
from standin_servers import free_port  # local_test/

from snowflake_xgb.hosts import liveness
from snowflake_xgb.hosts.liveness import LivenessServer, Peers, PeerWatchdog, answers


def test_a_host_answers_while_its_liveness_server_runs() -> None:
    port = free_port()
    server = LivenessServer("127.0.0.1", port)
    try:
        assert answers("127.0.0.1", port)
        assert answers("127.0.0.1", port)  # every probe, not just the first
    finally:
        server.close()
    assert not answers("127.0.0.1", port)


def test_the_peers_are_the_other_hosts_and_the_silent_ones_are_named_in_order() -> None:
    port = free_port()
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


def _lost_probe_by_probe(rounds: list[list[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """The peers each probe found lost, and what the watchdog told its caller."""
    told: list[list[str]] = []
    watchdog = PeerWatchdog(ScriptedPeers(rounds), told.append)  # type: ignore[arg-type]
    return [watchdog.check_once() for _ in rounds], told


def test_a_peer_is_lost_after_missing_probes_in_a_row() -> None:
    assert liveness.WATCHDOG_MISSES == 2
    # algo-2 misses one probe, answers, misses one again: never twice in a row.
    # algo-3 misses the last two: lost then, and named alone.
    found, told = _lost_probe_by_probe([["algo-2"], [], ["algo-2"], ["algo-3"], ["algo-3"]])
    assert found == [[], [], [], [], ["algo-3"]]
    assert told == [["algo-3"]]


def test_a_peer_that_answers_again_is_not_lost() -> None:
    found, told = _lost_probe_by_probe([["algo-2"], [], ["algo-2"], [], ["algo-2"], []])
    assert found == [[]] * 6 and told == []


def test_a_lost_peer_is_told_at_every_probe_it_misses_and_several_together() -> None:
    found, told = _lost_probe_by_probe(
        [["algo-2", "algo-4"], ["algo-4", "algo-2"], ["algo-2", "algo-4"], ["algo-4"]]
    )
    assert found == [[], ["algo-2", "algo-4"], ["algo-2", "algo-4"], ["algo-4"]]
    assert told == found[1:]


def test_the_started_watchdog_probes_on_its_own_until_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(liveness, "WATCHDOG_INTERVAL_SECONDS", 0.01)
    told, lost = [], threading.Event()

    def on_lost(hosts: list[str]) -> None:
        told.append(hosts)
        lost.set()

    watchdog = PeerWatchdog(ScriptedPeers([["algo-2"], ["algo-2"]]), on_lost).start()
    try:
        assert lost.wait(timeout=10), "the watchdog's thread did not report the lost peer"
    finally:
        watchdog.stop()
    assert told == [["algo-2"]]


def test_waiting_for_the_coordinator_to_leave_ends_when_its_port_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(liveness, "EXIT_GRACE_SECONDS", 0.0)
    port = free_port()
    server = LivenessServer("127.0.0.1", port)
    threading.Timer(0.5, server.close).start()
    liveness.wait_until_gone("127.0.0.1", port)
    assert not answers("127.0.0.1", port)  # it waited for the close


def test_waiting_for_a_coordinator_that_stays_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(liveness, "EXIT_GRACE_SECONDS", 0.0)
    monkeypatch.setattr(liveness, "LEAVE_WAIT_SECONDS", 0.5)
    port = free_port()
    server = LivenessServer("127.0.0.1", port)
    try:
        liveness.wait_until_gone("127.0.0.1", port)  # returns, though:
        assert answers("127.0.0.1", port)
    finally:
        server.close()


def _once_sigterm_is_absorbed(then: Callable[[], None], absorbed_by_test: object) -> None:
    """From another thread: once the wait has put its own SIGTERM handler in place (bounded),
    send this process SIGTERM, then ``then()``."""

    def send() -> None:
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) is absorbed_by_test and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        then()

    threading.Thread(target=send, daemon=True).start()


def test_a_sigterm_while_waiting_to_leave_is_absorbed_and_the_handler_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SageMaker's local mode stops every container once one exits: that SIGTERM, after the
    job's end, must not turn a finished worker into a failed one."""
    monkeypatch.setattr(liveness, "EXIT_GRACE_SECONDS", 0.0)
    received: list[int] = []

    def handler(number: int, _: object) -> None:
        received.append(number)

    previous = signal.signal(signal.SIGTERM, handler)
    port = free_port()
    server = LivenessServer("127.0.0.1", port)
    try:
        # The coordinator leaves only after the signal: the wait cannot end before it.
        _once_sigterm_is_absorbed(server.close, handler)
        liveness.wait_until_gone("127.0.0.1", port)
        assert received == []  # absorbed during the wait
        signal.raise_signal(signal.SIGTERM)  # runs the handler before it returns
        assert received == [signal.SIGTERM]  # this process's own handler is back
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous)

"""The hosts' waits are bounded, and it joins real XGBoost collectives across processes."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from snowflake_xgb.config.job_config import HostsSettings
from snowflake_xgb.errors import UserError
from snowflake_xgb.hosts.hosts import Hosts, wait_for_names


def test_unresolvable_host_name_fails_within_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(UserError, match=r"algo-404\.invalid did not resolve within 2s"):
        wait_for_names(["localhost", "algo-404.invalid"], timeout=2)
    assert time.monotonic() - started < 10


def test_joining_a_coordinator_that_never_starts_fails_within_the_timeout() -> None:
    block = random.randrange(16, 250)
    coordinator, me = f"127.{block}.250.1", f"127.{block}.250.2"
    hosts = Hosts([coordinator, me], me, HostsSettings(9099, 5, 5))
    started = time.monotonic()
    with pytest.raises(UserError, match="could not join the coordinator"), hosts:
        pass
    assert time.monotonic() - started < 30


_WORKER = textwrap.dedent(
    """
    import sys
    import psutil
    from snowflake_xgb.config.job_config import HostsSettings
    from snowflake_xgb.hosts.hosts import Hosts
    names, me, worker_port = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3])
    with Hosts(names, me, HostsSettings(9099, 60, 30, worker_port)) as hosts:
        message = hosts.broadcast({"query_id": "q-42"} if hosts.is_coordinator else None)
        rows = hosts.gather(10 * (hosts.rank + 1))
        accepted = {c.laddr.port for c in psutil.Process().net_connections("tcp")
                    if c.status == psutil.CONN_ESTABLISHED}
        print(hosts.rank, message["query_id"], rows, worker_port in accepted, flush=True)
    """
)


def _free_ports(count: int) -> list[int]:
    """Ports the OS has just handed out and taken back (free, barring a race)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("0.0.0.0", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_three_processes_join_broadcast_and_gather_peers_connecting_to_the_worker_port() -> None:
    """worker_port reaches XGBoost (dmlc_worker_port): each host's peer in the ring connects to
    it there. A job gives every host the same port; on one machine each process needs its own."""
    block = random.randrange(16, 250)
    hosts = [f"127.{block}.251.{i}" for i in (3, 1, 2)]  # any order: ranks follow sorted names
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, ",".join(hosts), host, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for host, port in zip(hosts, _free_ports(len(hosts)), strict=True)
    ]
    outputs = sorted(
        process.communicate(timeout=120)[0].strip().splitlines()[-1] for process in processes
    )
    assert [process.returncode for process in processes] == [0, 0, 0]
    assert outputs == [f"{rank} q-42 [10.0, 20.0, 30.0] True" for rank in range(3)]


# --- the three bounds: a busy host, a stuck host, a hang inside a collective exchange --------

COLLECTIVE_TIMEOUT = 3  # seconds; every wait for a busy host below lasts three times as long

_SCENARIO = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    from snowflake_xgb.config.job_config import HostsSettings
    from snowflake_xgb.errors import UserError
    from snowflake_xgb.hosts.hosts import Hosts, WorkBound
    names, me, scenario, busy = sys.argv[1].split(","), sys.argv[2], sys.argv[3], float(sys.argv[4])
    bound = WorkBound(float(sys.argv[5]), "some_bound_seconds")
    started = time.monotonic()
    try:
        with Hosts(names, me, HostsSettings(9099, 60, {timeout})) as hosts:
            if scenario == "busy-coordinator":
                def plan():
                    time.sleep(busy)  # one statement, still running
                    return "q-42"
                print(hosts.decide(plan, "planning", bound), end=" ")
            elif scenario == "busy-worker":
                if hosts.rank == hosts.world - 1:
                    for _ in range(int(busy)):  # one chunk a second
                        time.sleep(1.0)
                        hosts.note_work_done()
                hosts.wait_for_hosts("the end of loading", bound)
            elif scenario == "stuck-worker":
                if hosts.rank == hosts.world - 1:
                    time.sleep(busy)  # alive, answering, finishing nothing
                hosts.wait_for_hosts("the end of loading", bound)
            elif scenario == "hang-in-exchange":
                hosts.wait_for_hosts("the exchange", bound)
                if hosts.rank == hosts.world - 1:
                    os.kill(os.getpid(), signal.SIGSTOP)  # alive to the kernel, silent to peers
            with hosts.step("Exchanging"):
                total = hosts.sum(np.ones(1))[0]
            print(int(total), end=" ")
    except UserError as error:
        print("failed:", error, end=" ")
    print(f"after {{time.monotonic() - started:.1f}}s", flush=True)
    """
).format(timeout=COLLECTIVE_TIMEOUT)


def _run_scenario(
    scenario: str, hosts: int, busy: float, bound: float, stopped: int = 0
) -> list[str]:
    """Each host's verdict (in rank order): what it printed, and how long it took; the last
    ``stopped`` hosts stop themselves and give none."""
    block = random.randrange(16, 250)
    names = [f"127.{block}.252.{i}" for i in range(1, hosts + 1)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SCENARIO,
                ",".join(names),
                name,
                scenario,
                str(busy),
                str(bound),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in names
    ]
    outputs = []
    try:
        for process in processes[: hosts - stopped]:
            try:
                output = process.communicate(timeout=90)[0].strip()
            except subprocess.TimeoutExpired:
                output = "(still running)"
            outputs.append(output.splitlines()[-1] if output else "(nothing)")
            if not outputs[-1].endswith("s"):  # no verdict: keep what it said instead
                outputs[-1] = output[-1500:]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return outputs


def _seconds(output: str) -> float:
    return float(output.rsplit("after ", 1)[1].rstrip("s"))


@pytest.mark.parametrize("hosts", [2, 3])
def test_a_coordinator_busy_for_longer_than_the_collective_timeout_is_waited_for(
    hosts: int,
) -> None:
    outputs = _run_scenario("busy-coordinator", hosts, busy=3 * COLLECTIVE_TIMEOUT, bound=60)
    assert all(output.startswith(f"q-42 {hosts} after") for output in outputs), outputs


@pytest.mark.parametrize("hosts", [2, 3])
def test_a_host_still_loading_for_longer_than_the_collective_timeout_is_waited_for(
    hosts: int,
) -> None:
    # Each second of loading finishes a unit of work: the 4 s bound is counted from the last.
    outputs = _run_scenario("busy-worker", hosts, busy=3 * COLLECTIVE_TIMEOUT, bound=4)
    assert all(output.startswith(f"{hosts} after") for output in outputs), outputs


def test_a_host_that_finishes_no_work_is_waited_for_only_as_long_as_the_bound() -> None:
    outputs = _run_scenario("stuck-worker", 2, busy=60, bound=4)
    waiting = outputs[0]
    assert waiting.startswith("failed: Host(s) 127.") and "did not reach the end of loading" in (
        waiting
    ), outputs
    assert "some_bound_seconds bounds this wait" in waiting
    assert _seconds(waiting) < 30, outputs


def test_a_host_that_hangs_inside_a_collective_exchange_ends_it_within_the_collective_timeout() -> (
    None
):
    outputs = _run_scenario("hang-in-exchange", 2, busy=0, bound=30, stopped=1)
    waiting = outputs[0]
    assert waiting.startswith("failed: A collective step failed during Exchanging"), outputs
    assert "raise collective_timeout_seconds" in waiting
    # The collective timeout, then up to five one-second probes for a lost host to name.
    assert _seconds(waiting) < COLLECTIVE_TIMEOUT + 15, outputs

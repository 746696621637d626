"""The host group's waits are bounded, and it joins real XGBoost collectives across processes."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from snowflake_xgb.config.job_config import HostGroupSettings
from snowflake_xgb.errors import UserError
from snowflake_xgb.hosts.host_group import HostGroup, wait_for_names


def test_unresolvable_host_name_fails_within_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(UserError, match=r"algo-404\.invalid did not resolve within 2s"):
        wait_for_names(["localhost", "algo-404.invalid"], timeout=2)
    assert time.monotonic() - started < 10


def test_joining_a_coordinator_that_never_starts_fails_within_the_timeout() -> None:
    block = random.randrange(16, 250)
    coordinator, me = f"127.{block}.250.1", f"127.{block}.250.2"
    group = HostGroup([coordinator, me], me, HostGroupSettings(9099, 5, 5))
    started = time.monotonic()
    with pytest.raises(UserError, match="could not join the coordinator"), group:
        pass
    assert time.monotonic() - started < 30


_WORKER = textwrap.dedent(
    """
    import sys
    import psutil
    from snowflake_xgb.config.job_config import HostGroupSettings
    from snowflake_xgb.hosts.host_group import HostGroup
    hosts, me, worker_port = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3])
    with HostGroup(hosts, me, HostGroupSettings(9099, 60, 30, worker_port)) as group:
        message = group.broadcast({"query_id": "q-42"} if group.is_coordinator else None)
        rows = group.gather(10 * (group.rank + 1))
        accepted = {c.laddr.port for c in psutil.Process().net_connections("tcp")
                    if c.status == psutil.CONN_ESTABLISHED}
        print(group.rank, message["query_id"], rows, worker_port in accepted, flush=True)
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

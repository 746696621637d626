"""The Snowflake and Secrets Manager stand-ins as local processes, for tests and benchmarks.

``fakesnow -s`` serves Snowflake's HTTP API (reached by the real connector with
``protocol="http"``) and ``moto_server`` serves the AWS APIs (reached by real boto3 through
``AWS_ENDPOINT_URL_SECRETS_MANAGER``). Both listen on free loopback ports and are stopped on exit.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {process.args[0]} exited early ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not listen on port {port} within {timeout}s")


@contextmanager
def serve(command: list[str], port: int, log_path: Path) -> Iterator[None]:
    """Run a server until the block ends; its output goes to ``log_path``."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class StandinEndpoints:
    snowflake_port: int
    secrets_url: str


@contextmanager
def standin_servers(log_dir: Path) -> Iterator[StandinEndpoints]:
    """Start fakesnow and moto on free ports; stop both when the block ends."""
    snowflake_port, secrets_port = free_port(), free_port()
    fakesnow = [str(BIN / "fakesnow"), "-s", "--host", "127.0.0.1", "-p", str(snowflake_port)]
    moto = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(secrets_port)]
    with ExitStack() as stack:
        stack.enter_context(serve(fakesnow, snowflake_port, log_dir / "fakesnow.log"))
        stack.enter_context(serve(moto, secrets_port, log_dir / "moto.log"))
        yield StandinEndpoints(snowflake_port, f"http://127.0.0.1:{secrets_port}")

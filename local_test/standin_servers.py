"""Starts the Snowflake and Secrets Manager stand-ins (tests, benchmarks, the stand-ins image).

Snowflake is ``fakesnow -s`` behind our front (``snowflake_front.py``), which serves results as
Snowflake does (chunks, reopen by id, connector 5.x's routes); Secrets Manager and STS
are ``moto_server``. The real connector and boto3 reach them over HTTP. They run in the stand-ins'
own environment (fakesnow keeps its own connector pin there): ``$SNOWFLAKE_XGB_STANDINS_VENV``,
else ``.work/standins-venv`` (``make standins-venv``), else this interpreter's when it has
fakesnow. As a library: ``standin_servers(log_dir)`` starts all three on free loopback ports
and stops them when the block ends. As a command (inside the stand-ins image):
``python standin_servers.py snowflake --host 0.0.0.0 --port 8080`` runs fakesnow and the front.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV_ENV = "SNOWFLAKE_XGB_STANDINS_VENV"
DEFAULT_VENV = HERE.parent / ".work" / "standins-venv"


def standins_bin() -> Path:
    """The ``bin`` folder of the stand-ins' environment."""
    if os.environ.get(VENV_ENV):
        return Path(os.environ[VENV_ENV]) / "bin"
    if (DEFAULT_VENV / "bin" / "fakesnow").exists():
        return DEFAULT_VENV / "bin"
    if importlib.util.find_spec("fakesnow") is not None:
        return Path(sys.executable).parent
    raise RuntimeError(
        f"No stand-ins environment: run `make standins-venv` (creates {DEFAULT_VENV} from "
        f"local_test/standins-requirements.txt) or set {VENV_ENV}."
    )


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
def serve(
    command: list[str], port: int, log_path: Path | None, timeout: float = 60
) -> Iterator[subprocess.Popen]:
    """Run a server until the block ends; its output goes to ``log_path`` (None: inherited).
    ``timeout``: how long it may take to listen on ``port``."""
    with log_path.open("wb") if log_path else open(os.devnull, "wb") as log:
        out = log if log_path else None
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT if out else None)
        try:
            wait_for_port(port, process, timeout)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def snowflake_standin(
    log_dir: Path | None,
    port: int | None = None,
    host: str = "127.0.0.1",
    settings: dict[str, Any] | None = None,
    bin_dir: Path | None = None,
    sts_url: str | None = None,
) -> Iterator[int]:
    """fakesnow on a free loopback port and the front on ``port``; yields the front's port.

    ``sts_url``: the STS stand-in that the front executes ``WORKLOAD_IDENTITY`` attestations
    against (moto; none: every such login is refused)."""
    bin_dir = bin_dir or standins_bin()
    upstream, port = free_port(), port or free_port()
    fakesnow = [str(bin_dir / "fakesnow"), "-s", "--host", "127.0.0.1", "-p", str(upstream)]
    front = [
        str(bin_dir / "python"), str(HERE / "snowflake_front.py"), "--upstream-port", str(upstream),
        "--host", host, "--port", str(port), "--settings", json.dumps(settings or {}),
        *(["--sts-url", sts_url] if sts_url else []),
    ]  # fmt: skip
    with ExitStack() as stack:
        stack.enter_context(serve(fakesnow, upstream, log_dir and log_dir / "fakesnow.log"))
        stack.enter_context(serve(front, port, log_dir and log_dir / "snowflake-front.log"))
        yield port


@dataclass(frozen=True)
class StandinEndpoints:
    snowflake_port: int  # the front's
    secrets_url: str


@contextmanager
def standin_servers(
    log_dir: Path, settings: dict[str, Any] | None = None
) -> Iterator[StandinEndpoints]:
    """Start the Snowflake stand-in (with ``settings`` for its front) and moto; stop both after."""
    bin_dir = standins_bin()
    secrets_port = free_port()
    moto = [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(secrets_port)]
    moto_url = f"http://127.0.0.1:{secrets_port}"
    with ExitStack() as stack:
        stack.enter_context(serve(moto, secrets_port, log_dir / "moto.log"))
        port = stack.enter_context(
            snowflake_standin(log_dir, settings=settings, bin_dir=bin_dir, sts_url=moto_url)
        )
        yield StandinEndpoints(port, moto_url)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Snowflake stand-in (fakesnow + front).")
    parser.add_argument("what", choices=["snowflake"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--settings",
        default="{}",
        help="the front's settings as JSON (FrontSettings: switch -> value)",
    )
    parser.add_argument("--sts-url", help="the STS stand-in for WORKLOAD_IDENTITY logins (moto)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    bin_dir = Path(sys.executable).parent
    settings = json.loads(args.settings)
    with snowflake_standin(None, args.port, args.host, settings, bin_dir, args.sts_url):
        signal.pause()


if __name__ == "__main__":
    main()

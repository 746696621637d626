"""Fixtures for the serving tests: small saved models, and ``serve`` run as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from standin_servers import free_port
from support.served_models import ServedCase, make_models, make_typed_classifier

from snowflake_xgb.serving.model import ServedModel, load_model


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> dict[str, ServedCase]:
    return make_models(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="session")
def loaded(served) -> dict[str, ServedModel]:
    return {name: load_model(case.model_dir, threads=1) for name, case in served.items()}


@pytest.fixture(scope="session")
def typed_classifier(tmp_path_factory) -> ServedModel:
    """A classifier on text, boolean, date and number features (``TYPED_ENCODING``), loaded to
    answer with the predicted label and its probability."""
    model_dir = tmp_path_factory.mktemp("typed") / "model"
    make_typed_classifier(model_dir)
    return load_model(model_dir, threads=1, outputs=("predicted_label", "probability"))


@dataclass
class ServeProcess:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_listening(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return
        try:
            urllib.request.urlopen(url + "/execution-parameters", timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"serve did not listen on {url} within {timeout:.0f} s")


@pytest.fixture
def start_serve(tmp_path) -> Iterator:
    """Start ``serve`` (the console script's function) with an environment; stopped after."""
    started: list[ServeProcess] = []

    def start(base_dir: Path, **environ: str) -> ServeProcess:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        env = {
            **os.environ,
            "SAGEMAKER_BASE_DIR": str(base_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
            **environ,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", "from snowflake_xgb.serving.command import main; main()"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        server = ServeProcess(f"http://127.0.0.1:{port}", process, log)
        started.append(server)
        _wait_listening(server.url, process, timeout=60)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()

"""Serving a model folder from the image, as SageMaker hosting does, and trying it.

``docker run IMAGE serve`` with the folder at ``/opt/ml/model`` (``serving``), wait for
``GET /ping``, send a few rows of the demo table to ``POST /invocations`` as CSV and as JSON
keyed by column name (``sample_requests``), print the predictions and stop the server (SIGTERM)
(``serve_and_predict``: what ``localmode.py serve`` and ``run --serve`` do). Standard library
only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compose_job import log, random_name, run_command

from snowflake_xgb.sagemaker_layout import DEFAULT_BASE_DIR, MODEL_DIR

# A few rows of the demo table's shape (local_test/seed_standins.py), to try a served model.
SAMPLE_ROWS = [
    {"MEDINC": 8.33, "HOUSEAGE": 41.0, "AVEROOMS": 6.98, "AVEBEDRMS": 1.02, "POPULATION": 322.0,
     "AVEOCCUP": 2.56, "LATITUDE": 37.88, "LONGITUDE": -122.23},
    {"MEDINC": 3.12, "HOUSEAGE": 17.0, "AVEROOMS": 4.85, "AVEBEDRMS": 1.09, "POPULATION": 1410.0,
     "AVEOCCUP": 3.21, "LATITUDE": 34.05, "LONGITUDE": -118.24},
    {"MEDINC": 1.94, "HOUSEAGE": 33.0, "AVEROOMS": 4.12, "AVEBEDRMS": 1.15, "POPULATION": 980.0,
     "AVEOCCUP": 3.67, "LATITUDE": 36.74, "LONGITUDE": -119.78},
]  # fmt: skip
SERVING_PORT = 8080  # SageMaker's SAGEMAKER_BIND_TO_PORT default


@dataclass
class Server:
    """A model server running in a container of the image, reachable on this machine."""

    container: str
    url: str  # http://127.0.0.1:<port>
    exit_code: int | None = None  # once stopped: 0 after a clean shutdown on SIGTERM

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
        timeout: float = 30,
    ) -> tuple[int, str]:
        """(status, body text) of one request; HTTP errors are returned, not raised."""
        req = urllib.request.Request(self.url + path, data=body, headers=headers or {},
                                     method=method)  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=timeout) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, str]:
        headers = {"Content-Type": content_type, "Accept": accept}
        return self.request("POST", "/invocations", body, headers)

    def logs(self) -> str:
        res = run_command(["docker", "logs", self.container], check=False, capture=True)
        return res.stdout + res.stderr


@contextmanager
def serving(
    image: str, model_dir: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Iterator[Server]:
    """``docker run IMAGE serve`` with ``model_dir`` at /opt/ml/model, until /ping answers 200.

    The server gets a free port on 127.0.0.1; on leaving, it is stopped with SIGTERM (``docker
    stop``), its exit code kept in ``exit_code``, and removed. Raises RuntimeError, with the
    server's log, when it does not come up within ``timeout`` seconds.
    """
    name = f"sfxgb-serve-{random_name(8)}"
    cmd = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1::{SERVING_PORT}",
           "-v", f"{Path(model_dir).resolve()}:{DEFAULT_BASE_DIR / MODEL_DIR}:ro"]  # fmt: skip
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    server = Server(name, "")
    try:
        run_command([*cmd, image, "serve"], capture=True)
        port = run_command(["docker", "port", name, str(SERVING_PORT)], capture=True).stdout
        server.url = "http://" + port.split()[0].replace("0.0.0.0", "127.0.0.1")
        deadline = time.monotonic() + timeout
        while True:
            running = run_command(
                ["docker", "inspect", "-f", "{{.State.Running}}", name], check=False, capture=True
            ).stdout.strip()
            if running != "true":
                raise RuntimeError(f"the server exited before answering /ping:\n{server.logs()}")
            try:
                if server.request("GET", "/ping", timeout=5)[0] == 200:
                    break
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"/ping did not answer 200 within {timeout:.0f}s:\n"
                                   f"{server.logs()}")  # fmt: skip
            time.sleep(0.5)
        yield server
    finally:
        run_command(["docker", "stop", "-t", "30", name], check=False, capture=True)
        state = run_command(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", name], check=False, capture=True
        ).stdout.strip()
        server.exit_code = int(state) if state.lstrip("-").isdigit() else None
        run_command(["docker", "rm", "-f", name], check=False, capture=True)


def sample_requests(feature_names: list[str]) -> list[tuple[str, bytes]]:
    """SAMPLE_ROWS for a model's features: CSV in training order, and JSON keyed by name."""
    missing = [f for f in feature_names if f.upper() not in SAMPLE_ROWS[0]]
    if missing:
        raise ValueError(f"the sample rows have no value for {', '.join(missing)}")
    rows = [[row[f.upper()] for f in feature_names] for row in SAMPLE_ROWS]
    csv = "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"
    # Keyed records, in a shuffled column order: the server matches columns by name.
    records = [dict(reversed(list(zip(feature_names, row, strict=True)))) for row in rows]
    return [("text/csv", csv.encode()), ("application/json", json.dumps(records).encode())]


def serve_and_predict(image: str, model_dir: Path) -> int:
    """Serve ``model_dir``, print predictions for SAMPLE_ROWS, stop; 0 when all went well.

    Well: /ping answered, every request 200, and the server exited 0 on SIGTERM.
    """
    try:
        metadata = json.loads((Path(model_dir) / "metadata.json").read_text())
        requests = sample_requests(metadata["feature_names"])
        log(f"serving {model_dir} with {image} serve")
        status = 0
        with serving(image, Path(model_dir)) as server:
            log(f"{server.url}/ping answers 200 (container {server.container})")
            for content_type, body in requests:
                accept = content_type
                code, text = server.invoke(body, content_type, accept)
                print(f"POST /invocations  Content-Type: {content_type}  Accept: {accept}  "
                      f"-> {code}")  # fmt: skip
                print("  " + text.strip().replace("\n", "\n  "))
                status = status or int(code != 200)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        log(f"serving failed: {error}")
        return 1
    log(f"server stopped (exit {server.exit_code})")
    return status or int(server.exit_code != 0)

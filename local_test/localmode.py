#!/usr/bin/env python3
"""Local mode for the snowflake_xgb image: an N-host SageMaker-like training job on docker compose.

It lays the job out the way the SageMaker Python SDK's local mode (``instance_type="local"``)
does, so that what passes here passes there:

* hosts are named ``algo-1-<suffix>`` ... ``algo-N-<suffix>`` (one random suffix per job);
  each container gets a random container name and Docker's default hostname (the container
  id), *not* its SageMaker host name: hosts reach each other only through network aliases;
* each host has its own ``/opt/ml/input`` (``config/hyperparameters.json``,
  ``resourceconfig.json`` with only ``current_host`` and ``hosts``, ``inputdataconfig.json``
  without ``S3DistributionType``) and its own ``/opt/ml/output``; one model folder is mounted
  at ``/opt/ml/model`` on every host;
* settings reach the job only through environment variables and hyperparameters (strings);
  the region arrives as ``AWS_REGION`` (not ``AWS_DEFAULT_REGION``), with ``TRAINING_JOB_NAME``;
* the job runs with ``up --abort-on-container-exit`` (the first container to exit stops the rest).

``serve`` (and ``run --serve``, what ``make local-serve`` runs) then serves a model folder from
the same image, as SageMaker hosting does: ``docker run IMAGE serve`` with the folder at
``/opt/ml/model``, waits for ``GET /ping``, sends a few rows to ``POST /invocations`` as CSV and
as JSON keyed by column name, prints the predictions and stops the server (SIGTERM).

By default it also starts stand-ins for Snowflake (``fakesnow -s`` behind our front, which
serves results in chunks as Snowflake does, and checks ``WORKLOAD_IDENTITY`` logins against
moto's STS) and AWS Secrets Manager and STS (``moto_server``) on the same network, in their
own compose project, and seeds them with the demo California housing table and a secret
(``local_test/seed_standins.py``). Against the stand-ins nothing may leave the machine: the
job's network is ``internal`` (no route off the machine, so a stray call fails at once), and
every container gets ``offline_env``'s settings (the connector's platform detection off, every
AWS endpoint at moto). With ``--no-standins`` the job talks to a real Snowflake account and
real AWS instead: pass the settings with ``--env-file``/``--env`` and AWS credentials in the
environment (see docs/container.md).

Standard library only; works with ``docker compose`` (v2) and ``docker-compose`` (v1).

    python local_test/localmode.py run --hosts 2          (what ``make local`` runs)
    python local_test/localmode.py run --hosts 2 --serve  (what ``make local-serve`` runs)
    python local_test/localmode.py serve .work/local/<job>/model --image snowflake-xgb:latest
    python local_test/localmode.py run --help
    python local_test/localmode.py down .work/local/sfxgb-local-<suffix>   (after run --keep)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from offline_env import offline_environment

REPO = Path(__file__).resolve().parent.parent
# This script runs with the machine's python, where the package is not installed: it reads the
# /opt/ml layout's names from the package's own module (standard library only) in this checkout.
sys.path.insert(0, str(REPO))
from snowflake_xgb.sagemaker_layout import (  # noqa: E402
    DEFAULT_BASE_DIR,
    HYPERPARAMETERS_FILE,
    INPUT_CONFIG_DIR,
    INPUT_DATA_CONFIG_FILE,
    INPUT_DATA_DIR,
    INPUT_DIR,
    MODEL_DIR,
    OUTPUT_DATA_DIR,
    OUTPUT_DIR,
    RESOURCE_CONFIG_FILE,
)

DEFAULT_WORKDIR = REPO / ".work" / "local"
COMPOSE_VERSION = "2.4"  # compose v1 needs a version for healthchecks/conditions; v2 ignores it
SNOWFLAKE_PORT = 8080
# The Snowflake stand-in serves results as Snowflake does: a small inline first chunk, then
# chunks (growing in size) downloaded from the front's own "cloud storage".
STANDIN_CHUNKS = {"first_chunk_rows": 1000, "chunk_rows": 2000, "chunk_growth": 1.2}
SECRETS_PORT = 5000
STANDIN_PORTS = {"snowflake": SNOWFLAKE_PORT, "secretsmanager": SECRETS_PORT}

DEFAULT_HYPERPARAMETERS = {
    "table": "DEMO.PUBLIC.CALIFORNIA_HOUSING",
    "label": "MEDHOUSEVAL",
    "num_round": "50",
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
    "validation_fraction": "0.2",
    "max_depth": "6",
    "eta": "0.2",
}


def log(msg: str) -> None:
    print(f"[localmode] {msg}", file=sys.stderr, flush=True)


def _random(n: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def compose_command() -> list[str]:
    """``docker compose`` (v2) when the plugin answers, else ``docker-compose`` (v1).

    ``COMPOSE`` in the environment overrides, e.g. ``COMPOSE=docker-compose``.
    """
    override = os.environ.get("COMPOSE")
    if override:
        return shlex.split(override)
    try:
        ok = (
            subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=30
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if ok:
        return ["docker", "compose"]
    return ["docker-compose"]


def docker_available() -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    try:
        res = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return "the docker command is not installed"
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if res.returncode != 0:
        return "no Docker engine answers: " + (res.stderr.strip().splitlines() or ["?"])[-1]
    return None


@dataclass
class Standins:
    """Settings of the Snowflake and Secrets Manager stand-ins (and what the seed creates)."""

    image: str = "snowflake-xgb-standins:latest"
    secret_id: str = "snowflake-xgb/local"
    user: str = "SFXGB_LOCAL"
    password: str = field(default_factory=lambda: "sfxgb-pw-" + secrets.token_hex(12))
    region: str = "us-east-1"
    aws_access_key_id: str = "AKIASFXGBLOCALTEST00"
    aws_secret_access_key: str = field(default_factory=lambda: "sfxgb-aws-" + secrets.token_hex(16))
    rows: int | None = None
    # Their host names on the job's network (distinct names let jobs share one network).
    snowflake_host: str = "snowflake"
    secrets_host: str = "secretsmanager"
    # Also publish both on ephemeral 127.0.0.1 ports (``LocalJob.loopback_port``), for a test
    # that registers workload identities or assumes a role from the machine itself. Not on an
    # internal network (Docker publishes no port there).
    publish_on_loopback: bool = False

    @property
    def moto_url(self) -> str:
        return f"http://{self.secrets_host}:{SECRETS_PORT}"

    def job_environment(self) -> dict[str, str]:
        """What a user would pass as the Estimator's ``environment=`` to reach the stand-ins.

        With the connector's platform detection off and every AWS endpoint at moto
        (``offline_env``): nothing in the job tries to reach beyond the stand-ins.
        """
        return {
            "SNOWFLAKE_SECRET_ID": self.secret_id,
            "SNOWFLAKE_ACCOUNT": "localtest",
            "SNOWFLAKE_DATABASE": "DEMO",
            "SNOWFLAKE_SCHEMA": "PUBLIC",
            "SNOWFLAKE_WAREHOUSE": "LOCAL_WH",
            "SNOWFLAKE_HOST": self.snowflake_host,
            "SNOWFLAKE_PORT": str(SNOWFLAKE_PORT),
            "SNOWFLAKE_PROTOCOL": "http",
            **offline_environment(self.moto_url),
        }

    def aws_credentials(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
        }

    def credential_values(self) -> list[str]:
        """Values that must never show up in a log, an output or a model file."""
        return [self.password, self.aws_secret_access_key]


@dataclass
class LocalJob:
    """One local job: its folder, compose files, hosts and network."""

    root: Path
    project: str
    hosts: list[str]
    image: str
    network: str
    containers: dict[str, str]  # host -> container name

    @classmethod
    def create(
        cls, workdir: Path, n_hosts: int, image: str, project: str | None = None
    ) -> LocalJob:
        if n_hosts < 1:
            raise ValueError("need at least one host")
        suffix = _random(5)
        project = project or f"sfxgb-local-{suffix}"
        root = Path(workdir).resolve() / project
        root.mkdir(parents=True, exist_ok=False)
        hosts = [f"algo-{i}-{suffix}" for i in range(1, n_hosts + 1)]
        containers = {h: f"{_random(10)}-{h}" for h in hosts}
        return cls(root, project, hosts, image, f"{project}-net", containers)

    # -- files ---------------------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return self.root / MODEL_DIR

    def input_dir(self, host: str) -> Path:
        return self.root / host / INPUT_DIR

    def output_dir(self, host: str) -> Path:
        return self.root / host / OUTPUT_DIR

    @property
    def job_file(self) -> Path:
        return self.root / "docker-compose.yaml"

    @property
    def standins_file(self) -> Path:
        return self.root / "standins.yaml"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def write_configs(self, hyperparameters: dict[str, str]) -> None:
        """Per-host /opt/ml/input/config, as the SDK's local mode writes it."""
        self.model_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        for host in self.hosts:
            base = self.root / host  # this host's /opt/ml, but for the shared model folder
            for folder in (INPUT_CONFIG_DIR, INPUT_DATA_DIR, OUTPUT_DATA_DIR):
                (base / folder).mkdir(parents=True, exist_ok=True)
            _write_json(
                base / HYPERPARAMETERS_FILE, {k: str(v) for k, v in hyperparameters.items()}
            )
            _write_json(base / RESOURCE_CONFIG_FILE, {"current_host": host, "hosts": self.hosts})
            # No input channels: the data comes from Snowflake. The SDK writes
            # {"<channel>": {"TrainingInputMode": "File"}} per channel, never S3DistributionType.
            _write_json(base / INPUT_DATA_CONFIG_FILE, {})

    def write_job_compose(self, environment: dict[str, str]) -> None:
        env = [f"{k}={v}" for k, v in environment.items()]
        services = {}
        for host in self.hosts:
            services[host] = {
                "image": self.image,
                "container_name": self.containers[host],
                "command": "train",
                "stdin_open": True,
                "tty": True,
                "environment": env,
                "volumes": [
                    f"{self.input_dir(host)}:{DEFAULT_BASE_DIR / INPUT_DIR}",
                    f"{self.output_dir(host)}:{DEFAULT_BASE_DIR / OUTPUT_DIR}",
                    f"{self.root / host / OUTPUT_DATA_DIR}:{DEFAULT_BASE_DIR / OUTPUT_DATA_DIR}",
                    f"{self.model_dir}:{DEFAULT_BASE_DIR / MODEL_DIR}",
                ],
                "networks": {"sagemaker-local": {"aliases": [host]}},
            }
        content = {
            "version": COMPOSE_VERSION,
            "services": services,
            "networks": {"sagemaker-local": {"external": True, "name": self.network}},
        }
        _write_json(self.job_file, content)

    def write_standins_compose(self, s: Standins) -> None:
        health = {"interval": "2s", "timeout": "5s", "retries": 90}

        def port_check(port: int) -> list[str]:
            code = f"import socket; socket.create_connection(('127.0.0.1', {port}), 3).close()"
            return ["CMD", "python", "-c", code]

        aws = {
            "AWS_DEFAULT_REGION": s.region,
            **s.aws_credentials(),
            **offline_environment(s.moto_url),
        }
        aws_env = [f"{k}={v}" for k, v in aws.items()]
        seed_cmd = [
            "python", "/opt/standins/seed_standins.py",
            "--snowflake-host", s.snowflake_host, "--snowflake-port", str(SNOWFLAKE_PORT),
            "--secrets-endpoint", s.moto_url,
            "--secret-id", s.secret_id, "--user", s.user, "--password", s.password,
        ]  # fmt: skip
        if s.rows:
            seed_cmd += ["--rows", str(s.rows)]
        content = {
            "version": COMPOSE_VERSION,
            "services": {
                "snowflake": {
                    "image": s.image,
                    "command": [
                        "python",
                        "/opt/standins/standin_servers.py",
                        "snowflake",
                        "--host",
                        "0.0.0.0",
                        "--port",
                        str(SNOWFLAKE_PORT),
                        "--settings",
                        json.dumps(STANDIN_CHUNKS),
                        # WORKLOAD_IDENTITY logins are checked against moto's STS.
                        "--sts-url",
                        s.moto_url,
                    ],
                    "healthcheck": {"test": port_check(SNOWFLAKE_PORT), **health},
                    "networks": {"sagemaker-local": {"aliases": [s.snowflake_host]}},
                },
                "secretsmanager": {
                    "image": s.image,
                    "command": ["moto_server", "-H", "0.0.0.0", "-p", str(SECRETS_PORT)],
                    "environment": aws_env,
                    "healthcheck": {"test": port_check(SECRETS_PORT), **health},
                    "networks": {"sagemaker-local": {"aliases": [s.secrets_host]}},
                },
                "seed": {
                    "image": s.image,
                    "command": seed_cmd,
                    "environment": aws_env,
                    "depends_on": {
                        "snowflake": {"condition": "service_healthy"},
                        "secretsmanager": {"condition": "service_healthy"},
                    },
                    "networks": ["sagemaker-local"],
                },
            },
            "networks": {"sagemaker-local": {"external": True, "name": self.network}},
        }
        if s.publish_on_loopback:
            for svc, port in STANDIN_PORTS.items():
                content["services"][svc]["ports"] = [f"127.0.0.1::{port}"]
        _write_json(self.standins_file, content)

    # -- docker ----------------------------------------------------------------------------
    def create_network(self, internal: bool = True) -> None:
        """The job's network; ``internal``: no route off the machine (stray calls fail at once)."""
        flags = ["--internal"] if internal else []
        _run(["docker", "network", "create", "--label", f"snowflake-xgb.local={self.project}",
              *flags, self.network], capture=True)  # fmt: skip

    def remove_network(self) -> None:
        _run(["docker", "network", "rm", self.network], check=False, capture=True)

    def standins_compose(self, compose: list[str]) -> list[str]:
        return [*compose, "-f", str(self.standins_file), "-p", f"{self.project}-standins"]

    def loopback_port(self, compose: list[str], service: str) -> int:
        """The 127.0.0.1 port a stand-in is published on (``Standins.publish_on_loopback``)."""
        cmd = [*self.standins_compose(compose), "port", service, str(STANDIN_PORTS[service])]
        address = _run(cmd, capture=True).stdout.strip()
        return int(address.rsplit(":", 1)[1])

    def job_compose(self, compose: list[str]) -> list[str]:
        return [*compose, "-f", str(self.job_file), "-p", self.project]

    def run_training(self, compose: list[str], timeout: float) -> dict:
        """``up --abort-on-container-exit`` as the SDK runs it; then each host's exit code."""
        cmd = [*self.job_compose(compose), "up", "--abort-on-container-exit"]
        log("running: " + " ".join(cmd))
        started = time.monotonic()
        timed_out = False
        with open(self.logs_dir / "compose-up.log", "wb") as out:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            reader = threading.Thread(target=_tee, args=(proc.stdout, out), daemon=True)
            reader.start()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                log(f"job did not finish within {timeout:.0f}s: killing it")
                _run([*self.job_compose(compose), "kill"], check=False, capture=True)
                proc.kill()
                proc.wait()
            reader.join(timeout=30)
        result = {
            "project": self.project,
            "root": str(self.root),
            "model_dir": str(self.model_dir),
            "seconds": round(time.monotonic() - started, 1),
            "timed_out": timed_out,
            "compose_returncode": proc.returncode,
            "hosts": [],
        }
        for host in self.hosts:
            name = self.containers[host]
            state = _run(["docker", "inspect", "-f", "{{json .State}}", name],
                         check=False, capture=True)  # fmt: skip
            info = json.loads(state.stdout) if state.returncode == 0 else {}
            logs = _run(["docker", "logs", "-t", name], check=False, capture=True, text=False)
            log_path = self.logs_dir / f"{host}.log"
            log_path.write_bytes(logs.stdout + logs.stderr)
            result["hosts"].append(
                {
                    "host": host,
                    "container": name,
                    "exit_code": info.get("ExitCode"),
                    "finished_at": info.get("FinishedAt"),
                    "log": str(log_path),
                }
            )
        result["ok"] = not timed_out and all(h["exit_code"] == 0 for h in result["hosts"])
        _write_json(self.root / "result.json", result)
        return result

    def save_standins_logs(self, compose: list[str]) -> None:
        for svc in ("snowflake", "secretsmanager"):
            res = _run([*self.standins_compose(compose), "logs", "--no-color", svc],
                       check=False, capture=True, text=False)  # fmt: skip
            (self.logs_dir / f"standin-{svc}.log").write_bytes(res.stdout + res.stderr)

    def down(self, compose: list[str], standins: bool) -> None:
        _run([*self.job_compose(compose), "down", "-v"], check=False, capture=True)
        if standins:
            _run([*self.standins_compose(compose), "down", "-v"], check=False, capture=True)
        self.remove_network()


def wait_healthy(compose_prefix: list[str], services: list[str], timeout: float) -> None:
    """Wait until the services' Docker health checks pass (bounded)."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        for svc in list(pending):
            cid = _run([*compose_prefix, "ps", "-q", svc], check=False, capture=True).stdout.strip()
            if cid:
                status = _run(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                              check=False, capture=True).stdout.strip()  # fmt: skip
                if status == "healthy":
                    pending.remove(svc)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"stand-ins not healthy within {timeout:.0f}s: {pending}")
        time.sleep(1)


def seed_standins(compose_prefix: list[str], log_path: Path | None = None, timeout: float = 300):
    """Run the one-shot seed service (``run --rm``); its output goes to ``log_path``."""
    res = _run([*compose_prefix, "run", "--rm", "--no-deps", "-T", "seed"],
               check=False, capture=True, timeout=timeout)  # fmt: skip
    if log_path is not None:
        log_path.write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"seeding the stand-ins failed:\n{res.stdout}\n{res.stderr}")


def start_standins(job: LocalJob, s: Standins, compose: list[str], timeout: float = 180) -> None:
    prefix = job.standins_compose(compose)
    log(f"starting stand-ins ({s.image}) on network {job.network}")
    _run([*prefix, "up", "-d", "snowflake", "secretsmanager"], capture=True)
    wait_healthy(prefix, ["snowflake", "secretsmanager"], timeout)
    log("seeding the demo table and the secret")
    seed_standins(prefix, job.logs_dir / "standin-seed.log")


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
        res = _run(["docker", "logs", self.container], check=False, capture=True)
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
    name = f"sfxgb-serve-{_random(8)}"
    cmd = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1::{SERVING_PORT}",
           "-v", f"{Path(model_dir).resolve()}:{DEFAULT_BASE_DIR / MODEL_DIR}:ro"]  # fmt: skip
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    server = Server(name, "")
    try:
        _run([*cmd, image, "serve"], capture=True)
        port = _run(["docker", "port", name, str(SERVING_PORT)], capture=True).stdout
        server.url = "http://" + port.split()[0].replace("0.0.0.0", "127.0.0.1")
        deadline = time.monotonic() + timeout
        while True:
            running = _run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                           check=False, capture=True).stdout.strip()  # fmt: skip
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
        _run(["docker", "stop", "-t", "30", name], check=False, capture=True)
        state = _run(["docker", "inspect", "-f", "{{.State.ExitCode}}", name],
                     check=False, capture=True).stdout.strip()  # fmt: skip
        server.exit_code = int(state) if state.lstrip("-").isdigit() else None
        _run(["docker", "rm", "-f", name], check=False, capture=True)


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


def _tee(src, out) -> None:
    for line in iter(src.readline, b""):
        out.write(line)
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _run(cmd, check=True, capture=False, text=True, timeout=None):
    res = subprocess.run(cmd, capture_output=capture, text=text, timeout=timeout)
    if check and res.returncode != 0:
        detail = f"\n{res.stdout}\n{res.stderr}" if capture else ""
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}{detail}")
    return res


def _parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{what} must look like KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _read_env_file(path: str) -> dict[str, str]:
    out = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.update(_parse_pairs([line.removeprefix("export ").strip()], "env file line"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run an N-host snowflake_xgb training job locally, the way the SageMaker "
        "SDK's local mode runs it.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="run one job (default: against seeded stand-ins)")
    p.add_argument("--hosts", type=int, default=2)
    p.add_argument("--image", default="snowflake-xgb:latest")
    p.add_argument("--standins-image", default="snowflake-xgb-standins:latest")
    p.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="hyperparameter (repeatable); overrides the demo defaults")  # fmt: skip
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment variable for the hosts (repeatable)")  # fmt: skip
    p.add_argument("--env-file", help="file of KEY=VALUE lines for the hosts")
    p.add_argument("--no-standins", action="store_true",
                   help="use a real Snowflake account and real AWS (settings via --env/--env-file, "
                   "AWS credentials from this environment)")  # fmt: skip
    p.add_argument("--rows", type=int, help="rows to seed (default: the seed script's)")
    p.add_argument("--region", default=os.environ.get("AWS_REGION")
                   or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")  # fmt: skip
    p.add_argument("--timeout", type=float, default=1800, help="seconds for the training job")
    p.add_argument("--keep", action="store_true", help="leave containers and network up")
    p.add_argument("--serve", action="store_true",
                   help="then serve the model from the image, print a few predictions")  # fmt: skip
    sv = sub.add_parser("serve", help="serve a model folder and print a few predictions")
    sv.add_argument("model_dir", help="a folder with xgboost-model and metadata.json")
    sv.add_argument("--image", default="snowflake-xgb:latest")
    d = sub.add_parser("down", help="remove the containers and network of jobs run with --keep")
    d.add_argument("job_dirs", nargs="+", help="job folders, e.g. .work/local/sfxgb-local-abcde")
    args = parser.parse_args(argv)

    if args.cmd == "serve":
        reason = docker_available()
        if reason:
            log(reason)
            return 2
        return serve_and_predict(args.image, Path(args.model_dir))

    if args.cmd == "down":
        compose = compose_command()
        for job_dir in map(Path, args.job_dirs):
            if not (job_dir / "docker-compose.yaml").is_file():
                log(f"{job_dir}: not a job folder, skipped")
                continue
            job = LocalJob(job_dir.resolve(), job_dir.resolve().name, [], "", "", {})
            job.network = f"{job.project}-net"
            job.down(compose, standins=job.standins_file.is_file())
            log(f"{job.project}: down")
        return 0

    reason = docker_available()
    if reason:
        log(reason)
        return 2
    compose = compose_command()
    job = LocalJob.create(Path(args.workdir), args.hosts, args.image)
    hyperparameters = {**DEFAULT_HYPERPARAMETERS, **_parse_pairs(args.hp, "--hp")}
    job.write_configs(hyperparameters)

    # As the SDK: AWS credentials, AWS_REGION and TRAINING_JOB_NAME, then the user's environment.
    env: dict[str, str] = {}
    standins = None
    if args.no_standins:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if os.environ.get(key):
                env[key] = os.environ[key]
    else:
        standins = Standins(image=args.standins_image, region=args.region, rows=args.rows)
        env.update(standins.aws_credentials())
    env["AWS_REGION"] = args.region
    env["TRAINING_JOB_NAME"] = job.project
    if standins:
        env.update(standins.job_environment())
    if args.env_file:
        env.update(_read_env_file(args.env_file))
    env.update(_parse_pairs(args.env, "--env"))
    job.write_job_compose(env)

    log(f"job {job.project}: hosts {', '.join(job.hosts)}; files in {job.root}")
    # Against the stand-ins nothing may leave the machine: the network has no route out.
    job.create_network(internal=standins is not None)
    result = None
    try:
        if standins:
            job.write_standins_compose(standins)
            start_standins(job, standins, compose)
        result = job.run_training(compose, timeout=args.timeout)
    finally:
        if standins:
            job.save_standins_logs(compose)
        if not args.keep:
            job.down(compose, standins=standins is not None)

    for h in result["hosts"]:
        log(f"{h['host']} ({h['container']}): exit {h['exit_code']}, log {h['log']}")
    if not result["ok"]:
        log(f"job FAILED: see {job.root}/result.json and the failure files under "
            f"{job.root}/<host>/output/")  # fmt: skip
        return 1
    log(f"job done in {result['seconds']}s")
    print(f"Model: {job.model_dir / 'xgboost-model'}")
    print(f"Metadata: {job.model_dir / 'metadata.json'}")
    if args.serve:
        return serve_and_predict(args.image, job.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

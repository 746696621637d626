"""One local job on docker compose, laid out as the SageMaker Python SDK's local mode lays it out.

What ``localmode.py run`` runs (see there for the command line); what passes here passes there:

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

The stand-ins for Snowflake (``fakesnow -s`` behind our front, which serves results in chunks as
Snowflake does, and checks ``WORKLOAD_IDENTITY`` logins against moto's STS) and AWS Secrets
Manager and STS (``moto_server``) run on the same network, in their own compose project, seeded
with the demo California housing table and a secret (``local_test/seed_standins.py``)
(``Standins``, ``start_standins``). Against them nothing may leave the machine: the job's network
is ``internal`` (no route off the machine, so a stray call fails at once), and every container
gets ``offline_env``'s settings (the connector's platform detection off, every AWS endpoint at
moto).

Standard library only (the machine's python runs it); works with ``docker compose`` (v2) and
``docker-compose`` (v1).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from offline_env import offline_environment

# The /opt/ml layout, named once in the package (standard library only, like this module);
# ``localmode.py`` puts the repository on the import path where the package is not installed.
from snowflake_xgb.sagemaker_layout import (
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

COMPOSE_VERSION = "2.4"  # compose v1 needs a version for healthchecks/conditions; v2 ignores it
SNOWFLAKE_PORT = 8080
# The Snowflake stand-in serves results as Snowflake does (its front's settings): a small inline
# first chunk, then chunks (growing in size) downloaded from the front's own "cloud storage".
STANDIN_RESULT_SHAPE = {"first_chunk_rows": 1000, "chunk_rows": 2000, "chunk_growth": 1.2}
SECRETS_PORT = 5000
STANDIN_PORTS = {"snowflake": SNOWFLAKE_PORT, "secretsmanager": SECRETS_PORT}


def log(msg: str) -> None:
    print(f"[localmode] {msg}", file=sys.stderr, flush=True)


def random_name(n: int) -> str:
    """``n`` random lower-case letters and digits (host suffixes, container names)."""
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


def _tee(src, out) -> None:
    for line in iter(src.readline, b""):
        out.write(line)
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def run_command(cmd, check=True, capture=False, text=True, timeout=None):
    """Run ``cmd``; RuntimeError (with its output when captured) when it fails and ``check``."""
    res = subprocess.run(cmd, capture_output=capture, text=text, timeout=timeout)
    if check and res.returncode != 0:
        detail = f"\n{res.stdout}\n{res.stderr}" if capture else ""
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}{detail}")
    return res


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
        suffix = random_name(5)
        project = project or f"sfxgb-local-{suffix}"
        root = Path(workdir).resolve() / project
        root.mkdir(parents=True, exist_ok=False)
        hosts = [f"algo-{i}-{suffix}" for i in range(1, n_hosts + 1)]
        containers = {h: f"{random_name(10)}-{h}" for h in hosts}
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
                        json.dumps(STANDIN_RESULT_SHAPE),
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
        run_command(
            [
                "docker",
                "network",
                "create",
                "--label",
                f"snowflake-xgb.local={self.project}",
                *flags,
                self.network,
            ],
            capture=True,
        )

    def remove_network(self) -> None:
        run_command(["docker", "network", "rm", self.network], check=False, capture=True)

    def standins_compose(self, compose: list[str]) -> list[str]:
        return [*compose, "-f", str(self.standins_file), "-p", f"{self.project}-standins"]

    def loopback_port(self, compose: list[str], service: str) -> int:
        """The 127.0.0.1 port a stand-in is published on (``Standins.publish_on_loopback``)."""
        cmd = [*self.standins_compose(compose), "port", service, str(STANDIN_PORTS[service])]
        address = run_command(cmd, capture=True).stdout.strip()
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
                run_command([*self.job_compose(compose), "kill"], check=False, capture=True)
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
            state = run_command(
                ["docker", "inspect", "-f", "{{json .State}}", name], check=False, capture=True
            )
            info = json.loads(state.stdout) if state.returncode == 0 else {}
            logs = run_command(
                ["docker", "logs", "-t", name], check=False, capture=True, text=False
            )
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
            res = run_command(
                [*self.standins_compose(compose), "logs", "--no-color", svc],
                check=False,
                capture=True,
                text=False,
            )
            (self.logs_dir / f"standin-{svc}.log").write_bytes(res.stdout + res.stderr)

    def down(self, compose: list[str], standins: bool) -> None:
        run_command([*self.job_compose(compose), "down", "-v"], check=False, capture=True)
        if standins:
            run_command([*self.standins_compose(compose), "down", "-v"], check=False, capture=True)
        self.remove_network()


def wait_healthy(compose_prefix: list[str], services: list[str], timeout: float) -> None:
    """Wait until the services' Docker health checks pass (bounded)."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        for svc in list(pending):
            cid = run_command(
                [*compose_prefix, "ps", "-q", svc], check=False, capture=True
            ).stdout.strip()
            if cid:
                status = run_command(
                    ["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                    check=False,
                    capture=True,
                ).stdout.strip()
                if status == "healthy":
                    pending.remove(svc)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"stand-ins not healthy within {timeout:.0f}s: {pending}")
        time.sleep(1)


def seed_standins(compose_prefix: list[str], log_path: Path | None = None, timeout: float = 300):
    """Run the one-shot seed service (``run --rm``); its output goes to ``log_path``."""
    res = run_command(
        [*compose_prefix, "run", "--rm", "--no-deps", "-T", "seed"],
        check=False,
        capture=True,
        timeout=timeout,
    )
    if log_path is not None:
        log_path.write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"seeding the stand-ins failed:\n{res.stdout}\n{res.stderr}")


def start_standins(job: LocalJob, s: Standins, compose: list[str], timeout: float = 180) -> None:
    prefix = job.standins_compose(compose)
    log(f"starting stand-ins ({s.image}) on network {job.network}")
    run_command([*prefix, "up", "-d", "snowflake", "secretsmanager"], capture=True)
    wait_healthy(prefix, ["snowflake", "secretsmanager"], timeout)
    log("seeding the demo table and the secret")
    seed_standins(prefix, job.logs_dir / "standin-seed.log")

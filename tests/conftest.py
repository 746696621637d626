"""Shared fixtures: the Snowflake and Secrets Manager stand-ins, seeded data, and a job runner.

The stand-ins are real servers over HTTP: ``fakesnow -s`` behind our Snowflake-shaped front
(reached by the real Snowflake connector) and ``moto_server`` (reached by real boto3). Jobs run
through sagemaker-training's real ``train`` command, one OS process per host, each with its
own ``/opt/ml``-like folder. Everything a fixture starts, it stops; nothing else is touched.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "local_test"))
from seed_standins import create_housing_table  # noqa: E402
from snowflake_front import FrontControl  # noqa: E402
from standin_servers import free_port, serve, standin_servers  # noqa: E402, F401

HOUSING_TABLE = "DEMO.PUBLIC.CALIFORNIA_HOUSING"
SECRET_ID = "snowflake-xgb/test"
# Distinctive values, so that a leak is found by a plain byte search of everything a job wrote.
TEST_PASSWORD = "pw-7f3c1e9a-LEAKCHECK-d41d8cd9"
TEST_USER = "svc_xgb_test"
REGION = "us-east-1"
JOB_TIMEOUT_SECONDS = 240


@dataclass(frozen=True)
class StandIns:
    """Where the stand-ins listen, and the environment a job needs to use them."""

    snowflake_port: int
    secrets_url: str

    @property
    def front(self) -> FrontControl:
        """The Snowflake stand-in's front: how it serves results, and what it served."""
        return FrontControl(f"http://127.0.0.1:{self.snowflake_port}")

    def job_environ(self, secret_id: str = SECRET_ID) -> dict[str, str]:
        return {
            "SNOWFLAKE_SECRET_ID": secret_id,
            "SNOWFLAKE_ACCOUNT": "local",
            "SNOWFLAKE_HOST": "127.0.0.1",
            "SNOWFLAKE_PORT": str(self.snowflake_port),
            "SNOWFLAKE_PROTOCOL": "http",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.secrets_url,
        }

    def connect(self) -> snowflake.connector.SnowflakeConnection:
        return snowflake.connector.connect(
            user=TEST_USER, password=TEST_PASSWORD, account="local", host="127.0.0.1",
            port=self.snowflake_port, protocol="http", login_timeout=30, network_timeout=120,
        )  # fmt: skip

    def put_secret(self, secret_id: str, secret: dict | str) -> None:
        client = boto3.client(
            "secretsmanager", endpoint_url=self.secrets_url, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        text = secret if isinstance(secret, str) else json.dumps(secret)
        try:
            client.create_secret(Name=secret_id, SecretString=text)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=secret_id, SecretString=text)

    def execute(self, *statements: str) -> list[tuple]:
        with self.connect() as connection:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            return cursor.fetchall()


@pytest.fixture(scope="session")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIns]:
    """fakesnow and moto servers, with the demo table and the test secret in them."""
    with standin_servers(tmp_path_factory.mktemp("standin-logs")) as endpoints:
        servers = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        with servers.connect() as connection:
            create_housing_table(connection, HOUSING_TABLE, rows=20640, stand_in=True)
        servers.put_secret(SECRET_ID, {"user": TEST_USER, "password": TEST_PASSWORD})
        yield servers


# Each job gets its own loopback addresses: XGBoost's tracker cannot rebind an address:port
# for about a minute after a job (TIME_WAIT), and several test runs may share this machine.
_ADDRESS_BLOCK = random.randrange(16, 250)
_job_numbers = itertools.count(1)


@dataclass
class HostRun:
    """One host's process of a job: its folder, exit code and output."""

    name: str
    base_dir: Path
    returncode: int | None = None
    output: str = ""

    @property
    def model_dir(self) -> Path:
        return self.base_dir / "model"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    @property
    def failure(self) -> str | None:
        path = self.output_dir / "failure"
        return path.read_text() if path.exists() else None

    def shard_report(self) -> dict:
        return json.loads((self.output_dir / "data" / f"shard-{self.name}.json").read_text())


@dataclass
class JobRun:
    hosts: list[HostRun] = field(default_factory=list)

    @property
    def coordinator(self) -> HostRun:
        return self.hosts[0]

    def all_bytes(self) -> bytes:
        """Everything the job wrote: logs, outputs and model files of every host."""
        chunks = [host.output.encode() for host in self.hosts]
        for host in self.hosts:
            for path in sorted(host.base_dir.rglob("*")):
                if path.is_file() and "input" not in path.relative_to(host.base_dir).parts:
                    chunks.append(path.read_bytes())
        return b"\n".join(chunks)


def layout_host(
    base_dir: Path, host: str, hosts: list[str], hyperparameters: dict, checkpoints: Path | None
) -> None:
    """A folder laid out like /opt/ml, as SageMaker prepares it for one host."""
    config = base_dir / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (base_dir / "input" / "data").mkdir(exist_ok=True)
    (base_dir / "model").mkdir(exist_ok=True)
    (base_dir / "output" / "data").mkdir(parents=True, exist_ok=True)
    hyperparameters = {key: str(value) for key, value in hyperparameters.items()}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    resources = {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}
    (config / "resourceconfig.json").write_text(json.dumps(resources))
    (config / "inputdataconfig.json").write_text("{}")
    if checkpoints is not None:
        (config / "checkpointconfig.json").write_text(json.dumps({"LocalPath": str(checkpoints)}))


class JobRunner:
    """Starts a job's hosts as ``train`` processes and collects what they did."""

    def __init__(self, standins: StandIns, root: Path) -> None:
        self.standins = standins
        self.root = root

    def start(
        self,
        hyperparameters: dict,
        hosts: int = 1,
        environ: dict[str, str] | None = None,
        checkpoints: Path | None = None,
        name: str | None = None,
    ) -> tuple[JobRun, list[subprocess.Popen]]:
        number = next(_job_numbers)
        job_dir = self.root / (name or f"job{number}")
        shutil.rmtree(job_dir, ignore_errors=True)
        names = [f"127.{_ADDRESS_BLOCK}.{number % 250}.{i + 1}" for i in range(hosts)]
        env = {**os.environ, **self.standins.job_environ(), **(environ or {})}
        env["SAGEMAKER_TRAINING_MODULE"] = "snowflake_xgb.training:main"
        if hosts > 1:  # the host processes share this machine's cores; don't oversubscribe them
            env.setdefault("OMP_NUM_THREADS", "1")
        env = {key: value for key, value in env.items() if value is not None}
        run, processes = JobRun(), []
        for index, host in enumerate(names):
            base_dir = job_dir / f"host{index + 1}"
            host_checkpoints = checkpoints / f"host{index + 1}" if checkpoints else None
            layout_host(base_dir, host, names, hyperparameters, host_checkpoints)
            log = (job_dir / f"host{index + 1}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [str(Path(sys.executable).parent / "train")],
                    env={**env, "SAGEMAKER_BASE_DIR": str(base_dir)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=base_dir,
                )
            )
            run.hosts.append(HostRun(host, base_dir))
        return run, processes

    def wait(
        self, run: JobRun, processes: list[subprocess.Popen], timeout: float = JOB_TIMEOUT_SECONDS
    ) -> JobRun:
        deadline = time.monotonic() + timeout
        for host, process in zip(run.hosts, processes, strict=True):
            try:
                host.returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                host.returncode = process.wait()
        for index, host in enumerate(run.hosts):
            log_path = host.base_dir.parent / f"host{index + 1}.log"
            host.output = log_path.read_text(errors="replace")
        return run

    def run(self, hyperparameters: dict, hosts: int = 1, **kwargs) -> JobRun:
        """Run a job to the end (bounded by a timeout) and return what every host did."""
        timeout = kwargs.pop("timeout", JOB_TIMEOUT_SECONDS)
        return self.wait(*self.start(hyperparameters, hosts, **kwargs), timeout=timeout)


@pytest.fixture
def jobs(standins: StandIns, tmp_path: Path) -> JobRunner:
    return JobRunner(standins, tmp_path)


@pytest.fixture
def housing_params() -> dict:
    """A small regression job on the demo table."""
    return {
        "table": HOUSING_TABLE,
        "label": "MEDHOUSEVAL",
        "num_round": 20,
        "max_depth": 5,
        "eta": 0.3,
        "eval_metric": "rmse",
        "validation_fraction": 0.2,
    }


# Credentials for the tests that sign in by key pair or token, and search outputs for them.
PASSPHRASE = "kp-pass-5b2e77c1-LEAKCHECK"
TOKEN = "pat-ver1-3e8d0a6f-LEAKCHECK-9b7c"


@dataclass(frozen=True)
class KeyPair:
    pem: str  # PKCS#8, unencrypted
    encrypted_pem: str  # PKCS#8, encrypted with PASSPHRASE
    rsa_pem: str  # PKCS#1 ("BEGIN RSA PRIVATE KEY"), as openssl genrsa writes it
    body: str  # the base64 body of ``pem`` without armour (AWS Glue's pem_private_key)
    public_pem: str
    fingerprint: str  # what Snowflake shows as RSA_PUBLIC_KEY_FP

    def secret_fragments(self) -> list[bytes]:
        """Pieces that must never appear anywhere: each line of each private key's body."""
        lines = set()
        for pem in (self.pem, self.encrypted_pem, self.rsa_pem):
            lines.update(line for line in pem.splitlines() if line and "-----" not in line)
        return [line.encode() for line in sorted(lines)] + [self.body[:40].encode()]


def make_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()
    rsa_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    return KeyPair(pem, encrypted, rsa_pem, body, public_pem, fingerprint)


@pytest.fixture(scope="session")
def key_pair() -> KeyPair:
    return make_key_pair()


# The SDK example's metric definitions, applied as SageMaker applies them.
def _launch_example():
    spec = importlib.util.spec_from_file_location(
        "launch_training_job", REPO / "examples" / "launch_training_job.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports no SDK at module level
    return module


METRIC_DEFINITIONS = _launch_example().METRIC_DEFINITIONS


def metric_values(log: str) -> dict[str, list[float]]:
    """Apply the metric definitions as SageMaker does, to the log as CloudWatch stores it."""
    values: dict[str, list[float]] = {d["Name"]: [] for d in METRIC_DEFINITIONS}
    for line in log.splitlines():
        line = line.replace("\t", "#011")  # how the job's tabs reach CloudWatch
        for definition in METRIC_DEFINITIONS:
            match = re.search(definition["Regex"], line)
            if match:
                values[definition["Name"]].append(float(match.group(1)))
    return values

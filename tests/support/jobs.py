"""Running a job as SageMaker does: one ``train`` process per host, each with its own
``/opt/ml``-like folder, and what every host did (``JobRunner``, ``JobRun``, ``HostRun``).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from snowflake_xgb import sagemaker_layout as layout

from .standins import StandIns

JOB_TIMEOUT_SECONDS = 240


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
        return self.base_dir / layout.MODEL_DIR

    @property
    def output_dir(self) -> Path:
        return self.base_dir / layout.OUTPUT_DIR

    @property
    def failure(self) -> str | None:
        path = self.base_dir / layout.FAILURE_FILE
        return path.read_text() if path.exists() else None

    def shard_report(self) -> dict:
        path = self.base_dir / layout.OUTPUT_DATA_DIR / f"shard-{self.name}.json"
        return json.loads(path.read_text())


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
                if path.is_file() and not path.is_relative_to(host.base_dir / layout.INPUT_DIR):
                    chunks.append(path.read_bytes())
        return b"\n".join(chunks)


def layout_host(
    base_dir: Path, host: str, hosts: list[str], hyperparameters: dict, checkpoints: Path | None
) -> None:
    """A folder laid out like /opt/ml, as SageMaker prepares it for one host."""
    for folder in layout.PREPARED_DIRS:
        (base_dir / folder).mkdir(parents=True, exist_ok=True)
    hyperparameters = {key: str(value) for key, value in hyperparameters.items()}
    (base_dir / layout.HYPERPARAMETERS_FILE).write_text(json.dumps(hyperparameters))
    resources = {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}
    (base_dir / layout.RESOURCE_CONFIG_FILE).write_text(json.dumps(resources))
    (base_dir / layout.INPUT_DATA_CONFIG_FILE).write_text("{}")
    if checkpoints is not None:
        checkpoint_config = json.dumps({"LocalPath": str(checkpoints)})
        (base_dir / layout.CHECKPOINT_CONFIG_FILE).write_text(checkpoint_config)


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
        channels: dict[str, Path] | None = None,
    ) -> tuple[JobRun, list[subprocess.Popen]]:
        """``channels``: input channel name -> a folder whose files SageMaker would download
        into every host's ``input/data/<name>``."""
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
            for channel, folder in (channels or {}).items():
                shutil.copytree(folder, base_dir / layout.INPUT_DATA_DIR / channel)
            log = (job_dir / f"host{index + 1}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [str(Path(sys.executable).parent / "train")],
                    env={**env, layout.BASE_DIR_ENV: str(base_dir)},
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

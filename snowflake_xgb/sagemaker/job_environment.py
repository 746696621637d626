"""The SageMaker training contract, in one place.

SageMaker (and its local mode) hands a training container a folder laid out like ``/opt/ml``:
configuration files under ``input/config``, the model folder, the output folder and, when
checkpointing is on, a checkpoint folder. Outside a container, ``SAGEMAKER_BASE_DIR`` points
at such a folder; that is how tests and local runs drive the job.

Each file and folder of that layout is named once below, relative to the base folder (write
``base / HYPERPARAMETERS_FILE``); whatever lays out a job folder (the tests, local mode, the
benchmarks) uses these names. Naming them creates nothing: SageMaker makes the folders.

This module only reads that layout; it does not interpret hyperparameters (see ``config``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
"""The environment variable naming the folder laid out like ``/opt/ml`` outside a container."""

DEFAULT_BASE_DIR = PurePosixPath("/opt/ml")
"""Where SageMaker mounts the job's folder in a training container."""

INPUT_DIR = PurePosixPath("input")
"""What SageMaker hands the job before it starts: ``config/`` and ``data/``."""

INPUT_CONFIG_DIR = INPUT_DIR / "config"
"""The job's configuration files, written by SageMaker before the container starts."""

HYPERPARAMETERS_FILE = INPUT_CONFIG_DIR / "hyperparameters.json"
"""The CreateTrainingJob request's hyperparameters: a JSON object, every value a string."""

RESOURCE_CONFIG_FILE = INPUT_CONFIG_DIR / "resourceconfig.json"
"""This host and the job's hosts: ``{"current_host": "algo-1", "hosts": ["algo-1", ...]}``."""

INPUT_DATA_CONFIG_FILE = INPUT_CONFIG_DIR / "inputdataconfig.json"
"""The job's input channels (none here: the rows come from Snowflake, so ``{}``)."""

CHECKPOINT_CONFIG_FILE = INPUT_CONFIG_DIR / "checkpointconfig.json"
"""Present when checkpointing is on: ``{"LocalPath": ...}``, the folder SageMaker syncs to S3."""

INPUT_DATA_DIR = INPUT_DIR / "data"
"""One folder per input channel (empty here; SageMaker creates it all the same)."""

CODE_DIR = PurePosixPath("code")
"""A script-mode user's code, when the image holds it (sagemaker-training looks here)."""

MODEL_DIR = PurePosixPath("model")
"""What the job leaves for serving: SageMaker packs it into ``model.tar.gz``."""

OUTPUT_DIR = PurePosixPath("output")
"""Where the job's success or failure is told; SageMaker packs it into ``output.tar.gz``."""

OUTPUT_DATA_DIR = OUTPUT_DIR / "data"
"""The job's other outputs (reports, per-host shard reports)."""

FAILURE_FILE = OUTPUT_DIR / "failure"
"""The failure reason: SageMaker shows its first 1024 characters as the job's reason."""

SUCCESS_FILE = OUTPUT_DIR / "success"
"""Written when the job succeeds (empty), as sagemaker-training writes it."""

PREPARED_DIRS = (INPUT_CONFIG_DIR, INPUT_DATA_DIR, MODEL_DIR, OUTPUT_DATA_DIR)
"""The folders SageMaker creates before the job starts; a folder laid out by hand needs them."""

DEFAULT_CHECKPOINT_DIR = DEFAULT_BASE_DIR / "checkpoints"
"""SageMaker's checkpoint folder when ``checkpointconfig.json`` names no ``LocalPath``."""


def base_dir() -> Path:
    """The folder laid out like ``/opt/ml``: ``SAGEMAKER_BASE_DIR``, default ``/opt/ml``."""
    return Path(os.environ.get(BASE_DIR_ENV, DEFAULT_BASE_DIR))


def sdk_string(value: str) -> str:
    """A string hyperparameter as the user wrote it: SDK v2 JSON-quotes them (``'"train.py"'``),
    v3 and hand-written ones are plain."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def _read_json(path: Path) -> Any:
    with path.open() as f:
        return json.load(f)


@dataclass(frozen=True)
class JobEnvironment:
    """Where this job's inputs and outputs are, and which hosts take part."""

    base_dir: Path
    hosts: tuple[str, ...]
    current_host: str
    raw_hyperparameters: dict[str, str]
    checkpoint_dir: Path | None

    @property
    def model_dir(self) -> Path:
        return self.base_dir / MODEL_DIR

    @property
    def output_dir(self) -> Path:
        return self.base_dir / OUTPUT_DIR

    @property
    def output_data_dir(self) -> Path:
        return self.base_dir / OUTPUT_DATA_DIR

    @property
    def rank(self) -> int:
        """This host's index in the sorted host list; host 0 coordinates."""
        return self.hosts.index(self.current_host)

    @property
    def is_coordinator(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environ(cls) -> JobEnvironment:
        """Read the job's layout from ``SAGEMAKER_BASE_DIR`` (default ``/opt/ml``)."""
        root = base_dir()
        hyperparameters_file = root / HYPERPARAMETERS_FILE
        raw = _read_json(hyperparameters_file) if hyperparameters_file.exists() else {}
        # Read the file as SageMaker writes it (every value a string). sagemaker-training's own
        # reader logs values it cannot parse as JSON, which we avoid for what we read ourselves.
        raw_hyperparameters = {
            str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()
        }

        resource_file = root / RESOURCE_CONFIG_FILE
        if resource_file.exists():
            resources = _read_json(resource_file)
            hosts = tuple(sorted(resources["hosts"]))
            current_host = resources["current_host"]
        else:
            hosts, current_host = ("algo-1",), "algo-1"

        checkpoint_dir = None
        checkpoint_file = root / CHECKPOINT_CONFIG_FILE
        if checkpoint_file.exists():
            checkpoint_dir = Path(
                _read_json(checkpoint_file).get("LocalPath", DEFAULT_CHECKPOINT_DIR)
            )

        return cls(
            base_dir=root,
            hosts=hosts,
            current_host=current_host,
            raw_hyperparameters=raw_hyperparameters,
            checkpoint_dir=checkpoint_dir,
        )

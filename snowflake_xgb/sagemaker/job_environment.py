"""The SageMaker training contract, in one place.

SageMaker (and its local mode) hands a training container a folder laid out like ``/opt/ml``:
configuration files under ``input/config``, the model folder, the output folder and, when
checkpointing is on, a checkpoint folder. Outside a container, ``SAGEMAKER_BASE_DIR`` points
at such a folder; that is how tests and local runs drive the job.

This module only reads that layout; it does not interpret hyperparameters (see ``config``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_BASE_DIR = "/opt/ml"


def base_dir() -> Path:
    """The folder laid out like ``/opt/ml``: ``SAGEMAKER_BASE_DIR``, default ``/opt/ml``."""
    return Path(os.environ.get("SAGEMAKER_BASE_DIR", DEFAULT_BASE_DIR))


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
        return self.base_dir / "model"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

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
        config_dir = root / "input" / "config"

        hyperparameters_file = config_dir / "hyperparameters.json"
        raw = _read_json(hyperparameters_file) if hyperparameters_file.exists() else {}
        # Read the file as SageMaker writes it (every value a string). sagemaker-training's own
        # reader logs values it cannot parse as JSON, which we avoid for what we read ourselves.
        raw_hyperparameters = {
            str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()
        }

        resource_file = config_dir / "resourceconfig.json"
        if resource_file.exists():
            resources = _read_json(resource_file)
            hosts = tuple(sorted(resources["hosts"]))
            current_host = resources["current_host"]
        else:
            hosts, current_host = ("algo-1",), "algo-1"

        checkpoint_dir = None
        checkpoint_file = config_dir / "checkpointconfig.json"
        if checkpoint_file.exists():
            checkpoint_dir = Path(
                _read_json(checkpoint_file).get("LocalPath", "/opt/ml/checkpoints")
            )

        return cls(
            base_dir=root,
            hosts=hosts,
            current_host=current_host,
            raw_hyperparameters=raw_hyperparameters,
            checkpoint_dir=checkpoint_dir,
        )

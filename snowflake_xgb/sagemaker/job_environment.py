"""The SageMaker training contract: this job's folders, hosts and raw hyperparameters.

SageMaker (and its local mode) hands a training container a folder laid out like ``/opt/ml``
(its files and folders are named in ``sagemaker_layout``): configuration files under
``input/config`` name the hosts and the hyperparameters. This module only reads that layout;
it does not interpret hyperparameters (see ``config``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sagemaker_layout import (
    CHECKPOINT_CONFIG_FILE,
    DEFAULT_CHECKPOINT_DIR,
    HYPERPARAMETERS_FILE,
    MODEL_DIR,
    OUTPUT_DATA_DIR,
    OUTPUT_DIR,
    RESOURCE_CONFIG_FILE,
    base_dir,
)


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

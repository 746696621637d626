"""The folder SageMaker hands a container, laid out like ``/opt/ml``: each name once.

SageMaker (and its local mode) hands a training container a folder laid out like ``/opt/ml``:
configuration files under ``input/config``, the model folder, the output folder and, when
checkpointing is on, a checkpoint folder; a serving container gets the model folder. Outside a
container, ``SAGEMAKER_BASE_DIR`` points at such a folder; that is how tests and local runs
drive the job and the server.

Each file and folder of that layout is named once below, relative to the base folder (write
``base / HYPERPARAMETERS_FILE``); whatever lays out a job folder (the tests, local mode, the
benchmarks) uses these names. Naming them creates nothing: SageMaker makes the folders. Standard
library only, so that training (``sagemaker.job_environment``), serving (``serving``) and the
standard-library-only local-mode script all read the same names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

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

PREPARED_DIRS = (INPUT_CONFIG_DIR, INPUT_DATA_DIR, MODEL_DIR, OUTPUT_DATA_DIR)
"""The folders SageMaker creates before the job starts; a folder laid out by hand needs them."""

DEFAULT_CHECKPOINT_DIR = DEFAULT_BASE_DIR / "checkpoints"
"""SageMaker's checkpoint folder when ``checkpointconfig.json`` names no ``LocalPath``."""


def base_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder laid out like ``/opt/ml``: ``SAGEMAKER_BASE_DIR``, default ``/opt/ml``."""
    return Path(environ.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR)

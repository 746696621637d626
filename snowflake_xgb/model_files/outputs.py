"""What a job leaves behind: the model, its metadata and each host's shard report.

Files are written whole or not at all (temporary name, then rename), so a failed job never
leaves a half-written model. Only the coordinator writes the model folder (SageMaker's local
mode shares one between hosts); every host writes its own ``shard-<host>.json`` so anyone can
audit after the job which rows each host read.
"""

from __future__ import annotations

import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import xgboost as xgb

from .aws_model_format import ModelFormat, aws_xgboost_model

MODEL_FILE_NAME = "xgboost-model"  # what SageMaker's XGBoost inference container loads
METADATA_FILE_NAME = "metadata.json"


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with temporary.open("wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: Path, document: dict[str, Any]) -> None:
    write_atomically(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())


def library_versions() -> dict[str, str]:
    # XGBoost by its module: the image installs the distribution xgboost-cpu (or xgboost).
    versions = {"python": platform.python_version(), "xgboost": xgb.__version__}
    for package in (
        "snowflake-xgb",
        "snowflake-connector-python",
        "pyarrow",
        "numpy",
        "sagemaker-training",
        "boto3",
        "matplotlib",
    ):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def write_model(
    model_dir: Path,
    output_data_dir: Path,
    booster: xgb.Booster,
    metadata: dict[str, Any],
    model_format: ModelFormat = ModelFormat.NATIVE,
) -> tuple[Path, dict[str, Any]]:
    """Write the model file and ``metadata.json``; the model's path and the metadata as written.

    ``native``: ``xgboost-model`` (XGBoost's native format, UBJSON) with ``metadata.json``
    beside it. ``aws-xgboost``: the model alone in ``model_dir`` (AWS's XGBoost image loads every
    file there), in a form its XGBoost reads right, and ``metadata.json`` in ``output/data``.
    """
    document = {**metadata, "versions": library_versions()}
    if model_format == ModelFormat.AWS_XGBOOST:
        content = aws_xgboost_model(booster)  # refuses a multi-output model before any write
        document["model_format"] = ModelFormat.AWS_XGBOOST.value
        metadata_dir = output_data_dir
    else:
        content = bytes(booster.save_raw(raw_format="ubj"))
        metadata_dir = model_dir
    model_path = model_dir / MODEL_FILE_NAME
    write_atomically(model_path, content)
    write_json(metadata_dir / METADATA_FILE_NAME, document)
    return model_path, document


def save_model(model_dir: Path, booster: xgb.Booster, metadata: dict[str, Any]) -> Path:
    """Write ``xgboost-model`` (XGBoost's native format) and ``metadata.json`` beside it."""
    return write_model(model_dir, model_dir, booster, metadata)[0]


def write_shard_report(output_data_dir: Path, host: str, report: dict[str, Any]) -> Path:
    path = output_data_dir / f"shard-{host}.json"
    write_json(path, report)
    return path

"""The SageMaker folder layout and host list, read from SAGEMAKER_BASE_DIR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snowflake_xgb import sagemaker_layout as layout
from snowflake_xgb.sagemaker.job_environment import JobEnvironment


def test_outside_a_job_there_is_one_host_and_no_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(tmp_path))
    job = JobEnvironment.from_environ()
    assert job.hosts == ("algo-1",) and job.current_host == "algo-1" and job.is_coordinator
    assert job.raw_hyperparameters == {} and job.checkpoint_dir is None
    assert job.model_dir == tmp_path / "model"
    assert job.output_data_dir == tmp_path / "output" / "data"


def test_a_job_reads_hosts_hyperparameters_and_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / layout.INPUT_CONFIG_DIR).mkdir(parents=True)
    resources = {"current_host": "algo-1", "hosts": ["algo-2", "algo-1", "algo-3"]}
    (tmp_path / layout.RESOURCE_CONFIG_FILE).write_text(json.dumps(resources))
    hyperparameters = json.dumps({"num_round": "5", "eta": 0.1})
    (tmp_path / layout.HYPERPARAMETERS_FILE).write_text(hyperparameters)
    (tmp_path / layout.CHECKPOINT_CONFIG_FILE).write_text(json.dumps({"LocalPath": "/ckpt"}))
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(tmp_path))
    job = JobEnvironment.from_environ()
    assert job.hosts == ("algo-1", "algo-2", "algo-3") and job.rank == 0
    assert job.raw_hyperparameters == {"num_round": "5", "eta": "0.1"}
    assert job.checkpoint_dir == Path("/ckpt")


def test_checkpoints_without_a_local_path_go_where_sagemaker_puts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / layout.INPUT_CONFIG_DIR).mkdir(parents=True)
    (tmp_path / layout.CHECKPOINT_CONFIG_FILE).write_text("{}")
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(tmp_path))
    assert JobEnvironment.from_environ().checkpoint_dir == Path("/opt/ml/checkpoints")


def test_the_layout_names_sagemakers_paths() -> None:
    """What SageMaker's documentation and sagemaker-training name; a typo here breaks every job."""
    container = {
        str(layout.DEFAULT_BASE_DIR / path)
        for path in (
            layout.HYPERPARAMETERS_FILE,
            layout.RESOURCE_CONFIG_FILE,
            layout.INPUT_DATA_CONFIG_FILE,
            layout.CHECKPOINT_CONFIG_FILE,
            layout.INPUT_DATA_DIR,
            layout.CODE_DIR,
            layout.MODEL_DIR,
            layout.OUTPUT_DATA_DIR,
            layout.FAILURE_FILE,
        )
    }
    assert container == {
        "/opt/ml/input/config/hyperparameters.json",
        "/opt/ml/input/config/resourceconfig.json",
        "/opt/ml/input/config/inputdataconfig.json",
        "/opt/ml/input/config/checkpointconfig.json",
        "/opt/ml/input/data",
        "/opt/ml/code",
        "/opt/ml/model",
        "/opt/ml/output/data",
        "/opt/ml/output/failure",
    }
    assert layout.BASE_DIR_ENV == "SAGEMAKER_BASE_DIR"

"""The names of SageMaker's ``/opt/ml`` layout, and the folder a run reads them under."""

from __future__ import annotations

from pathlib import Path

from snowflake_xgb import sagemaker_layout as layout


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


def test_the_base_folder_is_sagemaker_base_dir_when_set_and_opt_ml_otherwise() -> None:
    assert layout.base_dir({"SAGEMAKER_BASE_DIR": "/srv/job"}) == Path("/srv/job")
    assert layout.base_dir({"SAGEMAKER_BASE_DIR": ""}) == Path("/opt/ml")
    assert layout.base_dir({}) == Path("/opt/ml")

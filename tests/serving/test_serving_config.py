"""The serving environment: defaults, and a clear refusal of values the server cannot use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snowflake_xgb.serving.server_config import ServerConfig, ServerConfigError


def test_defaults():
    config = ServerConfig.from_environ({})
    assert config.model_dir == Path("/opt/ml/model")
    assert (config.port, config.timeout_seconds, config.max_payload_mb) == (8080, 60, 6)
    assert config.workers == os.cpu_count()
    assert not config.batch and config.outputs == () and config.explain is None


def test_values():
    config = ServerConfig.from_environ({
        "SAGEMAKER_BASE_DIR": "/srv", "SAGEMAKER_BIND_TO_PORT": "9000",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "10",
        "SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
        "SAGEMAKER_INFERENCE_OUTPUT": "Predicted_Label, probability",
        "SNOWFLAKE_XGB_EXPLAIN": "Contributions",
    })  # fmt: skip
    assert config.model_dir == Path("/srv/model")
    assert (config.port, config.workers, config.timeout_seconds) == (9000, 3, 10)
    assert config.batch and config.max_payload_bytes == 20 * 1024 * 1024
    assert config.outputs == ("predicted_label", "probability")
    assert config.explain == "contributions"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SAGEMAKER_BIND_TO_PORT", "http", "is not a whole number"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0", "out of range: use 1 to"),
        ("SAGEMAKER_BATCH", "maybe", "must be true or false"),
        ("SAGEMAKER_INFERENCE_OUTPUT", "label", "names label: use a comma-separated choice"),
        ("SNOWFLAKE_XGB_EXPLAIN", "shap", "'shap': use contributions, interactions or none"),
    ],
)
def test_refusals(name, value, message):
    with pytest.raises(ServerConfigError, match=message):
        ServerConfig.from_environ({name: value})

"""``examples/launch_training_job.py``: what each SDK asks SageMaker for, read back from moto:
the tuning job of ``--tune`` (``CreateHyperParameterTuningJob``) and the scoring job of
``--score-with`` (``CreateTrainingJob``); and the metric definitions a tuning objective rests on,
applied to the log of a real cross-validation job.

The launcher runs in each SDK's own virtual environment (``local_test/make_sdk_venv.sh``; the
SDK is never a dependency of ours), with every AWS endpoint at the stand-ins' moto server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import boto3
import pytest
from offline_env import offline_environment
from support.jobs import JobRunner
from support.metrics import metric_values
from support.standins import REGION, StandIns

REPO = Path(__file__).resolve().parents[1]
SDK_VENVS = {"v3": REPO / ".work" / "sdk-venv", "v2": REPO / ".work" / "sdk-v2-venv"}
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/snowflake-xgb:latest"
ROLE = "arn:aws:iam::123456789012:role/snowflake-xgb-training"


def _launch(standins: StandIns, tmp_path: Path, sdk: str, name: str | None, *extra: str) -> str:
    """Run the launcher, with ``--tune`` when ``name`` (the tuning job's) is given; the name of
    the tuning job or training job it started."""
    python = SDK_VENVS[sdk] / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no SDK {sdk} venv at {SDK_VENVS[sdk]}: run local_test/make_sdk_venv.sh")
    config = tmp_path / "sagemaker-config.yaml"  # the SDK's telemetry off
    config.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n"
        "    Modules:\n      TelemetryOptOut: true\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        # v3 checks the role with IAM's SimulatePrincipalPolicy, which moto does not implement.
        "SAGEMAKER_VALIDATE_ROLE": "false",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
        **offline_environment(standins.secrets_url),
    }
    tuning = ["--tune", "--max-jobs", "6", "--max-parallel-jobs", "2", "--tuning-job-name", name]
    command = [
        str(python), str(REPO / "examples" / "launch_training_job.py"), "--sdk", sdk,
        "--no-wait", "--image-uri", IMAGE, "--role", ROLE, "--output", "s3://models/tuning",
        "--secret-id", "snowflake/xgb", "--account", "acct", "--warehouse", "WH",
        "--region", REGION, *(tuning if name else []), *extra,
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    prefix = "tuning job:" if name else "started:"
    started = [line for line in result.stdout.splitlines() if line.startswith(prefix)]
    assert started, output[-3000:]
    return started[-1].split(":", 1)[1].strip()


def _describe(standins: StandIns, name: str) -> dict:
    client = boto3.client(
        "sagemaker", endpoint_url=standins.secrets_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    return client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


@pytest.mark.parametrize("sdk", ["v3", "v2"])
def test_tuning_job_request_with_ranges_objective_and_warm_start(
    standins: StandIns, tmp_path: Path, sdk: str
) -> None:
    from support.metrics import launch_example

    # Named: both SDKs name a tuning job by the minute, and the tests share one moto server.
    suffix = secrets.token_hex(3)
    parent = _launch(standins, tmp_path, sdk, f"sfxgb-{sdk}-{suffix}")
    assert parent == f"sfxgb-{sdk}-{suffix}"
    job = _describe(standins, parent)
    config = job["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize", "MetricName": "validation:rmse",
    }  # fmt: skip
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    assert config["ResourceLimits"]["MaxParallelTrainingJobs"] == 2
    ranges = json.loads((REPO / "examples" / "tuning_ranges.json").read_text())
    requested = config["ParameterRanges"]
    continuous = {r["Name"]: r for r in requested["ContinuousParameterRanges"]}
    integer = {r["Name"]: r for r in requested["IntegerParameterRanges"]}
    assert set(continuous) | set(integer) == set(ranges)
    assert float(continuous["eta"]["MinValue"]) == ranges["eta"]["min"]
    assert continuous["eta"]["ScalingType"] == "Logarithmic"
    assert int(integer["max_depth"]["MaxValue"]) == ranges["max_depth"]["max"]

    definition = job["TrainingJobDefinition"]
    algorithm = definition["AlgorithmSpecification"]
    assert algorithm["TrainingImage"] == IMAGE
    definitions = launch_example().METRIC_DEFINITIONS
    assert algorithm["MetricDefinitions"] == definitions
    static = definition["StaticHyperParameters"]
    assert static["label"] == "MEDHOUSEVAL" and static["num_round"] == "200"
    assert not set(ranges) & set(static)  # tuned, so not static
    assert definition["Environment"]["SNOWFLAKE_SECRET_ID"] == "snowflake/xgb"
    # v2 sends the resources as HyperParameterTuningResourceConfig, v3 as ResourceConfig.
    resources = definition.get("ResourceConfig") or definition["HyperParameterTuningResourceConfig"]
    assert definition["RoleArn"] == ROLE and resources["InstanceCount"] == 2
    assert "WarmStartConfig" not in job or not job["WarmStartConfig"]

    # Cross-validation: the folds' mean is the objective; warm start from the first job.
    child = _launch(
        standins, tmp_path, sdk, f"{parent}-warm", "--hp", "cv_folds=3",
        "--warm-start-from", parent,
    )  # fmt: skip
    job = _describe(standins, child)
    objective = job["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    assert objective["MetricName"] == "cv:validation-rmse-mean"
    assert job["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    static = job["TrainingJobDefinition"]["StaticHyperParameters"]
    assert "validation_fraction" not in static and "cv_folds" in static


@pytest.mark.parametrize("sdk", ["v3", "v2"])
def test_scoring_job_request_carries_the_model_channel_and_the_scoring_settings(
    standins: StandIns, tmp_path: Path, sdk: str
) -> None:
    model = "s3://models/training/snowflake-xgb-1/output/model.tar.gz"
    name = _launch(
        standins, tmp_path, sdk, None, "--score-with", model, "--table", "DEMO.PUBLIC.HOUSES",
        "--key", "ID", "--target-table", "DEMO.PUBLIC.HOUSE_SCORES",
    )  # fmt: skip
    client = boto3.client(
        "sagemaker", endpoint_url=standins.secrets_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    job = client.describe_training_job(TrainingJobName=name)
    # v2 sends string hyperparameters JSON-quoted; the image decodes both forms.
    sent = {key: value.strip('"') for key, value in job["HyperParameters"].items()}
    assert {k: sent.get(k) for k in ("job", "table", "key", "target_table")} == {
        "job": "score", "table": "DEMO.PUBLIC.HOUSES", "key": "ID",
        "target_table": "DEMO.PUBLIC.HOUSE_SCORES",
    }  # fmt: skip
    assert "label" not in sent and "num_round" not in sent  # training's settings are refused
    (channel,) = job["InputDataConfig"]
    assert channel["ChannelName"] == "model"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == model
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE


def test_bad_ranges_and_local_tuning_are_refused(tmp_path: Path) -> None:
    from support.metrics import launch_example

    launcher = launch_example()
    common = ["--image-uri", "img", "--account", "a", "--warehouse", "W", "--secret-id", "s"]
    with pytest.raises(SystemExit):
        launcher.parse_args([*common, "--local", "--tune"])
    with pytest.raises(SystemExit):  # a scoring job needs its key and target
        launcher.parse_args([*common, "--local", "--score-with", "model.tar.gz"])
    bad = tmp_path / "ranges.json"
    bad.write_text(json.dumps({"eta": {"type": "continuous", "min": 0.1}}))
    with pytest.raises(SystemExit, match="eta needs type"):
        launcher.tuning_ranges(str(bad))


def test_cv_objective_regex_matches_a_real_cross_validation_log(
    jobs: JobRunner, housing_params: dict
) -> None:
    params = {k: v for k, v in housing_params.items() if k != "validation_fraction"}
    host = jobs.run({**params, "cv_folds": 3, "num_round": 6, "early_stopping_rounds": 2})
    host = host.coordinator
    assert host.returncode == 0, host.output[-3000:]
    values = metric_values(host.output)
    cv = json.loads((host.output_dir / "data" / "cv.json").read_text())
    # One value per round printed, then the chosen round again: the tuner reads the last one.
    assert len(values["cv:validation-rmse-mean"]) == cv["rounds_trained"] + 1
    chosen = cv["best_scores"]["validation-rmse-mean"]
    assert values["cv:validation-rmse-mean"][-1] == pytest.approx(chosen, abs=1e-4)
    assert values["cv:train-rmse-mean"] and values["cv:validation-rmse-std"]
    assert not values["validation:rmse"]  # the plain metric does not match the folds' lines

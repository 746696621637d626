"""examples/deploy_model.py asks SageMaker for the endpoint and the batch transform it documents.

The example runs with SDK v3 and with v2, each in its own venv (``local_test/make_sdk_venv.sh``),
against a moto server (real boto3, real SageMaker API shapes) behind a small front that answers
``DescribeModel`` as SageMaker does (``tests/sagemaker_front.py``: moto adds an empty
``VpcConfig`` that SDK v3 refuses). What SageMaker then holds is read back with boto3, as a
user would check it in the console: the model runs our image on the job's ``model.tar.gz`` with
the serving settings, the endpoint is in service, and the transform job splits its input into
lines, sends several per request up to 6 MB, asks the server for one prediction per line
(``SAGEMAKER_BATCH``) and assembles one output line per record.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from standin_servers import free_port, serve, standins_bin  # local_test/, via conftest
from support.sagemaker_front import SageMakerFront

REPO = Path(__file__).resolve().parents[1]
SDK_VENVS = {"v3": REPO / ".work" / "sdk-venv", "v2": REPO / ".work" / "sdk-v2-venv"}
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/snowflake-xgb:latest"
ROLE = "arn:aws:iam::123456789012:role/snowflake-xgb-serving"
MODEL_DATA = "s3://models/snowflake-xgb/job-1/output/model.tar.gz"
REGION = "eu-west-1"


@pytest.fixture(scope="module", params=sorted(SDK_VENVS), ids=lambda sdk: f"sdk-{sdk}")
def sagemaker_api(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto server per SDK; the environment that points boto3 (and so the SDK) at it."""
    python = SDK_VENVS[request.param] / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no SDK {request.param} venv at {python.parent.parent}: make sdk-venv")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with (
        serve([str(standins_bin() / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, log),
        SageMakerFront(port) as front,
    ):
        yield {
            "SDK": request.param,
            "SDK_PYTHON": str(python),
            "PATH": os.environ["PATH"],
            "HOME": str(log.parent),
            "AWS_ENDPOINT_URL": front.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(REPO / ".work" / "sagemaker-config.yaml"),
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        }


def _deploy(env: dict[str, str], *args: str) -> str:
    example = str(REPO / "examples" / "deploy_model.py")
    res = subprocess.run(
        [env["SDK_PYTHON"], example, "--sdk", env["SDK"], *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


def _sagemaker(env: dict[str, str]):
    return boto3.client(
        "sagemaker", region_name=REGION, endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def test_endpoint_serves_the_job_model_with_our_image(sagemaker_api):
    out = _deploy(
        sagemaker_api, "endpoint", "--image-uri", IMAGE, "--role", ROLE,
        "--model-data", MODEL_DATA, "--name", "sfxgb-endpoint",
        "--inference-output", "predicted_label,probability", "--workers", "2",
        "--try-row", "MEDINC=8.3,HOUSEAGE=41",
    )  # fmt: skip
    assert "endpoint in service: sfxgb-endpoint" in out
    assert "text/csv -> application/json:" in out and "application/json -> application/json:" in out
    client = _sagemaker(sagemaker_api)
    endpoint = client.describe_endpoint(EndpointName="sfxgb-endpoint")
    assert endpoint["EndpointStatus"] == "InService"
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model_name = config["ProductionVariants"][0]["ModelName"]
    container = client.describe_model(ModelName=model_name)["PrimaryContainer"]
    assert container["Image"] == IMAGE
    assert container["ModelDataUrl"] == MODEL_DATA
    assert container["Environment"] == {
        "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
    }


def test_batch_transform_sends_lines_and_assembles_lines(sagemaker_api):
    out = _deploy(
        sagemaker_api, "transform", "--image-uri", IMAGE, "--role", ROLE,
        "--model-data", MODEL_DATA, "--input", "s3://scoring/in/", "--output", "s3://scoring/out/",
        "--content-type", "application/jsonlines", "--accept", "text/csv",
    )  # fmt: skip
    assert "transform done: s3://scoring/out/" in out
    client = _sagemaker(sagemaker_api)
    [summary] = client.list_transform_jobs()["TransformJobSummaries"]
    job = client.describe_transform_job(TransformJobName=summary["TransformJobName"])
    assert job["TransformInput"]["ContentType"] == "application/jsonlines"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://scoring/in/"
    assert job["TransformOutput"] == {
        "S3OutputPath": "s3://scoring/out/", "Accept": "text/csv", "AssembleWith": "Line",
    }  # fmt: skip
    assert job["BatchStrategy"] == "MultiRecord"
    assert job["MaxPayloadInMB"] == 6
    assert job["Environment"] == {"SAGEMAKER_BATCH": "true"}  # one prediction per line
    model = client.describe_model(ModelName=job["ModelName"])["PrimaryContainer"]
    assert (model["Image"], model["ModelDataUrl"]) == (IMAGE, MODEL_DATA)

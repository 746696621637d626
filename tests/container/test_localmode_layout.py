"""The local-mode layout mirrors the SageMaker Python SDK's local mode (no Docker needed).

What the SDK's ``_SageMakerContainer`` writes for ``instance_type="local"``: hosts
``algo-<i>-<suffix>``, a random container name per host and no ``hostname`` (so the hostname
is the container id), one network with the host name as alias, per-host ``/opt/ml/input`` and
``/opt/ml/output``, one shared ``/opt/ml/model``, ``resourceconfig.json`` with only
``current_host`` and ``hosts``, string hyperparameters, ``AWS_REGION`` and ``TRAINING_JOB_NAME``.
"""

from __future__ import annotations

import json

import pytest
from compose_job import LocalJob, Standins
from localmode import DEFAULT_HYPERPARAMETERS
from serve_locally import SAMPLE_ROWS, sample_requests


@pytest.fixture
def job(tmp_path):
    job = LocalJob.create(tmp_path, 3, "snowflake-xgb:latest")
    job.write_configs({**DEFAULT_HYPERPARAMETERS, "num_round": 7})
    s = Standins(rows=100)
    job.write_job_compose({**s.aws_credentials(), "AWS_REGION": "eu-west-1", **s.job_environment()})
    job.write_standins_compose(s)
    return job


def test_host_names_and_containers(job):
    suffixes = {h.rsplit("-", 1)[1] for h in job.hosts}
    assert len(suffixes) == 1 and len(suffixes.pop()) == 5
    assert [h.rsplit("-", 1)[0] for h in job.hosts] == ["algo-1", "algo-2", "algo-3"]
    compose = json.loads(job.job_file.read_text())
    assert set(compose["services"]) == set(job.hosts)
    for host, svc in compose["services"].items():
        assert "hostname" not in svc
        assert svc["container_name"].endswith("-" + host) and svc["container_name"] != host
        assert svc["networks"] == {"sagemaker-local": {"aliases": [host]}}
        assert svc["command"] == "train"


def test_volumes_per_host_and_shared_model(job):
    compose = json.loads(job.job_file.read_text())
    model_mounts = set()
    for host, svc in compose["services"].items():
        mounts = dict(v.rsplit(":", 1)[::-1] for v in svc["volumes"])
        assert mounts["/opt/ml/input"].endswith(f"/{host}/input")
        assert mounts["/opt/ml/output"].endswith(f"/{host}/output")
        model_mounts.add(mounts["/opt/ml/model"])
    assert len(model_mounts) == 1


def test_config_files(job):
    for host in job.hosts:
        config = job.root / host / "input" / "config"
        resource = json.loads((config / "resourceconfig.json").read_text())
        assert resource == {"current_host": host, "hosts": job.hosts}
        hyperparameters = json.loads((config / "hyperparameters.json").read_text())
        assert all(isinstance(v, str) for v in hyperparameters.values())
        assert hyperparameters["num_round"] == "7"
        assert "S3DistributionType" not in (config / "inputdataconfig.json").read_text()


def test_environment_like_the_sdk(job):
    compose = json.loads(job.job_file.read_text())
    env = dict(e.split("=", 1) for e in compose["services"][job.hosts[0]]["environment"])
    assert env["AWS_REGION"] == "eu-west-1"
    assert "AWS_DEFAULT_REGION" not in env
    assert env["SNOWFLAKE_HOST"] == "snowflake"
    assert env["AWS_ENDPOINT_URL_SECRETS_MANAGER"].startswith("http://secretsmanager:")


def test_standins_share_the_job_network(job):
    job_net = json.loads(job.job_file.read_text())["networks"]["sagemaker-local"]
    standins = json.loads(job.standins_file.read_text())
    assert (
        standins["networks"]["sagemaker-local"]
        == job_net
        == {
            "external": True,
            "name": job.network,
        }
    )
    seed = standins["services"]["seed"]
    assert seed["depends_on"]["snowflake"] == {"condition": "service_healthy"}
    assert "--rows" in seed["command"]


def test_sample_requests_follow_the_model_feature_order():
    """CSV in the model's order; JSON records keyed by name (order shuffled); all rows."""
    features = ["LONGITUDE", "MEDINC", "AVEROOMS"]
    (csv_type, csv_body), (json_type, json_body) = sample_requests(features)
    assert (csv_type, json_type) == ("text/csv", "application/json")
    first = SAMPLE_ROWS[0]
    lines = csv_body.decode().splitlines()
    assert len(lines) == len(SAMPLE_ROWS)
    assert lines[0] == f"{first['LONGITUDE']},{first['MEDINC']},{first['AVEROOMS']}"
    records = json.loads(json_body)
    assert records[0] == {f: first[f] for f in features}
    assert list(records[0]) != features  # not in training order: matched by name


def test_sample_requests_refuse_a_model_with_other_features():
    with pytest.raises(ValueError, match="no value for PRICE"):
        sample_requests(["MEDINC", "PRICE"])

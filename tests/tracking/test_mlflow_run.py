"""MLflow tracking: a 2-host job leaves one run on a real MLflow server (parameters, metrics
per round, artifacts, a loadable model), and a tracking URI that cannot be used fails first."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xgboost as xgb
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.timeout(600)


def metric_lines(output: str) -> dict[int, dict[str, float]]:
    """The coordinator's per-round metric lines: round -> {name: value}."""
    rounds = {}
    for match in re.finditer(r"^\[(\d+)\]((?:\t[\w-]+:[-\d.e]+)+)$", output, re.M):
        fields = (field.split(":") for field in match.group(2).strip().split("\t"))
        rounds[int(match.group(1))] = {name: float(value) for name, value in fields}
    return rounds


def test_two_host_job_is_one_run(jobs, housing_params, mlflow_server, monkeypatch):
    run = jobs.run(
        housing_params, hosts=2,
        environ={"MLFLOW_TRACKING_URI": mlflow_server, "MLFLOW_EXPERIMENT_NAME": "housing",
                 "TRAINING_JOB_NAME": "housing-job-1"},
    )  # fmt: skip
    host = run.coordinator
    assert all(h.returncode == 0 for h in run.hosts), host.output
    metadata = host.metadata()
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("housing")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [metadata["mlflow_run_id"]]
    tracked = runs[0]
    assert tracked.info.run_name == "housing-job-1" and tracked.info.status == "FINISHED"
    assert tracked.data.params["max_depth"] == "5" and tracked.data.params["table"]
    assert "password" not in json.dumps(tracked.data.params).lower()
    assert json.loads(tracked.data.tags["snowflake.query_ids"]) == metadata["query_ids"]
    assert json.loads(tracked.data.tags["snowflake.rows_per_host"]) == metadata["rows_per_host"]
    lines = metric_lines(host.output)
    assert len(lines) == housing_params["num_round"]
    for name in ("train-rmse", "validation-rmse"):
        history = client.get_metric_history(tracked.info.run_id, name)
        assert [m.step for m in history] == sorted(lines)
        np.testing.assert_allclose(
            [m.value for m in history], [lines[step][name] for step in sorted(lines)], atol=1e-5
        )  # the lines print 5 decimals
    names = {a.path for a in client.list_artifacts(tracked.info.run_id)}
    assert {"metadata.json", "report.html"} <= names, names
    assert any(name.startswith("shard-") for name in names), names  # the coordinator's

    import mlflow.pyfunc
    import pandas as pd

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    model = mlflow.pyfunc.load_model(f"runs:/{tracked.info.run_id}/model")  # a logged model
    assert [spec.name for spec in model.metadata.signature.inputs] == metadata["feature_names"]
    rows = np.random.default_rng(0).normal(3, 1, (20, len(metadata["feature_names"])))
    frame = pd.DataFrame(rows.astype(np.float32), columns=metadata["feature_names"])
    ours = xgb.Booster()
    ours.load_model(bytearray((host.model_dir / "xgboost-model").read_bytes()))
    expected = ours.predict(xgb.DMatrix(frame))
    np.testing.assert_allclose(np.asarray(model.predict(frame)).ravel(), expected, rtol=1e-6)


def test_an_unreachable_tracking_uri_fails_before_any_statement(jobs, standins, housing_params):
    results_before = set(standins.front.counters()["results"])
    run = jobs.run(housing_params, environ={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    host = run.coordinator
    assert host.returncode != 0
    assert "MLflow tracking at http://127.0.0.1:9 cannot be used" in (host.failure or "")
    assert set(standins.front.counters()["results"]) == results_before  # no query ran
    assert not (host.model_dir / "xgboost-model").exists()


def test_a_resumed_job_continues_its_run(jobs, housing_params, mlflow_server, tmp_path):
    """Killed mid-training, started again on its checkpoints: still one run, finished, whose
    metrics go on from where the checkpoint left off."""
    import signal

    from support.jobs import assert_succeeded, wait_until

    from snowflake_xgb.boosting import checkpoints

    params = {**housing_params, "eta": 0.05, "num_round": 400, "checkpoint_frequency": 50}
    environ = {"MLFLOW_TRACKING_URI": mlflow_server, "MLFLOW_EXPERIMENT_NAME": "resumed"}
    folder = tmp_path / "checkpoints"
    run, processes = jobs.start(params, environ=environ, checkpoints=folder)

    def saved_round_100() -> bool:
        return (checkpoints.latest_checkpoint(folder / "host1") or (0,))[0] >= 100

    wait_until(saved_round_100, processes, "a checkpoint at round 100")
    processes[0].send_signal(signal.SIGKILL)
    jobs.wait(run, processes)

    resumed = assert_succeeded(jobs.run(params, environ=environ, checkpoints=folder))
    metadata = resumed.metadata()
    resumed_from = metadata["resumed_from_round"]
    assert resumed_from and resumed_from >= 100
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("resumed")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [metadata["mlflow_run_id"]]
    assert runs[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "train-rmse")]
    assert steps and max(steps) == 399
    assert set(range(resumed_from, 400)) <= set(steps)  # the resumed rounds, numbered on

"""Several hosts, each its own ``train`` process: exactly-once slices, one query, no hangs."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest
import xgboost as xgb
from support.jobs import JobRun, JobRunner
from support.standins import HOUSING_TABLE, StandIns

pytestmark = pytest.mark.distributed

VALIDATION_QUERY = f"SELECT * FROM {HOUSING_TABLE} WHERE MOD(FLOOR(POPULATION), 4) = 0"
TRAIN_QUERY = f"SELECT * FROM {HOUSING_TABLE} WHERE MOD(FLOOR(POPULATION), 4) <> 0"


def _assert_exactly_once(run: JobRun, key: str | None = None) -> int:
    """The hosts' slices tile the result in rank order; return the rows in the result."""
    reports = [host.shard_report() for host in run.hosts]
    if key:
        reports = [report[key] for report in reports]
    assert len({report["query_id"] for report in reports}) == 1
    total = reports[0]["total_rows"]
    position = 0
    for report in reports:
        assert report["row_start"] == position
        assert report["rows"] == report["row_end"] - report["row_start"]
        position = report["row_end"]
    assert position == total
    return total


@pytest.mark.parametrize("hosts", [2, 3])
def test_hosts_read_disjoint_slices_that_cover_every_row(
    jobs: JobRunner, housing_params: dict, hosts: int
) -> None:
    run = jobs.run(housing_params, hosts=hosts)
    for host in run.hosts:
        assert host.returncode == 0, host.output
        assert host.failure is None
    total_train = _assert_exactly_once(run)
    total_validation = _assert_exactly_once(run, "validation")
    assert total_train + total_validation == 20640
    for rank, host in enumerate(run.hosts):
        report = host.shard_report()
        assert report["rank"] == rank and report["hosts"] == [h.name for h in run.hosts]
        assert report["rows"] in (total_train // hosts, total_train // hosts + 1)

    # Only the first host writes the model folder (SageMaker local mode shares one).
    assert (run.coordinator.model_dir / "xgboost-model").exists()
    assert all(not any(host.model_dir.iterdir()) for host in run.hosts[1:])
    metadata = json.loads((run.coordinator.model_dir / "metadata.json").read_text())
    assert metadata["rows_per_host"] == {
        host.name: host.shard_report()["rows"] for host in run.hosts
    }
    # Metric lines come from the coordinator only.
    assert "validation-rmse" in run.coordinator.output
    assert all("\tvalidation-rmse:" not in host.output for host in run.hosts[1:])


def _validation_rmse(model_dir, standins: StandIns) -> float:
    with standins.connect() as connection:
        frame = connection.cursor().execute(VALIDATION_QUERY).fetch_pandas_all()
    model = xgb.Booster(model_file=str(model_dir / "xgboost-model"))
    features = frame[model.feature_names].to_numpy(np.float32)
    predictions = model.predict(xgb.DMatrix(features, feature_names=model.feature_names))
    return float(np.sqrt(np.mean((predictions - frame["MEDHOUSEVAL"].to_numpy()) ** 2)))


def test_three_host_model_is_as_good_as_single_host(jobs: JobRunner, standins: StandIns) -> None:
    params = {
        "query": TRAIN_QUERY, "validation_query": VALIDATION_QUERY, "label": "MEDHOUSEVAL",
        "num_round": 40, "max_depth": 6, "eta": 0.2,
    }  # fmt: skip
    single = jobs.run(params, hosts=1).coordinator
    distributed = jobs.run(params, hosts=3)
    assert single.returncode == 0, single.output
    assert all(host.returncode == 0 for host in distributed.hosts), distributed.coordinator.output
    one = _validation_rmse(single.model_dir, standins)
    three = _validation_rmse(distributed.coordinator.model_dir, standins)
    assert abs(three - one) / one < 0.01, (one, three)


def test_more_hosts_than_rows_still_succeeds(jobs: JobRunner, standins: StandIns) -> None:
    standins.execute(
        "CREATE OR REPLACE TABLE DEMO.PUBLIC.TWO_ROWS (X FLOAT, Y FLOAT)",
        "INSERT INTO DEMO.PUBLIC.TWO_ROWS VALUES (1.0, 2.0), (3.0, 4.0)",
    )
    run = jobs.run({"table": "DEMO.PUBLIC.TWO_ROWS", "label": "Y", "num_round": 2}, hosts=3)
    assert [host.returncode for host in run.hosts] == [0, 0, 0], run.coordinator.output
    assert sorted(host.shard_report()["rows"] for host in run.hosts) == [0, 1, 1]
    assert _assert_exactly_once(run) == 2


def _wait_for_round(run: JobRun, round_number: int, timeout: float) -> None:
    log = run.coordinator.base_dir.parent / "host1.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f"[{round_number}]\t" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"round {round_number} not reached: {log.read_text()[-2000:]}")


@pytest.mark.parametrize("victim", [1, 0], ids=["worker", "coordinator"])
def test_survivors_stop_promptly_and_name_the_lost_host(
    jobs: JobRunner, housing_params: dict, victim: int
) -> None:
    params = {**housing_params, "num_round": 100000, "max_depth": 8, "eta": 0.01}
    run, processes = jobs.start(params, hosts=3)
    try:
        _wait_for_round(run, 3, timeout=120)
        processes[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        jobs.wait(run, processes, timeout=120)
    finally:
        for process in processes:
            process.kill()
    elapsed = time.monotonic() - killed_at
    assert elapsed < 60, elapsed
    lost = run.hosts[victim].name
    for index, host in enumerate(run.hosts):
        if index == victim:
            continue
        assert host.returncode != 0, host.output
        assert host.failure is not None and lost in host.failure, host.failure
        assert "Traceback" not in host.failure
    assert not (run.coordinator.model_dir / "xgboost-model").exists()

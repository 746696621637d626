"""Several hosts, each its own ``train`` process: exactly-once slices, one query, no hangs."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest
from snowflake_front import FrontControl
from support.jobs import JobRun, JobRunner, assert_succeeded, wait_until
from support.model_fit import assert_fits_as_well, predict
from support.standins import HOUSING_TABLE, StandIns

pytestmark = pytest.mark.distributed

VALIDATION_QUERY = f"SELECT * FROM {HOUSING_TABLE} WHERE MOD(FLOOR(POPULATION), 4) = 0"
TRAIN_QUERY = f"SELECT * FROM {HOUSING_TABLE} WHERE MOD(FLOOR(POPULATION), 4) <> 0"


def _assert_exactly_once(run: JobRun, key: str | None = None) -> int:
    """The hosts' slices tile the result in rank order; return the rows in the result."""
    reports = [host.shard_report() for host in run.hosts]
    if key:
        reports = [report[key] for report in reports]
    return _assert_tiled(reports)


def _assert_tiled(reports: list[dict]) -> int:
    """The slices in ``reports`` (rank order) tile one result; return the rows in it."""
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
    assert run.metadata()["rows_per_host"] == {
        host.name: host.shard_report()["rows"] for host in run.hosts
    }
    # Metric lines come from the coordinator only.
    assert "validation-rmse" in run.coordinator.output
    assert all("\tvalidation-rmse:" not in host.output for host in run.hosts[1:])


def test_three_host_model_is_as_good_as_single_host(jobs: JobRunner, standins: StandIns) -> None:
    params = {
        "query": TRAIN_QUERY, "validation_query": VALIDATION_QUERY, "label": "MEDHOUSEVAL",
        "num_round": 40, "max_depth": 6, "eta": 0.2,
    }  # fmt: skip
    single = jobs.run(params, hosts=1).coordinator
    distributed = jobs.run(params, hosts=3)
    assert single.returncode == 0, single.output
    assert all(host.returncode == 0 for host in distributed.hosts), distributed.coordinator.output
    with standins.connect() as connection:
        frame = connection.cursor().execute(VALIDATION_QUERY).fetch_pandas_all()
    label, one = frame["MEDHOUSEVAL"].to_numpy(), single.model()
    features = frame[one.feature_names].to_numpy(np.float32)
    three = distributed.coordinator.model()
    assert_fits_as_well(predict(three, features), predict(one, features), label, within=0.01)


def test_more_hosts_than_rows_still_succeeds(jobs: JobRunner, standins: StandIns) -> None:
    standins.execute(
        "CREATE OR REPLACE TABLE DEMO.PUBLIC.TWO_ROWS (X FLOAT, Y FLOAT)",
        "INSERT INTO DEMO.PUBLIC.TWO_ROWS VALUES (1.0, 2.0), (3.0, 4.0)",
    )
    run = jobs.run({"table": "DEMO.PUBLIC.TWO_ROWS", "label": "Y", "num_round": 2}, hosts=3)
    assert [host.returncode for host in run.hosts] == [0, 0, 0], run.coordinator.output
    assert sorted(host.shard_report()["rows"] for host in run.hosts) == [0, 1, 1]
    assert _assert_exactly_once(run) == 2


@pytest.mark.parametrize("victim", [1, 0], ids=["worker", "coordinator"])
def test_survivors_stop_promptly_and_name_the_lost_host(
    jobs: JobRunner, housing_params: dict, victim: int
) -> None:
    params = {**housing_params, "num_round": 100000, "max_depth": 8, "eta": 0.01}
    run, processes = jobs.start(params, hosts=3)
    try:
        wait_until(lambda: "[3]\t" in run.coordinator.log(), processes, "round 3")
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


# --- Snowflake's timings: a statement that runs for minutes, a host that finishes late ---------

COLLECTIVE_TIMEOUT = 3  # seconds; each wait below lasts three times as long
TIMED = "DEMO.PUBLIC.TIMED_ROWS"
TIMED_ROWS = 3000
# 150 rows inline, then 15 chunks of 200 rows (the last 50): the last host's rows (from row
# 1500 of 2 hosts, 2000 of 3) are in chunks 8 to 15.
TIMED_CHUNKS = {"first_chunk_rows": 150, "chunk_rows": 200, "chunk_growth": 1.0}


@pytest.fixture(scope="module")
def timed_table(standins: StandIns) -> str:
    """Rows with a unique ID, query groups (QID), a text column (REGION) and a label."""
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {TIMED} (ID NUMBER, QID NUMBER, REGION VARCHAR, X1 FLOAT, "
        "X2 FLOAT, Y FLOAT)",
        f"INSERT INTO {TIMED} SELECT i, FLOOR(i / 10), CASE i % 3 WHEN 0 THEN 'north' WHEN 1 "
        "THEN 'south' ELSE 'east' END, (HASH(i * 3) % 100) / 100.0, (HASH(i * 7) % 100) / 100.0, "
        f"(HASH(i * 11) % 4) FROM (SELECT range AS i FROM range({TIMED_ROWS})) AS g",
    )
    return TIMED


@pytest.fixture
def timed_front(standins: StandIns) -> Iterator[FrontControl]:
    with standins.front_settings(**TIMED_CHUNKS) as control:
        yield control


TIMED_PARAMS = {
    "table": TIMED, "label": "Y", "exclude": "ID,QID,REGION", "num_round": 4, "max_depth": 3,
    "collective_timeout_seconds": COLLECTIVE_TIMEOUT, "report": "false",
}  # fmt: skip
SOURCES_READ_TWICE = {
    "validation": {"validation_fraction": 0.2},
    "folds": {"cv_folds": 3},
    "categorical": {"exclude": "ID,QID"},
    "ranking": {"exclude": "ID,REGION", "group": "QID", "objective": "rank:ndcg"},
}


def _rows_read(run: JobRun) -> int:
    """The rows the hosts read, each result's slices tiling it, over every data set."""
    reports = [host.shard_report() for host in run.hosts]
    if "folds" in reports[0]:
        folds = reports[0]["folds"]
        return sum(_assert_tiled([report["folds"][fold] for report in reports]) for fold in folds)
    total = _assert_tiled(reports)
    if "validation" in reports[0]:
        total += _assert_tiled([report["validation"] for report in reports])
    return total


@pytest.mark.parametrize(
    ("hosts", "reads"),
    [(2, "validation"), (3, "validation"), (3, "folds"), (2, "categorical"), (3, "ranking")],
)
def test_jobs_train_when_the_first_statement_runs_three_collective_timeouts(
    jobs: JobRunner, timed_table: str, timed_front: FrontControl, hosts: int, reads: str
) -> None:
    # The job's first statement over the table (the selection every data set is cut from)
    # is queued, then runs, while the other hosts wait for the plan.
    first_statement = {
        "match": rf"FROM \(SELECT \* FROM {re.escape(TIMED)}\) AS source_rows\s*$",
        "queued_seconds": COLLECTIVE_TIMEOUT,
        "running_seconds": 2 * COLLECTIVE_TIMEOUT,
    }
    timed_front.settings(slow_statements=[first_statement])
    run = jobs.run({**TIMED_PARAMS, **SOURCES_READ_TWICE[reads]}, hosts=hosts, timeout=180)
    assert_succeeded(run)
    assert _rows_read(run) == TIMED_ROWS
    assert "Waited" in run.hosts[1].output  # at the meeting point, not in a collective step
    status_calls = timed_front.counters()["status_calls"].values()
    assert max(status_calls) >= 2  # the first statement was polled while it was queued and ran


@pytest.mark.parametrize("hosts", [2, 3])
@pytest.mark.parametrize("external_memory", [False, True], ids=["in-memory", "external"])
def test_jobs_train_when_one_host_finishes_loading_three_collective_timeouts_late(
    jobs: JobRunner,
    timed_table: str,
    timed_front: FrontControl,
    hosts: int,
    external_memory: bool,
) -> None:
    # The last host's chunks (10 to 15, 4 downloads at a time) take 5 s each: it finishes about
    # 10 s after the others.
    timed_front.settings(slow_batches=[10, 15], slow_batch_seconds=5)
    params = {**TIMED_PARAMS, "external_memory": str(external_memory).lower()}
    run = jobs.run(params, hosts=hosts, timeout=180)
    assert_succeeded(run)
    assert _rows_read(run) == TIMED_ROWS
    slow = [d for d in timed_front.counters()["downloads"] if d["batch"] >= 10]
    assert slow and all(d["seconds"] >= 5 for d in slow)
    assert "Waited" in run.coordinator.output

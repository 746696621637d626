"""A resumed job reads the rows it trained on: reopened by id, or as of then, or run again.

Jobs run through the real ``train`` command against the stand-ins and are killed after their
first checkpoint; then the source table changes (rows inserted and deleted) and the job resumes.
The stand-in (fakesnow, on DuckDB) cannot do Time Travel: for a table whose stored result is
gone, these tests check that the resumed job reads the table as of the recorded time (DuckDB
refuses the ``AT`` clause it received, and the job explains it); ``test_queries`` checks the
clause itself.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from support.jobs import JobRun, JobRunner
from support.standins import HOUSING_TABLE, StandIns

from snowflake_xgb.boosting import checkpoints
from snowflake_xgb.config.job_config import DataSpec, Source, parse_hyperparameters
from snowflake_xgb.errors import UserError
from snowflake_xgb.model_files.columns import ColumnSelection
from snowflake_xgb.query import data_snapshot

pytestmark = pytest.mark.timeout(300)

PARAMS = {"label": "MEDHOUSEVAL", "max_depth": 4, "eta": 0.05, "eval_metric": "rmse",
          "validation_fraction": 0.2, "nthread": 1, "checkpoint_frequency": 25}  # fmt: skip
CHANGES = (
    "INSERT INTO {table} SELECT * FROM {table} WHERE HOUSEAGE > 45",
    "DELETE FROM {table} WHERE MEDINC < 2",
)


def _copy_table(standins: StandIns, name: str) -> str:
    table = f"DEMO.PUBLIC.{name}"
    standins.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {HOUSING_TABLE}")
    return table


def _change(standins: StandIns, table: str) -> None:
    standins.execute(*(statement.format(table=table) for statement in CHANGES))


def _kill_after_first_checkpoint(
    jobs: JobRunner, params: dict, hosts: int, folder: Path, **kwargs
) -> JobRun:
    run, processes = jobs.start(params, hosts=hosts, checkpoints=folder, **kwargs)
    deadline = time.monotonic() + 180
    while not checkpoints.latest_checkpoint(folder / "host1"):
        assert all(p.poll() is None for p in processes), "the job ended before the test acted"
        assert time.monotonic() < deadline, "no checkpoint within 180 s"
        time.sleep(0.02)
    for process in processes:
        process.send_signal(signal.SIGKILL)
    return jobs.wait(run, processes)


def _shards(run: JobRun) -> list[dict]:
    """Which rows of which result each host read (host names differ between runs)."""
    return [
        {k: v for k, v in host.shard_report().items() if k not in ("host", "hosts")}
        for host in run.hosts
    ]


def _metadata(run: JobRun) -> dict:
    return json.loads((run.coordinator.model_dir / "metadata.json").read_text())


def _predictions(run: JobRun) -> np.ndarray:
    model = xgb.Booster(model_file=str(run.coordinator.model_dir / "xgboost-model"))
    rng = np.random.default_rng(3)
    probe = rng.random((300, len(model.feature_names)), dtype=np.float32) * 50
    return model.predict(xgb.DMatrix(probe, feature_names=model.feature_names))


def _succeeded(run: JobRun) -> None:
    assert [h.returncode for h in run.hosts] == [0] * len(run.hosts), [h.output for h in run.hosts]


def test_resumed_job_reopens_the_rows_it_trained_on(
    jobs: JobRunner, standins: StandIns, tmp_path: Path
) -> None:
    table = _copy_table(standins, "RESUME_REOPEN")
    original = _copy_table(standins, "RESUME_REOPEN_ORIGINAL")
    params = {**PARAMS, "table": table, "num_round": 300}
    folder = tmp_path / "checkpoints"
    killed = _kill_after_first_checkpoint(jobs, params, 2, folder)
    record = json.loads((folder / "host1" / data_snapshot.RECORD_FILE_NAME).read_text())
    assert record["mode"] == "submitted" and record["started_at"]
    _change(standins, table)

    resumed = jobs.run(params, hosts=2, checkpoints=folder)
    _succeeded(resumed)
    assert "Resuming from checkpoint" in resumed.coordinator.output
    assert "reopening the results" in resumed.coordinator.output
    snapshot = _metadata(resumed)["data_snapshot"]
    assert snapshot["mode"] == "reopened"
    assert snapshot["query_ids"] == record["query_ids"]
    assert snapshot["started_at"] == record["started_at"]
    # The same rows on the same host: each host's shard file lists what it did before.
    assert _shards(resumed) == _shards(killed)
    report = (resumed.coordinator.output_dir / "data" / "report.html").read_text()
    assert "reopened by id" in report and record["started_at"] in report

    uninterrupted = jobs.run({**params, "table": original}, hosts=2)
    _succeeded(uninterrupted)
    assert _metadata(uninterrupted)["rows"] == _metadata(resumed)["rows"]
    np.testing.assert_allclose(
        _predictions(resumed), _predictions(uninterrupted), rtol=1e-4, atol=1e-4
    )
    changed = jobs.run(params)  # a new job sees the changed table: the test changed something
    _succeeded(changed)
    assert _metadata(changed)["rows"] != _metadata(resumed)["rows"]


def test_a_query_whose_result_is_gone_runs_again_and_says_so(
    jobs: JobRunner, standins: StandIns, tmp_path: Path
) -> None:
    table = _copy_table(standins, "RESUME_RERUN")
    params = {**PARAMS, "query": f"SELECT * FROM {table}", "num_round": 300}
    folder = tmp_path / "checkpoints"
    _kill_after_first_checkpoint(jobs, params, 1, folder)
    record = json.loads((folder / "host1" / data_snapshot.RECORD_FILE_NAME).read_text())
    _change(standins, table)

    forgotten = tuple(record["query_ids"].values())
    for query_id in forgotten:  # as Snowflake does after 24 hours
        standins.front.forget(query_id)
    resumed = jobs.run(params, checkpoints=folder)
    _succeeded(resumed)
    log = resumed.coordinator.output
    assert "no longer holds the results" in log and "running the query again" in log
    snapshot = _metadata(resumed)["data_snapshot"]
    assert snapshot["mode"] == "rerun"
    assert set(snapshot["query_ids"].values()).isdisjoint(forgotten)
    assert snapshot["started_at"] > record["started_at"]
    # The record now names the new results, for a later resume.
    again = json.loads((folder / "host1" / data_snapshot.RECORD_FILE_NAME).read_text())
    assert again["query_ids"] == snapshot["query_ids"]


def test_a_table_whose_result_is_gone_is_read_as_of_then(
    jobs: JobRunner, standins: StandIns, tmp_path: Path
) -> None:
    """The stand-in has no Time Travel: the clause is sent, and its refusal is explained."""
    table = _copy_table(standins, "RESUME_TIME_TRAVEL")
    params = {**PARAMS, "table": table, "num_round": 300}
    folder = tmp_path / "checkpoints"
    _kill_after_first_checkpoint(jobs, params, 1, folder)
    record = json.loads((folder / "host1" / data_snapshot.RECORD_FILE_NAME).read_text())

    forgotten = tuple(record["query_ids"].values())
    for query_id in forgotten:  # as Snowflake does after 24 hours
        standins.front.forget(query_id)
    resumed = jobs.run(params, checkpoints=folder)
    host = resumed.coordinator
    # As the first attempt's statement read them (its id), not as of when it was submitted.
    assert "reading the tables as of " + record["read_by"] in host.output
    # fakesnow (DuckDB) refuses the Time Travel clause it received; real Snowflake reads the
    # table as it was.
    assert host.returncode == 1
    assert f"{table} as of {record['read_by']}" in host.failure
    assert "time travel" in host.failure.lower() and "Traceback" not in host.failure
    assert "empty the checkpoint location" in host.failure
    assert not (host.model_dir / "xgboost-model").exists()


def test_snapshot_setting_sends_time_travel(jobs: JobRunner) -> None:
    query_id = "01b2c3d4-0000-1234-0000-00012345abcd"
    run = jobs.run({**PARAMS, "table": HOUSING_TABLE, "num_round": 5, "snapshot": query_id})
    host = run.coordinator
    assert host.returncode == 1  # the stand-in has no Time Travel: DuckDB refuses the clause
    assert f"{HOUSING_TABLE} as of {query_id}" in host.failure
    assert f"AT (STATEMENT => '{query_id}')" in host.failure


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"snapshot": "yesterday"}, "neither a Snowflake query id"),
        ({"snapshot": "2026-01-01'; DROP TABLE T; --"}, "neither a Snowflake query id"),
        ({"query": "SELECT 1", "table": None, "snapshot": "2026-01-01T00:00:00Z"}, "table and"),
        ({"snapshot": "2026-11-27T09:30:00"}, "no UTC offset.*2026-11-27T09:30:00\\+00:00"),
        ({"snapshot": "2026-11-27"}, "no UTC offset.*2026-11-27T00:00:00\\+00:00"),
    ],
)
def test_bad_snapshot_settings_are_refused(values: dict, message: str) -> None:
    hyperparameters = {"table": "T", "label": "Y", "num_round": "5", **values}
    with pytest.raises(UserError, match=message):
        parse_hyperparameters({k: v for k, v in hyperparameters.items() if v is not None})


def test_snapshot_setting_reads_tables_as_of_it() -> None:
    config = parse_hyperparameters(
        {"table": "T", "label": "Y", "num_round": "5", "snapshot": "2026-11-27T09:30:00Z",
         "validation_table": "V"}
    )  # fmt: skip
    assert config.data.source == Source(table="T", as_of="2026-11-27T09:30:00Z")
    assert config.data.validation_source.as_of == "2026-11-27T09:30:00Z"
    assert data_snapshot.first_mode(config.data) == data_snapshot.SnapshotMode.TIME_TRAVEL


def test_a_record_of_other_data_is_refused(tmp_path: Path) -> None:
    data = DataSpec(Source(table="T"), "Y", validation_fraction=0.2)
    snapshot = data_snapshot.DataSnapshot(
        "submitted", {"training": "01b2c3d4-0000-1234-0000-00012345abcd"}, "2026-11-27T09:30:00Z"
    )
    record = data_snapshot.Record(snapshot, ColumnSelection(("A",), "Y"))
    data_snapshot.write_record(tmp_path, data, record)
    assert data_snapshot.read_record(tmp_path, data) == record
    other = DataSpec(Source(table="T"), "Y", validation_fraction=0.3)
    with pytest.raises(UserError, match="belongs to another job"):
        data_snapshot.read_record(tmp_path, other)
    (tmp_path / data_snapshot.RECORD_FILE_NAME).write_text('{"query_ids": {"x": "1; DROP"}}')
    with pytest.raises(UserError, match="not a record this job wrote"):
        data_snapshot.read_record(tmp_path, data)


def test_no_record_without_a_checkpoint_folder(jobs: JobRunner, housing_params: dict) -> None:
    run = jobs.run({**housing_params, "num_round": 3})
    _succeeded(run)
    snapshot = _metadata(run)["data_snapshot"]
    assert snapshot["mode"] == "submitted" and snapshot["as_of"] is None
    assert set(snapshot["query_ids"]) == {"training", "validation"}


def test_a_rerun_keeps_the_recorded_encoding_when_new_categories_appeared(
    jobs: JobRunner, standins: StandIns, tmp_path: Path
) -> None:
    """A category value that sorts first appears after the first attempt: the resumed job keeps
    the recorded category list (the new value is missing), so no code shifts under the trees."""
    table = _copy_table(standins, "RESUME_ENCODING")
    kind = "CASE WHEN HOUSEAGE > 100 THEN 'a' WHEN MEDINC > 5 THEN 'b' ELSE 'c' END AS KIND"
    params = {**PARAMS, "query": f"SELECT *, {kind} FROM {table}", "num_round": 300,
              "categorical": "KIND"}  # fmt: skip
    folder = tmp_path / "checkpoints"
    _kill_after_first_checkpoint(jobs, params, 1, folder)
    record = json.loads((folder / "host1" / data_snapshot.RECORD_FILE_NAME).read_text())
    standins.execute(f"UPDATE {table} SET HOUSEAGE = 200 WHERE MEDINC < 2")
    for query_id in record["query_ids"].values():
        standins.front.forget(query_id)
    resumed = jobs.run(params, checkpoints=folder)
    _succeeded(resumed)
    assert _metadata(resumed)["data_snapshot"]["mode"] == "rerun"

    def categories(document: object) -> list | None:
        """The category list of the feature named KIND, wherever it sits in the document."""
        if isinstance(document, dict):
            if document.get("name") == "KIND" and "categories" in document:
                return document["categories"]
            document = list(document.values())
        if isinstance(document, list):
            found = [c for c in (categories(item) for item in document) if c is not None]
            return found[0] if found else None
        return None

    assert categories(record["columns"]) == ["b", "c"]
    assert categories(_metadata(resumed)) == ["b", "c"]

"""Script mode through the real ``train`` command: a user script on our image, with our API."""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
import xgboost as xgb
from support import jobs as job_support
from support.jobs import JobRunner
from support.metrics import metric_values
from support.standins import HOUSING_TABLE, TEST_PASSWORD, StandIns

from snowflake_xgb import redaction
from snowflake_xgb import sagemaker_layout as layout

pytestmark = pytest.mark.distributed

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CODE = REPO / "examples" / "script_mode"
USER_SCRIPTS = Path(__file__).resolve().parent / "user_scripts"
IDS_TABLE = "DEMO.PUBLIC.SCRIPT_MODE_IDS"


def _code_in_base_dir(monkeypatch: pytest.MonkeyPatch, code: Path) -> None:
    """Lay out each host with the code already in <base>/code, as an image that COPYs it."""
    layout_host = job_support.layout_host

    def layout_with_code(base_dir: Path, *args, **kwargs) -> None:
        layout_host(base_dir, *args, **kwargs)
        shutil.copytree(code, base_dir / layout.CODE_DIR)

    monkeypatch.setattr(job_support, "layout_host", layout_with_code)


def test_user_script_trains_on_two_hosts_with_the_public_api(jobs: JobRunner) -> None:
    # What the SageMaker SDK sends for entry_point="train.py", source_dir=...: JSON-encoded
    # values (here a local folder stands in for the S3 sourcedir.tar.gz).
    hyperparameters = {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(str(EXAMPLE_CODE)),
        "query": json.dumps(f"SELECT * FROM {HOUSING_TABLE}"),
        "label": json.dumps("MEDHOUSEVAL"),
        "num_round": "15",
        "max_depth": "4",
        "validation_fraction": "0.2",
    }
    run = jobs.run(hyperparameters, hosts=2)
    for host in run.hosts:
        assert host.returncode == 0, host.output
        assert host.failure is None
        assert "Invoking user script" in host.output
        assert (host.output_dir / "success").exists()
    coordinator, worker = run.hosts

    # The script received the hyperparameters as arguments, without the sagemaker_* ones.
    assert "--num_round 15" in coordinator.output
    assert "--sagemaker_program" not in coordinator.output

    model = xgb.Booster(model_file=str(coordinator.model_dir / "xgboost-model"))
    assert model.num_boosted_rounds() == 15
    assert len(model.feature_names) == 8
    metadata = json.loads((coordinator.model_dir / "metadata.json").read_text())
    assert metadata["label"] == "MEDHOUSEVAL" and metadata["rounds_trained"] == 15
    assert 0 < metadata["validation_mae"] < 1.5
    assert 15000 < metadata["rows"] < 18000  # the training side of a 20% split of 20,640
    assert metadata["query_ids"]["training"] and metadata["query_ids"]["validation"]
    assert not any(worker.model_dir.iterdir())  # only the first host writes the model

    # One metric line per round, from the first host only, parsed by the SDK example's regexes.
    values = metric_values(coordinator.output)
    assert len(values["validation:rmse"]) == len(values["train:rmse"]) == 15
    assert metric_values(worker.output)["validation:rmse"] == []
    assert "validation-mae (all hosts)" in coordinator.output

    assert TEST_PASSWORD.encode() not in run.all_bytes()


def test_script_in_the_code_folder_reads_disjoint_slices(
    jobs: JobRunner, standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {IDS_TABLE} (ID NUMBER, X FLOAT)",
        f"INSERT INTO {IDS_TABLE} SELECT range, range * 0.5 FROM range(1001)",
    )
    _code_in_base_dir(monkeypatch, USER_SCRIPTS)
    query = f"SELECT ID, X FROM {IDS_TABLE}"
    run = jobs.run(
        {"query": query, "marker": "hello"},
        hosts=2,
        environ={"SAGEMAKER_PROGRAM": "read_slices.py"},
    )
    reports = []
    for host in run.hosts:
        assert host.returncode == 0, host.output
        reports.append(
            json.loads((host.output_dir / "data" / f"slices-{host.name}.json").read_text())
        )
    assert [r["rank"] for r in reports] == [0, 1] and {r["world"] for r in reports} == {2}
    for report in reports:
        assert report["batch_rows"] == report["frame_rows"] == len(report["ids"])
        assert report["batch_columns"] == report["frame_columns"] == ["ID", "X"]
        assert report["marker"] == report["sm_hp_marker"] == "hello"
        assert report["has_snowflake_user"] and report["sm_model_dir"]
    # Exactly once: the hosts' rows are disjoint and cover the result.
    assert sorted(reports[0]["ids"] + reports[1]["ids"]) == list(range(1001))
    assert {len(r["ids"]) for r in reports} == {500, 501}
    # Each call ran its query once: both hosts read the same query ids (one per call).
    ids = [re.findall(r"query (\S+): 1,001 rows", host.output) for host in run.hosts]
    assert ids[0] == ids[1] and len(set(ids[0])) == 2, ids
    assert TEST_PASSWORD.encode() not in run.all_bytes()


@pytest.mark.parametrize("hosts", [1, 2, 3, 4])
def test_every_row_is_read_once_by_id_when_result_scan_reorders(
    jobs: JobRunner, standins: StandIns, monkeypatch: pytest.MonkeyPatch, hosts: int
) -> None:
    """Snowflake's RESULT_SCAN may return rows in another order (the front's does, and cuts the
    results into chunks): by unique ID, every row is read exactly once through each API."""
    rows = 3000
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {IDS_TABLE} (ID NUMBER, X FLOAT, G NUMBER)",
        f"INSERT INTO {IDS_TABLE} SELECT range, range * 0.5, FLOOR(range / 7) FROM range({rows})",
    )
    front = standins.front
    front.reset()
    assert front.settings()["result_scan_shuffles"]
    front.settings(first_chunk_rows=100, chunk_rows=150, chunk_growth=1.05)
    _code_in_base_dir(monkeypatch, USER_SCRIPTS)
    try:
        run = jobs.run(
            {"query": f"SELECT ID, X, G FROM {IDS_TABLE}", "matrices": "yes"},
            hosts=hosts,
            environ={"SAGEMAKER_PROGRAM": "read_slices.py"},
        )
        counters = front.counters()
    finally:
        front.reset()
    reports = []
    for host in run.hosts:
        assert host.returncode == 0, host.output[-3000:]
        reports.append(
            json.loads((host.output_dir / "data" / f"slices-{host.name}.json").read_text())
        )
    every = list(range(rows))
    for key in ("ids", "batch_ids"):
        assert sorted(i for r in reports for i in r[key]) == every, key
    matrices = [r["matrices"] for r in reports]
    train = [i for m in matrices for i in m["train"]]
    validation = [i for m in matrices for i in m["validation"]]
    assert len(train) == len(set(train)) and len(validation) == len(set(validation))
    assert not set(train) & set(validation) and sorted(train + validation) == every
    assert 0.2 < len(validation) / rows < 0.3
    ranked = [m["ranked"] for m in matrices]
    assert sorted(i for ids in ranked for i in ids) == every
    groups = [{i // 7 for i in ids} for ids in ranked]
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # no group on two hosts
    # The hosts read each result by id; no RESULT_SCAN ran, and the results were chunked.
    assert counters["reopens"] == 0
    assert max(len(r["rows"]) for r in counters["results"].values()) > 10


VALIDATION_TABLE = "DEMO.PUBLIC.SCRIPT_MODE_RANKING_VALIDATION"


def test_a_separate_ranking_validation_source_is_read_at_one_point_in_time(
    jobs: JobRunner, standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its query group sizes and its rows come from one stored result: a change to the table
    between the job's statements (before the third that names it, where the rows were read
    after their group sizes) cannot cut a query group across the hosts."""
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {IDS_TABLE} (ID NUMBER, X FLOAT, G NUMBER)",
        f"INSERT INTO {IDS_TABLE} SELECT range, range * 0.5, FLOOR(range / 7) FROM range(700)",
        f"CREATE OR REPLACE TABLE {VALIDATION_TABLE} (ID NUMBER, X FLOAT, G NUMBER)",
        f"INSERT INTO {VALIDATION_TABLE} SELECT range, range * 0.5, FLOOR(range / 7) "
        "FROM range(700)",
    )
    # One row moves from the last group to the first: the same rows, other group sizes.
    moved = f"UPDATE {VALIDATION_TABLE} SET G = 0 WHERE ID = 699"
    front = standins.front
    front.reset()
    front.settings(table_changes=[{"before": VALIDATION_TABLE, "nth": 3, "sql": moved}])
    _code_in_base_dir(monkeypatch, USER_SCRIPTS)
    try:
        run = jobs.run(
            {"query": f"SELECT ID, X, G FROM {IDS_TABLE}",
             "ranking_validation": f"SELECT ID, X, G FROM {VALIDATION_TABLE}"},
            hosts=2,
            environ={"SAGEMAKER_PROGRAM": "read_slices.py"},
        )  # fmt: skip
    finally:
        front.reset()
    query_groups = []  # each host's query groups as XGBoost has them: the IDs in each
    for host in run.hosts:
        assert host.returncode == 0, host.output[-3000:]
        report = json.loads((host.output_dir / "data" / f"slices-{host.name}.json").read_text())
        ids, edges = (
            report["matrices"][k] for k in ("validation_in_order", "validation_group_ptr")
        )
        query_groups += [ids[start:end] for start, end in itertools.pairwise(edges)]
    assert sorted(i for ids in query_groups for i in ids) == list(range(700))
    # Each group XGBoost ranks within holds the rows of one group of one point in time (the
    # table before the change, or after it), and each such group is whole on one host.
    before = {i: i // 7 for i in range(700)}
    after = {**before, 699: 0}
    consistent = [
        sorted(sorted(ids) for ids in query_groups)
        == sorted(sorted(i for i in range(700) if groups[i] == g) for g in set(groups.values()))
        for groups in (before, after)
    ]
    assert any(consistent), query_groups


def test_a_user_error_in_the_script_is_the_failure_reason(
    jobs: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _code_in_base_dir(monkeypatch, USER_SCRIPTS)
    run = jobs.run({}, hosts=2, environ={"SAGEMAKER_PROGRAM": "bad_label.py"})
    for host in run.hosts:
        assert host.returncode != 0
        assert host.failure is not None, host.output
        assert "Column NOPE (label) is not in the result" in host.failure
        assert "Traceback" not in host.failure


def test_credential_like_hyperparameters_are_refused(jobs: JobRunner) -> None:
    host = jobs.run(
        {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(EXAMPLE_CODE),
         "snowflake_password": "1234"}
    ).coordinator  # fmt: skip
    assert host.returncode != 0
    assert "looks like a credential" in host.failure and "SNOWFLAKE_SECRET_ID" in host.failure
    assert "Invoking user script" not in host.output


def test_a_hyperparameter_holding_a_credential_value_is_refused(jobs: JobRunner) -> None:
    # A JSON value, so that sagemaker-training does not print it while reading it.
    leaked = json.dumps(f"user=svc;pw={TEST_PASSWORD}")
    host = jobs.run(
        {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(EXAMPLE_CODE),
         "connection": leaked}
    ).coordinator  # fmt: skip
    assert host.returncode != 0
    assert "'connection' contains a Snowflake credential" in host.failure
    assert "Invoking user script" not in host.output
    assert TEST_PASSWORD.encode() not in run_bytes(host)


def run_bytes(host: job_support.HostRun) -> bytes:
    return job_support.JobRun([host]).all_bytes()


def test_a_missing_script_says_where_it_looked(jobs: JobRunner) -> None:
    host = jobs.run({"sagemaker_program": "nope.py"}).coordinator
    assert host.returncode != 0
    assert "no training script nope.py in" in host.failure


def test_sigterm_is_passed_on_to_the_script(
    jobs: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _code_in_base_dir(monkeypatch, USER_SCRIPTS)
    run, processes = jobs.start({}, environ={"SAGEMAKER_PROGRAM": "wait_for_sigterm.py"})
    ready = run.coordinator.output_dir / "data" / "ready.txt"
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline and processes[0].poll() is None:
        time.sleep(0.2)
    assert ready.exists()
    processes[0].send_signal(signal.SIGTERM)
    host = jobs.wait(run, processes, timeout=30).coordinator
    assert (host.output_dir / "data" / "sigterm.txt").read_text() == "received"
    assert host.returncode != 0
    assert "SIGTERM received: passing it on to the training script" in host.output


def test_credential_values_are_masked_in_every_log_record() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        redaction.remember(["s3cr3t-value"])
        logging.getLogger("snowflake_xgb.x").info("env %s and %s", "A=s3cr3t-value", 42)
        logging.getLogger("sagemaker-training-toolkit").info("B=s3cr3t-value")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert stream.getvalue().splitlines() == ["env A=**** and 42", "B=****"]

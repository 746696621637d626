"""The scoring job (``job=score``) end to end: real ``train`` processes on 1 and 3 hosts read
their slices from the Snowflake stand-in through the real connector, predict, PUT their
Parquet files to the job table's stage, COPY them in, and the coordinator publishes.

What a user would check: every key of the source exactly once in the target, predictions equal
to ``Booster.predict`` on the same rows (joined by key), contributions that add up to the
margin, a target left as it was by a failed or killed job, and a rerun that writes every key
once.
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb
from support.jobs import JobRunner, wait_until
from support.scoring import (
    FEATURES,
    KEY,
    create_scoring_table,
    features_of,
    read_rows,
    score_params,
    train_model,
)
from support.standins import HOUSING_TABLE, TEST_PASSWORD, StandIns

pytestmark = pytest.mark.distributed

SCORING_TABLE = "DEMO.PUBLIC.HOUSES_TO_SCORE"


@pytest.fixture(scope="module")
def scoring_table(standins: StandIns) -> pa.Table:
    """The rows to score (20,640, each with a unique key), as the stand-in holds them."""
    create_scoring_table(standins, SCORING_TABLE, HOUSING_TABLE)
    return read_rows(standins, f"SELECT * FROM {SCORING_TABLE}")


def _by_key(table: pa.Table) -> pa.Table:
    return table.sort_by(KEY)


def _expected(booster: xgb.Booster, rows: pa.Table, **kind: bool) -> np.ndarray:
    return booster.predict(xgb.DMatrix(features_of(rows), feature_names=list(FEATURES)), **kind)


def _assert_every_key_once(written: pa.Table, source: pa.Table) -> None:
    keys = written.column(KEY).to_numpy(zero_copy_only=False).astype(np.int64)
    assert len(keys) == len(np.unique(keys)), "a key was written more than once"
    assert sorted(keys.tolist()) == sorted(
        source.column(KEY).to_numpy(zero_copy_only=False).astype(np.int64).tolist()
    )


@pytest.mark.parametrize("hosts", [1, 3])
def test_every_key_is_written_once_with_the_boosters_predictions_and_contributions(
    jobs: JobRunner, standins: StandIns, scoring_table: pa.Table, tmp_path: Path, hosts: int
) -> None:
    model = train_model(scoring_table, tmp_path, "reg:squarederror")
    target = f"DEMO.PUBLIC.HOUSE_SCORES_{hosts}"
    standins.execute(f"DROP TABLE IF EXISTS {target}")
    standins.front.stages()  # counters from here on
    before = standins.front.stages()["counters"]

    run = jobs.run(
        score_params(SCORING_TABLE, target, contributions="true"),
        hosts=hosts,
        channels={"model": model.channel},
    )

    for host in run.hosts:
        assert host.returncode == 0, host.output[-3000:]
    assert TEST_PASSWORD.encode() not in run.all_bytes()
    # Each host's shard report: the hosts' row ranges tile the result, each row read once.
    reports = sorted((host.shard_report() for host in run.hosts), key=lambda r: r["row_start"])
    assert [r["row_end"] for r in reports[:-1]] == [r["row_start"] for r in reports[1:]]
    assert sum(r["rows"] for r in reports) == scoring_table.num_rows
    written = _by_key(read_rows(standins, f"SELECT * FROM {target}"))
    source = _by_key(scoring_table)
    _assert_every_key_once(written, source)
    predictions = written.column("PREDICTION").to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(predictions.astype(np.float32), _expected(model.booster, source))
    contributions = np.column_stack(
        [written.column(f"CONTRIBUTION_{name}").to_numpy(zero_copy_only=False) for name in FEATURES]
        + [written.column("CONTRIBUTION_BIAS").to_numpy(zero_copy_only=False)]
    )
    margin = _expected(model.booster, source, output_margin=True)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, rtol=1e-4, atol=1e-4)
    after = standins.front.stages()["counters"]
    # Each host PUT one file and loaded it with one COPY: the bulk path, no row inserts.
    assert after["puts"] - before["puts"] == hosts
    assert after["copies_started"] - before["copies_started"] == hosts
    assert after["rows_loaded"] - before["rows_loaded"] == scoring_table.num_rows


def test_a_classifier_writes_labels_as_the_training_classes(
    jobs: JobRunner, standins: StandIns, scoring_table: pa.Table, tmp_path: Path
) -> None:
    model = train_model(scoring_table, tmp_path, "binary:logistic")
    target = "DEMO.PUBLIC.HOUSE_CLASSES"
    standins.execute(f"DROP TABLE IF EXISTS {target}")

    run = jobs.run(score_params(SCORING_TABLE, target), channels={"model": model.channel})

    assert run.coordinator.returncode == 0, run.coordinator.output[-3000:]
    written = _by_key(read_rows(standins, f"SELECT * FROM {target}"))
    source = _by_key(scoring_table)
    _assert_every_key_once(written, source)
    probability = _expected(model.booster, source)
    np.testing.assert_array_equal(
        written.column("PREDICTION").to_numpy(zero_copy_only=False).astype(np.float32), probability
    )
    expected_labels = np.where(probability > 0.5, "dear", "cheap").tolist()
    assert written.column("LABEL").to_pylist() == expected_labels
    described = {
        c.name: c.type_code for c in standins.connect().cursor().describe(f"SELECT * FROM {target}")
    }
    assert described["LABEL"] == 2  # TEXT: the training classes, not codes


def test_a_job_killed_while_loading_leaves_the_target_as_it_was_and_its_rerun_writes_every_key_once(
    jobs: JobRunner, standins: StandIns, scoring_table: pa.Table, tmp_path: Path
) -> None:
    model = train_model(scoring_table, tmp_path, "reg:squarederror")
    target = "DEMO.PUBLIC.HOUSE_SCORES_KILLED"
    params = score_params(SCORING_TABLE, target)
    standins.execute(  # an earlier run's predictions, as they were
        f"CREATE OR REPLACE TABLE {target} AS "
        f"SELECT {KEY}, CAST(-1 AS FLOAT) AS PREDICTION FROM {SCORING_TABLE}"
    )
    try:
        standins.front.stages(copy_answer_seconds=30)
        loads = standins.front.stages()["counters"]["copies_started"]
        run, processes = jobs.start(params, hosts=2, channels={"model": model.channel})
        wait_until(
            lambda: standins.front.stages()["counters"]["copies_started"] > loads,
            processes,
            "the first COPY INTO",
        )
        for process in processes:
            process.send_signal(signal.SIGKILL)
        jobs.wait(run, processes, timeout=30)
    finally:
        standins.front.stages(copy_answer_seconds=0)

    kept = read_rows(standins, f"SELECT * FROM {target}")
    assert kept.num_rows == scoring_table.num_rows
    assert set(kept.column("PREDICTION").to_pylist()) == {-1}

    rerun = jobs.run(params, channels={"model": model.channel})

    assert rerun.coordinator.returncode == 0, rerun.coordinator.output[-3000:]
    written = _by_key(read_rows(standins, f"SELECT * FROM {target}"))
    _assert_every_key_once(written, scoring_table)
    np.testing.assert_array_equal(
        written.column("PREDICTION").to_numpy(zero_copy_only=False).astype(np.float32),
        _expected(model.booster, _by_key(scoring_table)),
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing feature", "lack the model's feature(s) LATITUDE"),
        ("wrong type", "Column MEDINC is TEXT, but the model reads it as a number"),
        ("target with other columns", "exists with other columns"),
        ("missing key", "no key column NO_SUCH_KEY"),
        ("no CREATE TABLE grant", "the role needs CREATE TABLE on the target's schema"),
    ],
)
def test_input_the_model_cannot_score_fails_before_any_row_is_written(
    jobs: JobRunner,
    standins: StandIns,
    scoring_table: pa.Table,
    tmp_path: Path,
    case: str,
    reason: str,
) -> None:
    model = train_model(scoring_table, tmp_path, "reg:squarederror")
    target = "DEMO.PUBLIC.HOUSE_SCORES_REFUSED"
    standins.execute(f"CREATE OR REPLACE TABLE {target} ({KEY} NUMBER, PREDICTION FLOAT)")
    standins.execute(f"INSERT INTO {target} VALUES (1, 2.5)")
    columns = [KEY, *FEATURES]
    params = score_params(SCORING_TABLE, target)
    if case == "missing feature":
        params = score_params(
            None,
            target,
            query=f"SELECT {', '.join(c for c in columns if c != 'LATITUDE')} FROM {SCORING_TABLE}",
        )
    elif case == "wrong type":
        params = score_params(
            None,
            target,
            query=f"SELECT {KEY}, MEDINC::VARCHAR AS MEDINC, {', '.join(FEATURES[1:])} "
            f"FROM {SCORING_TABLE}",
        )
    elif case == "target with other columns":
        standins.execute(f"CREATE OR REPLACE TABLE {target} ({KEY} NUMBER, SCORE FLOAT)")
        standins.execute(f"INSERT INTO {target} VALUES (1, 2.5)")
    elif case == "missing key":
        params = {**params, "key": "NO_SUCH_KEY"}
    else:
        standins.front.stages(unprivileged=['"HOUSE_SCORES_REFUSED_SCORING" AS SELECT'])
    params = {k: v for k, v in params.items() if v is not None}
    before = standins.front.stages()["counters"]
    channels = {"model": model.channel}

    # Two hosts for one case: the coordinator's refusal reaches every host.
    try:
        run = jobs.run(params, hosts=2 if case == "missing feature" else 1, channels=channels)
    finally:
        standins.front.stages(unprivileged=[])

    for host in run.hosts:
        assert host.returncode != 0
        assert reason in (host.failure or ""), host.output[-3000:]
        assert len(host.failure.splitlines()) <= 3
    assert read_rows(standins, f"SELECT * FROM {target}").num_rows == 1
    assert standins.front.stages()["counters"]["puts"] == before["puts"]

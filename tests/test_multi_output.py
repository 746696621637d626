"""Multi-output models through ``train``: several label columns, on 1 and 3 hosts, against
in-memory XGBoost on the same rows; metric lines and final metrics per label; served answers.

Every feature has fewer distinct values than ``max_bin``, so XGBoost's quantile cuts are exact
and the 1-host, 3-host and in-memory models can be compared prediction by prediction. The
3-host jobs read results served in many chunks, as Snowflake serves them.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xgboost as xgb
from support.jobs import HostRun, JobRunner, assert_succeeded
from support.standins import StandIns

from snowflake_xgb.serving.model import load_model, predict
from snowflake_xgb.serving.payloads import MediaType, parse

TARGETS = "DEMO.PUBLIC.TARGETS"
TARGETS_VALIDATION = "DEMO.PUBLIC.TARGETS_VALIDATION"
FEATURES = ["X1", "X2", "X3"]
NUMBERS = ["Y1", "Y2", "Y3"]
FLAGS = ["B1", "B2"]


def _create(standins: StandIns, table: str, rows: int, seed: int) -> None:
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {table} (ID NUMBER, X1 FLOAT, X2 FLOAT, X3 FLOAT, "
        "Y1 FLOAT, Y2 FLOAT, Y3 FLOAT, B1 NUMBER, B2 NUMBER)",
        f"INSERT INTO {table} SELECT ID, X1, X2, X3, 3 * X1 + X2, X2 - 2 * X3, X1 * X3 + NOISE, "
        "IFF(X1 + NOISE > 0.6, 1, 0), IFF(X2 > X3, 1, 0) FROM (SELECT i AS ID, "
        f"(HASH(i * 3 + {seed}) % 100) / 100.0 AS X1, (HASH(i * 7 + {seed}) % 50) / 50.0 AS X2, "
        f"(HASH(i * 11 + {seed}) % 40) / 40.0 AS X3, (HASH(i * 13 + {seed}) % 10) / 20.0 AS NOISE "
        f"FROM (SELECT range AS i FROM range({rows})) AS g) AS t",
    )


@pytest.fixture(scope="module")
def tables(standins: StandIns) -> StandIns:
    _create(standins, TARGETS, rows=1200, seed=1)
    _create(standins, TARGETS_VALIDATION, rows=300, seed=2)
    return standins


def _rows(standins: StandIns, table: str) -> dict[str, np.ndarray]:
    with standins.connect() as connection:
        frame = connection.cursor().execute(f"SELECT * FROM {table} ORDER BY ID").fetch_pandas_all()
    return {name: frame[name].to_numpy(np.float32) for name in frame.columns}


def _matrix(rows: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    return np.column_stack([rows[name] for name in names])


def _served(host: HostRun, rows: dict[str, np.ndarray]) -> np.ndarray:
    """What ``serve`` answers for ``rows`` sent as keyed JSON records."""
    served = load_model(host.model_dir, threads=1)
    records = [dict(zip(FEATURES, map(float, row), strict=True)) for row in _matrix(rows, FEATURES)]
    matrix = parse(json.dumps(records).encode(), MediaType.JSON, served).matrix
    return predict(served, matrix, ())["score"]


def test_multi_target_regression_on_one_and_three_hosts_equals_in_memory(
    jobs: JobRunner, tables: StandIns
) -> None:
    learning = {"tree_method": "hist", "multi_strategy": "multi_output_tree", "max_depth": 6,
                "eta": 0.9, "eval_metric": "rmse"}  # fmt: skip
    params = {"table": TARGETS, "validation_table": TARGETS_VALIDATION, "label": "y1,Y2,y3",
              "exclude": "ID,B1,B2", "num_round": 60, "early_stopping_rounds": 3,
              **learning}  # fmt: skip
    single = assert_succeeded(jobs.run(params)).coordinator
    with tables.front_settings(first_chunk_rows=150, chunk_rows=200):
        distributed = assert_succeeded(jobs.run(params, hosts=3))
    metadata = single.metadata()
    assert metadata["labels"] == NUMBERS and metadata["feature_names"] == FEATURES
    assert distributed.metadata()["best_iteration"] == metadata["best_iteration"]

    train, validation = _rows(tables, TARGETS), _rows(tables, TARGETS_VALIDATION)
    train_matrix = xgb.QuantileDMatrix(_matrix(train, FEATURES), _matrix(train, NUMBERS))
    valid_matrix = xgb.QuantileDMatrix(
        _matrix(validation, FEATURES), _matrix(validation, NUMBERS), ref=train_matrix
    )
    reference = xgb.train(
        learning, train_matrix, 60, evals=[(valid_matrix, "validation")],
        early_stopping_rounds=3, verbose_eval=False,
    )  # fmt: skip
    assert metadata["best_iteration"] == reference.best_iteration < 59
    expected = reference[: reference.best_iteration + 1].predict(
        xgb.DMatrix(_matrix(validation, FEATURES))
    )
    assert expected.shape == (300, 3)
    ours_one, ours_three = _served(single, validation), _served(distributed.coordinator, validation)
    np.testing.assert_allclose(ours_one, expected, atol=1e-5)
    np.testing.assert_allclose(ours_three, expected, atol=1e-5)

    # Each label's metric, over every validation row (the 3 hosts' sum), at the best round.
    labels = _matrix(validation, NUMBERS)
    per_label = np.sqrt(np.mean((expected - labels) ** 2, axis=0))
    for host in (single, distributed.coordinator):
        final = host.metadata()["final_metrics"]
        for name, value in zip(NUMBERS, per_label, strict=True):
            assert final[f"validation-{name}-rmse"] == pytest.approx(value, rel=1e-4)
        assert final["validation-rmse"] == pytest.approx(np.sqrt(np.mean(per_label**2)), rel=1e-4)
        lines = [line for line in host.output.splitlines() if re.match(r"\[\d+\]\t", line)]
        assert len(lines) == metadata["rounds_trained"]
        assert all(f"\tvalidation-{name}-rmse:" in lines[-1] for name in NUMBERS)
    assert all("validation-Y1-rmse" not in host.output for host in distributed.hosts[1:])
    report = (single.output_dir / "data" / "report.html").read_text()
    assert "validation-Y3-rmse" in report


def test_multi_label_classifier_learns_each_label(jobs: JobRunner, tables: StandIns) -> None:
    params = {"table": TARGETS, "validation_table": TARGETS_VALIDATION, "label": "B1,B2",
              "features": "X1,X2,X3", "objective": "binary:logistic", "num_round": 15,
              "max_depth": 3, "eval_metric": "logloss"}  # fmt: skip
    host = assert_succeeded(jobs.run(params)).coordinator
    metadata = host.metadata()
    assert metadata["labels"] == FLAGS
    validation = _rows(tables, TARGETS_VALIDATION)
    probabilities = _served(host, validation)
    assert probabilities.shape == (300, 2) and ((probabilities > 0) & (probabilities < 1)).all()
    accuracy = ((probabilities > 0.5) == _matrix(validation, FLAGS)).mean(axis=0)
    assert (accuracy > 0.75).all(), accuracy
    assert {"validation-B1-logloss", "validation-B2-logloss"} <= set(metadata["final_metrics"])


def test_a_classifier_label_that_is_not_0_or_1_is_refused(
    jobs: JobRunner, tables: StandIns
) -> None:
    params = {"table": TARGETS, "label": "B1,Y1", "features": "X1,X2,X3",
              "objective": "binary:logistic", "num_round": 2}  # fmt: skip
    run = jobs.run(params, hosts=2)
    for host in run.hosts:
        assert host.returncode != 0
        assert host.failure.startswith("Labels Y1 ("), host.failure
        assert "hold values other than 0 and 1" in host.failure
    assert not any(run.coordinator.model_dir.iterdir())


def test_cross_validation_with_several_labels_writes_a_model(
    jobs: JobRunner, tables: StandIns
) -> None:
    params = {"table": TARGETS, "label": "Y1,Y2", "features": "X1,X2,X3", "cv_folds": 3,
              "num_round": 4, "max_depth": 3}  # fmt: skip
    host = assert_succeeded(jobs.run(params)).coordinator
    metadata = host.metadata()
    assert metadata["labels"] == ["Y1", "Y2"] and metadata["cross_validation"]["folds"] == 3
    assert _served(host, _rows(tables, TARGETS_VALIDATION)).shape == (300, 2)

"""k-fold cross-validation: a job through the real ``train`` command against the stand-ins,
on 1 and 3 hosts, compared with XGBoost in memory on the same folds."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from support.jobs import JobRun, JobRunner, assert_succeeded, wait_until
from support.metrics import metric_values
from support.standins import HOUSING_TABLE, StandIns

from snowflake_xgb.boosting import checkpoints
from snowflake_xgb.boosting.callbacks import cv_metric_line
from snowflake_xgb.boosting.cross_validation import CVResult, aggregate, parse_eval_line
from snowflake_xgb.config.job_config import Source, parse_hyperparameters
from snowflake_xgb.errors import UserError
from snowflake_xgb.model_files.columns import ColumnSelection
from snowflake_xgb.query.queries import fold_sql

pytestmark = pytest.mark.timeout(300)

FOLDS = 3
PARAMS = {"max_depth": 3, "eta": 0.3, "eval_metric": "rmse", "tree_method": "hist", "nthread": 1}
# Features with fewer distinct values than XGBoost's bins: the quantile cuts are exact however
# the rows are spread over hosts, so 3 hosts compare with one process in memory.
QUERY = (
    "SELECT ROUND(MEDINC, 1) AS MEDINC, HOUSEAGE, ROUND(AVEROOMS, 1) AS AVEROOMS, "
    "ROUND(AVEBEDRMS, 1) AS AVEBEDRMS, ROUND(POPULATION / 100) AS POPULATION, "
    "ROUND(AVEOCCUP, 1) AS AVEOCCUP, ROUND(LATITUDE, 1) AS LATITUDE, "
    f"ROUND(LONGITUDE, 1) AS LONGITUDE, MEDHOUSEVAL FROM {HOUSING_TABLE}"
)
JOB = {"query": QUERY, "label": "MEDHOUSEVAL", "cv_folds": FOLDS, **PARAMS}
CV_LINE = re.compile(r"^\[(\d+)\]\ttrain-rmse-mean:", re.MULTILINE)


def _fold_arrays(standins: StandIns, columns: ColumnSelection) -> list[tuple]:
    folds = []
    with standins.connect() as connection:
        for fold in range(FOLDS):
            sql = fold_sql(Source(query=QUERY), columns, FOLDS, fold)
            frame = connection.cursor().execute(sql).fetch_pandas_all()
            folds.append((frame[list(columns.features)].to_numpy(np.float32),
                          frame[columns.label].to_numpy(np.float32)))  # fmt: skip
    return folds


def _in_memory(
    folds: list[tuple], names: list[str], rounds: int, params: dict = PARAMS, **cv_args
) -> tuple:
    """Per-fold curves (as ``xgb.cv`` trains each fold) and ``xgb.cv``'s own result."""
    per_fold = []
    for k in range(FOLDS):
        train_x = np.concatenate([f[0] for j, f in enumerate(folds) if j != k])
        train_y = np.concatenate([f[1] for j, f in enumerate(folds) if j != k])
        train = xgb.DMatrix(train_x, train_y, feature_names=names)
        validation = xgb.DMatrix(folds[k][0], folds[k][1], feature_names=names)
        history: dict = {}
        xgb.train(params, train, rounds, evals=[(train, "train"), (validation, "validation")],
                  evals_result=history, verbose_eval=False)  # fmt: skip
        per_fold.append(history)
    features, label = (np.concatenate([f[i] for f in folds]) for i in (0, 1))
    everything = xgb.DMatrix(features, label, feature_names=names)
    sizes = np.cumsum([0] + [len(f[1]) for f in folds])
    indices = [np.arange(sizes[k], sizes[k + 1]) for k in range(FOLDS)]
    splits = [(np.concatenate([indices[j] for j in range(FOLDS) if j != k]), indices[k])
              for k in range(FOLDS)]  # fmt: skip
    reference = xgb.cv(params, everything, rounds, folds=splits, as_pandas=False, **cv_args)
    return per_fold, reference


def _cv(run: JobRun) -> dict:
    return json.loads((run.coordinator.output_dir / "data" / "cv.json").read_text())


@pytest.mark.parametrize("hosts", [1, 3])
def test_folds_equal_xgboost_cv_in_memory(jobs: JobRunner, standins: StandIns, hosts: int) -> None:
    rounds = 8
    run = jobs.run({**JOB, "num_round": rounds}, hosts=hosts)
    assert_succeeded(run)
    cv = _cv(run)
    metadata = run.metadata()
    columns = ColumnSelection(tuple(metadata["feature_names"]), metadata["label"])
    folds = _fold_arrays(standins, columns)
    assert cv["rows_per_fold"] == {f"fold-{k + 1}": len(f[1]) for k, f in enumerate(folds)}
    assert sum(cv["rows_per_fold"].values()) == metadata["rows"] == 20640
    # Each host read its exactly-once slice of each fold.
    for k in range(FOLDS):
        reports = [h.shard_report()["folds"][f"fold-{k + 1}"] for h in run.hosts]
        assert sum(r["rows"] for r in reports) == len(folds[k][1])
        assert [r["row_start"] for r in reports[1:]] == [r["row_end"] for r in reports[:-1]]

    per_fold, reference = _in_memory(folds, list(columns.features), rounds)
    for k in range(FOLDS):
        for data_set in ("train", "validation"):
            ours = cv["evals_result"][f"fold-{k + 1}-{data_set}"]["rmse"]
            np.testing.assert_allclose(ours, per_fold[k][data_set]["rmse"], rtol=0.01)
    np.testing.assert_allclose(cv["mean"]["validation-rmse"], reference["test-rmse-mean"],
                               rtol=0.01)  # fmt: skip
    np.testing.assert_allclose(cv["mean"]["train-rmse"], reference["train-rmse-mean"], rtol=0.01)

    # Per-round lines of mean and std, as SageMaker metric definitions read them; the last
    # value (what automatic model tuning takes) is the chosen round's.
    log = run.coordinator.output
    assert [int(n) for n in CV_LINE.findall(log)] == [*range(rounds), rounds - 1]
    values = metric_values(log)
    assert values["cv:validation-rmse-mean"][-1] == pytest.approx(
        cv["best_scores"]["validation-rmse-mean"], abs=1e-5
    )
    assert len(values["cv:validation-rmse-std"]) == rounds + 1
    assert values["train:rmse"] and not values["validation:rmse"]  # the final model's lines

    # Then the model, on all rows, for the chosen rounds.
    assert cv["best_rounds"] == rounds and metadata["rounds_trained"] == rounds
    assert metadata["cross_validation"]["folds"] == FOLDS
    assert set(metadata["query_ids"]) == {"fold-1", "fold-2", "fold-3"}
    model = run.coordinator.model()
    assert model.num_boosted_rounds() == rounds
    # The training report draws every fold's curves beside the final model's.
    report = (run.coordinator.output_dir / "data" / "report.html").read_text()
    assert "fold-3-validation-rmse" in report and "reopened" not in report


def test_early_stopping_over_the_folds_mean(jobs: JobRunner, standins: StandIns) -> None:
    learning = {**PARAMS, "eta": 0.9, "max_depth": 6}
    run = jobs.run({**JOB, **learning, "num_round": 200, "early_stopping_rounds": 3})
    assert run.coordinator.returncode == 0, run.coordinator.output
    cv = _cv(run)
    metadata = run.metadata()
    columns = ColumnSelection(tuple(metadata["feature_names"]), metadata["label"])
    _, reference = _in_memory(
        _fold_arrays(standins, columns), list(columns.features), 200, learning,
        early_stopping_rounds=3,
    )  # fmt: skip
    assert cv["early_stopped"] and cv["best_rounds"] < 200
    assert cv["best_rounds"] == len(reference["test-rmse-mean"])  # xgb.cv cuts at the best
    assert metadata["rounds_trained"] == cv["best_rounds"]


def test_cross_validation_only(jobs: JobRunner) -> None:
    run = jobs.run({**JOB, "num_round": 3, "cv_final_model": "false"})
    host = run.coordinator
    assert host.returncode == 0, host.output
    assert _cv(run)["best_rounds"] == 3
    assert not (host.model_dir / "xgboost-model").exists()


def test_too_many_folds_for_the_rows(jobs: JobRunner, standins: StandIns) -> None:
    standins.execute(
        f"CREATE OR REPLACE TABLE DEMO.PUBLIC.CV_TINY AS SELECT * FROM {HOUSING_TABLE} LIMIT 3"
    )
    tiny = {**{k: v for k, v in JOB.items() if k != "query"}, "table": "DEMO.PUBLIC.CV_TINY"}
    run = jobs.run({**tiny, "num_round": 3, "cv_folds": 50})
    host = run.coordinator
    assert host.returncode == 1
    assert "has no rows" in host.failure and "cv_folds" in host.failure


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cv_folds": "1"}, "cv_folds must be between 2 and 100"),
        ({"cv_folds": "3", "validation_fraction": "0.2"}, "leave out validation_fraction"),
    ],
)
def test_bad_cv_settings_are_refused(values: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_hyperparameters({"table": "T", "label": "Y", "num_round": "5", **values})


def test_early_stopping_needs_folds_or_validation() -> None:
    base = {"table": "T", "label": "Y", "num_round": "5", "early_stopping_rounds": "2"}
    assert parse_hyperparameters({**base, "cv_folds": "4"}).data.cv_folds == 4
    with pytest.raises(UserError, match="cv_folds"):
        parse_hyperparameters(base)


def test_fold_queries_split_every_row_once() -> None:
    columns = ColumnSelection(("A", "B"), "Y")
    sql = fold_sql(Source(table="T"), columns, 5, 2)
    assert sql.endswith('WHERE MOD(ABS(HASH("A", "B", "Y")), 5) = 2')


def test_mean_and_std_as_xgboost_cv() -> None:
    lines = ["[0]\ttrain-rmse:1\tvalidation-rmse:2", "[0]\ttrain-rmse:3\tvalidation-rmse:6"]
    scores = aggregate([parse_eval_line(line) for line in lines])
    assert scores == {"train": {"rmse": (2.0, 1.0)}, "validation": {"rmse": (4.0, 2.0)}}
    history = {d: {m: [v] for m, v in ms.items()} for d, ms in scores.items()}
    assert cv_metric_line(0, history) == (
        "[0]\ttrain-rmse-mean:2.00000\ttrain-rmse-std:1.00000"
        "\tvalidation-rmse-mean:4.00000\tvalidation-rmse-std:2.00000"
    )


def test_a_resumed_job_cross_validates_the_same_folds(
    jobs: JobRunner, standins: StandIns, tmp_path: Path
) -> None:
    """Killed while training the final model, the table changes; resumed, the job reopens the
    fold results, chooses the same rounds and finishes the model from its checkpoint."""
    table = "DEMO.PUBLIC.CV_RESUME"
    standins.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {HOUSING_TABLE}")
    params = {**JOB, "query": QUERY.replace(HOUSING_TABLE, table), "num_round": 300,
              "checkpoint_frequency": 25}  # fmt: skip
    folder = tmp_path / "checkpoints"
    run, processes = jobs.start(params, checkpoints=folder)
    deadline = time.monotonic() + 180
    while not checkpoints.latest_checkpoint(folder / "host1"):
        assert processes[0].poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    processes[0].send_signal(signal.SIGKILL)
    killed = jobs.wait(run, processes)
    first_cv = _cv(killed)
    standins.execute(f"DELETE FROM {table} WHERE HOUSEAGE > 30")

    resumed = jobs.run(params, checkpoints=folder)
    assert resumed.coordinator.returncode == 0, resumed.coordinator.output
    assert "Resuming from checkpoint" in resumed.coordinator.output
    metadata = resumed.metadata()
    assert metadata["data_snapshot"]["mode"] == "reopened"
    assert metadata["data_snapshot"]["query_ids"] == first_cv["query_ids"]
    assert _cv(resumed)["mean"] == first_cv["mean"]
    assert metadata["rows"] == 20640 and metadata["rounds_trained"] == 300


def test_external_memory_folds_match_in_memory_folds(jobs: JobRunner) -> None:
    params = {**JOB, "num_round": 5}
    in_memory = jobs.run(params)
    external = jobs.run({**params, "external_memory": "true"})
    for run in (in_memory, external):
        assert run.coordinator.returncode == 0, run.coordinator.output
    assert "fold-1-train: external matrix" in external.coordinator.output
    np.testing.assert_allclose(_cv(external)["mean"]["validation-rmse"],
                               _cv(in_memory)["mean"]["validation-rmse"], rtol=0.01)  # fmt: skip


def test_sigterm_stops_cross_validation_promptly(jobs: JobRunner) -> None:
    run, processes = jobs.start({**JOB, "num_round": 100_000})
    wait_until(lambda: "[5]\ttrain-rmse-mean" in run.coordinator.log(), processes, "round 5")
    started = time.monotonic()
    processes[0].send_signal(signal.SIGTERM)
    host = jobs.wait(run, processes).coordinator
    assert time.monotonic() - started < 15
    assert host.returncode == 1, host.output
    assert "SIGTERM" in host.failure and "cross-validates again" in host.failure
    assert not (host.model_dir / "xgboost-model").exists()


def test_cv_json_names_fold_curves_as_the_report_reads_them() -> None:
    history = {"train": {"rmse": [2.0, 1.0]}, "validation": {"rmse": [3.0, 2.5]}}
    result = CVResult(
        ("fold-1", "fold-2"), (history, history), {"validation-rmse": [3.0, 2.5]},
        {"validation-rmse": [0.0, 0.0]}, best_iteration=1, early_stopped=False,
    )  # fmt: skip
    document = result.to_json()
    assert set(document["evals_result"]) == {
        "fold-1-train", "fold-1-validation", "fold-2-train", "fold-2-validation",
    }  # fmt: skip
    assert document["best_rounds"] == 2 and document["rounds_trained"] == 2
    assert document["best_scores"] == {"validation-rmse-mean": 2.5, "validation-rmse-std": 0.0}
    assert json.loads(json.dumps(document)) == document

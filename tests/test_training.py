"""The single-host job end to end, through the real ``train`` command and the stand-ins."""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb
from support.jobs import JobRunner, assert_succeeded
from support.model_fit import assert_fits_as_well, predict
from support.standins import HOUSING_TABLE, TEST_PASSWORD, StandIns

TRAIN_QUERY = f"SELECT * FROM {HOUSING_TABLE} WHERE MOD(FLOOR(POPULATION), 5) <> 0"
VALIDATION_QUERY = f"SELECT * FROM {HOUSING_TABLE} WHERE MOD(FLOOR(POPULATION), 5) = 0"
PARAMS = {"max_depth": 5, "eta": 0.3, "objective": "reg:squarederror", "eval_metric": "rmse"}


def _fetch(standins: StandIns, query: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with standins.connect() as connection:
        frame = connection.cursor().execute(query).fetch_pandas_all()
    features = [c for c in frame.columns if c != "MEDHOUSEVAL"]
    return frame[features].to_numpy(np.float32), frame["MEDHOUSEVAL"].to_numpy(np.float32), features


def test_trains_like_plain_xgboost_in_memory(jobs: JobRunner, standins: StandIns) -> None:
    run = jobs.run(
        {"query": TRAIN_QUERY, "validation_query": VALIDATION_QUERY, "label": "medhouseval",
         "num_round": 30, **PARAMS}
    )  # fmt: skip
    model = assert_succeeded(run).coordinator.model()

    train_x, train_y, names = _fetch(standins, TRAIN_QUERY)
    valid_x, valid_y, _ = _fetch(standins, VALIDATION_QUERY)
    in_memory = xgb.train(PARAMS, xgb.DMatrix(train_x, train_y, feature_names=names), 30)

    assert model.feature_names == names
    ours, reference = predict(model, valid_x), predict(in_memory, valid_x)
    assert_fits_as_well(ours, reference, valid_y, within=0.01)


def test_writes_model_metadata_and_metric_lines(jobs: JobRunner, housing_params: dict) -> None:
    run = jobs.run(housing_params)
    host = run.coordinator
    assert host.returncode == 0, host.output
    metadata = host.metadata()
    assert metadata["label"] == "MEDHOUSEVAL"
    assert metadata["feature_names"][0] == "MEDINC" and len(metadata["feature_names"]) == 8
    assert metadata["rounds_trained"] == 20
    assert (
        metadata["rows"]
        + json.loads((host.output_dir / "data" / f"shard-{host.name}.json").read_text())[
            "validation"
        ]["rows"]
        == 20640
    )
    assert metadata["query_ids"]["training"] and metadata["query_ids"]["validation"]
    assert set(metadata["final_metrics"]) == {"train-rmse", "validation-rmse"}
    assert metadata["versions"]["xgboost"] == xgb.__version__
    # One line per round in XGBoost's form, which SageMaker metric definitions parse.
    lines = [line for line in host.output.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in lines[-20:]] == [f"[{i}" for i in range(20)]
    assert "\ttrain-rmse:" in lines[-1] and "\tvalidation-rmse:" in lines[-1]
    assert (host.output_dir / "success").exists()


def test_validation_fraction_split_is_the_same_every_run(
    jobs: JobRunner, housing_params: dict
) -> None:
    first = jobs.run(housing_params).coordinator
    second = jobs.run(housing_params).coordinator
    assert first.returncode == second.returncode == 0
    assert first.shard_report()["rows"] == second.shard_report()["rows"]
    one = xgb.Booster(model_file=str(first.model_dir / "xgboost-model"))
    two = xgb.Booster(model_file=str(second.model_dir / "xgboost-model"))
    probe = xgb.DMatrix(np.random.default_rng(0).random((50, 8)), feature_names=one.feature_names)
    np.testing.assert_allclose(one.predict(probe), two.predict(probe), rtol=1e-6)


def test_early_stopping_keeps_the_best_rounds(jobs: JobRunner, housing_params: dict) -> None:
    params = {**housing_params, "num_round": 400, "eta": 0.9, "early_stopping_rounds": 3}
    host = jobs.run(params).coordinator
    assert host.returncode == 0, host.output
    metadata = host.metadata()
    assert metadata["rounds_trained"] < 400
    assert metadata["rounds_trained"] == metadata["best_iteration"] + 4
    model = xgb.Booster(model_file=str(host.model_dir / "xgboost-model"))
    assert model.num_boosted_rounds() == metadata["best_iteration"] + 1


def test_features_and_exclude_choose_columns(jobs: JobRunner, housing_params: dict) -> None:
    only = jobs.run({**housing_params, "features": "medinc, HouseAge"}).coordinator
    assert only.returncode == 0, only.output
    assert xgb.Booster(model_file=str(only.model_dir / "xgboost-model")).feature_names == [
        "MEDINC", "HOUSEAGE",
    ]  # fmt: skip
    without = jobs.run({**housing_params, "exclude": "latitude,longitude"}).coordinator
    assert without.returncode == 0, without.output
    names = xgb.Booster(model_file=str(without.model_dir / "xgboost-model")).feature_names
    assert "LATITUDE" not in names and "LONGITUDE" not in names and len(names) == 6


def test_a_hyperparameter_holding_the_password_is_refused_without_echoing_it(
    jobs: JobRunner, housing_params: dict
) -> None:
    params = {k: v for k, v in housing_params.items() if k != "table"}
    params["query"] = f"SELECT * FROM {HOUSING_TABLE} -- {TEST_PASSWORD}"
    run = jobs.run(params)
    host = run.coordinator
    assert host.returncode != 0
    assert "Hyperparameter 'query' contains a Snowflake credential" in host.failure
    assert TEST_PASSWORD.encode() not in run.all_bytes()
    assert not (host.model_dir / "xgboost-model").exists()


def test_external_memory_job_trains_the_same_model(jobs: JobRunner, housing_params: dict) -> None:
    in_memory = jobs.run(housing_params).coordinator
    on_disk = jobs.run({**housing_params, "external_memory": "true"}).coordinator
    assert in_memory.returncode == 0, in_memory.output
    assert on_disk.returncode == 0, on_disk.output
    assert "training data: building external matrix" in on_disk.output
    one = xgb.Booster(model_file=str(in_memory.model_dir / "xgboost-model"))
    two = xgb.Booster(model_file=str(on_disk.model_dir / "xgboost-model"))
    probe = xgb.DMatrix(np.random.default_rng(1).random((200, 8)), feature_names=one.feature_names)
    np.testing.assert_allclose(one.predict(probe), two.predict(probe), rtol=1e-3, atol=1e-3)

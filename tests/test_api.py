"""The public API (``snowflake_xgb.api``) in-process, on one host, against the stand-ins.

The multi-host behaviour (one query, exactly-once slices, model on the first host only) is
tested through the real ``train`` command in ``test_script_mode.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from support.standins import HOUSING_TABLE, TEST_PASSWORD, StandIns

from snowflake_xgb import api

CREDENTIAL_ENV = (
    "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "SNOWFLAKE_TOKEN", "SNOWFLAKE_AUTHENTICATOR",
)  # fmt: skip
QUERY = f"SELECT * FROM {HOUSING_TABLE}"


def _layout(
    base: Path, hosts: list[str], current: str, hyperparameters: dict | None = None
) -> Path:
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (base / "model").mkdir()
    (base / "output" / "data").mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters or {}))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": current, "hosts": hosts})
    )
    return base


@pytest.fixture
def job(standins: StandIns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """One host's SageMaker folder and environment; no credentials exported yet."""
    for name, value in standins.job_environ().items():
        monkeypatch.setenv(name, value)
    for name in CREDENTIAL_ENV:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    base = _layout(tmp_path / "ml", ["algo-1"], "algo-1")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    yield base


def _fetch(standins: StandIns, query: str):
    with standins.connect() as connection:
        return connection.cursor().execute(query).fetch_pandas_all()


def test_load_quantile_dmatrix_reads_every_row_once(job: Path, standins: StandIns) -> None:
    train_query = f"{QUERY} WHERE MOD(FLOOR(POPULATION), 5) <> 0"
    valid_query = f"{QUERY} WHERE MOD(FLOOR(POPULATION), 5) = 0"
    data = api.load_quantile_dmatrix(
        train_query, "medhouseval", features=["MedInc", "houseage"], validation_query=valid_query
    )
    expected_train, expected_valid = _fetch(standins, train_query), _fetch(standins, valid_query)
    assert isinstance(data.train, xgb.QuantileDMatrix)
    assert data.feature_names == ("MEDINC", "HOUSEAGE") and data.label == "MEDHOUSEVAL"
    assert data.train.num_row() == data.rows == data.total_rows == len(expected_train)
    assert data.validation.num_row() == data.validation_rows == len(expected_valid)
    assert data.train.feature_names == ["MEDINC", "HOUSEAGE"]
    np.testing.assert_allclose(
        np.sort(data.train.get_label()),
        np.sort(expected_train["MEDHOUSEVAL"].to_numpy(np.float32)),
        rtol=1e-6,
    )
    assert [name for _, name in data.evals] == ["train", "validation"]
    assert set(data.metadata) == {
        "feature_names", "feature_types", "label", "encoding", "rows", "query_ids",
    }  # fmt: skip
    booster = xgb.train({"max_depth": 3}, data.train, 5, evals=data.evals, verbose_eval=False)
    assert booster.num_boosted_rounds() == 5


def test_text_columns_are_categories_and_weights_are_read(job: Path) -> None:
    query = (
        "SELECT MEDINC, CASE WHEN HOUSEAGE > 30 THEN 'old' WHEN HOUSEAGE > 10 THEN 'mid' "
        f"ELSE 'new' END AS AGE_GROUP, HOUSEAGE / 52 AS W, MEDHOUSEVAL FROM {HOUSING_TABLE}"
    )
    data = api.load_quantile_dmatrix(query, "MEDHOUSEVAL", weight="w")
    assert data.feature_names == ("MEDINC", "AGE_GROUP")
    assert data.train.feature_types == ["q", "c"]
    assert data.metadata["encoding"]["features"][1]["categories"] == ["mid", "new", "old"]
    weights = data.train.get_weight()
    assert weights.shape == (20640,) and weights.min() >= 0 and weights.max() <= 1
    with pytest.raises(api.UserError, match="AGE_GROUP has 3 distinct values, more than"):
        api.load_quantile_dmatrix(query, "MEDHOUSEVAL", max_categories=2)


def test_validation_fraction_splits_the_query(job: Path) -> None:
    data = api.load_quantile_dmatrix(QUERY, "MEDHOUSEVAL", validation_fraction=0.25, max_bin=64)
    assert data.rows + data.validation_rows == 20640
    assert 0.2 < data.validation_rows / 20640 < 0.3
    assert len(data.feature_names) == 8


def test_record_batches_and_dataframe_hold_this_hosts_rows(job: Path, standins: StandIns) -> None:
    query = f"SELECT MEDINC, MEDHOUSEVAL FROM {HOUSING_TABLE} WHERE HOUSEAGE > 30"
    expected = len(_fetch(standins, query))
    batches = list(api.iter_record_batches(query))
    assert sum(batch.num_rows for batch in batches) == expected
    assert batches[0].schema.names == ["MEDINC", "MEDHOUSEVAL"]
    frame = api.load_dataframe(query)
    assert len(frame) == expected and list(frame.columns) == ["MEDINC", "MEDHOUSEVAL"]


def test_an_empty_result_is_an_empty_frame_with_its_columns(job: Path) -> None:
    frame = api.load_dataframe(f"SELECT MEDINC, LATITUDE FROM {HOUSING_TABLE} WHERE 1 = 0")
    assert len(frame) == 0 and list(frame.columns) == ["MEDINC", "LATITUDE"]
    assert list(api.iter_record_batches(f"SELECT * FROM {HOUSING_TABLE} WHERE 1 = 0")) == []


def test_credentials_are_bootstrapped_from_the_secret_once(job: Path) -> None:
    import os

    assert "SNOWFLAKE_USER" not in os.environ
    api.load_dataframe(f"SELECT MEDINC FROM {HOUSING_TABLE} LIMIT 3")
    assert os.environ["SNOWFLAKE_PASSWORD"] == TEST_PASSWORD  # exported for the user's code


def test_a_user_error_names_the_fix_and_becomes_the_failure_reason(job: Path) -> None:
    with pytest.raises(api.UserError, match="Column NOPE \\(label\\) is not in the result"):
        api.load_quantile_dmatrix(QUERY, "NOPE")
    failure = (job / "output" / "failure").read_text()
    assert failure.startswith("Column NOPE (label) is not in the result")
    # The first reason wins: a later error does not overwrite it.
    with pytest.raises(api.UserError, match="SQL query"):
        api.load_dataframe("  ;")
    assert (job / "output" / "failure").read_text() == failure


def test_sql_errors_are_user_errors(job: Path) -> None:
    with pytest.raises(api.UserError, match="Snowflake could not run"):
        api.load_dataframe("SELECT * FROM DEMO.PUBLIC.NO_SUCH_TABLE")


def test_bad_arguments_are_refused_before_any_query(job: Path) -> None:
    with pytest.raises(
        api.UserError,
        match=r"either validation_query \(or validation_table\) or validation_fraction",
    ):
        api.load_quantile_dmatrix(QUERY, "X", validation_query=QUERY, validation_fraction=0.1)
    with pytest.raises(api.UserError, match="between 0 and 1"):
        api.load_quantile_dmatrix(QUERY, "X", validation_fraction=1.5)
    with pytest.raises(api.UserError, match="not a valid Snowflake column name"):
        api.load_quantile_dmatrix(QUERY, "MEDHOUSEVAL", features=["a b"])


def test_save_model_writes_on_the_first_host_only(
    job: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = api.load_quantile_dmatrix(QUERY, "MEDHOUSEVAL")
    booster = xgb.train({"max_depth": 2}, data.train, 3)
    path = api.save_model(booster, metadata={**data.metadata, "note": "hello"})
    assert path == job / "model" / "xgboost-model"
    assert xgb.Booster(model_file=str(path)).num_boosted_rounds() == 3
    metadata = json.loads((job / "model" / "metadata.json").read_text())
    assert metadata["note"] == "hello" and metadata["rows"] == 20640
    assert metadata["feature_names"] == list(data.feature_names)
    assert metadata["rounds_trained"] == 3 and "xgboost" in metadata["versions"]

    second = _layout(tmp_path / "ml2", ["algo-1", "algo-2"], "algo-2")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(second))
    assert api.save_model(booster) is None
    assert not any((second / "model").iterdir())


def test_save_model_refuses_metadata_holding_a_credential(job: Path) -> None:
    data = api.load_quantile_dmatrix(QUERY, "MEDHOUSEVAL")
    booster = xgb.train({"max_depth": 2}, data.train, 1)
    with pytest.raises(api.UserError, match="contains a Snowflake credential"):
        api.save_model(booster, metadata={"dsn": f"snowflake://u:{TEST_PASSWORD}@x"})
    assert not (job / "model" / "xgboost-model").exists()


def test_several_hosts_need_the_host_group(job: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _layout(job.parent / "two", ["algo-1", "algo-2"], "algo-1")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(first))
    with pytest.raises(api.UserError, match="join_host_group"):
        api.load_dataframe(QUERY)


def test_metric_printer_prints_the_round_lines(job: Path, capsys: pytest.CaptureFixture) -> None:
    data = api.load_quantile_dmatrix(QUERY, "MEDHOUSEVAL", validation_fraction=0.2)
    xgb.train(
        {"eval_metric": "rmse"}, data.train, 2, evals=data.evals, verbose_eval=False,
        callbacks=[api.metric_printer()],
    )  # fmt: skip
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert [line.split("\t")[0] for line in lines] == ["[0]", "[1]"]
    assert "\ttrain-rmse:" in lines[0] and "\tvalidation-rmse:" in lines[0]


def test_join_host_group_on_one_host_is_free(job: Path) -> None:
    with api.join_host_group() as group:
        assert group.world == 1 and group.is_coordinator
        frame = api.load_dataframe(f"SELECT MEDINC FROM {HOUSING_TABLE} LIMIT 5")
    assert len(frame) == 5


def test_group_settings_come_from_hyperparameters(
    job: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _layout(job.parent / "hp", ["algo-1"], "algo-1", {"tracker_port": '"7001"'})
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    with api.join_host_group() as group:
        assert group.settings.tracker_port == 7001
    with api.join_host_group(tracker_port=7005) as group:
        assert group.settings.tracker_port == 7005
    bad = _layout(job.parent / "bad", ["algo-1"], "algo-1", {"host_timeout_seconds": "soon"})
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(bad))
    with (
        pytest.raises(api.UserError, match="host_timeout_seconds must be a whole number"),
        api.join_host_group(),
    ):
        pass

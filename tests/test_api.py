"""The public API (``snowflake_xgb.api``) in-process, on one host, against the stand-ins.

The multi-host behaviour (one query, exactly-once slices, model on the first host only) is
tested through the real ``train`` command in ``test_script_mode.py``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from support.jobs import layout_host
from support.standins import HOUSING_TABLE, TEST_PASSWORD, StandIns

from snowflake_xgb import api
from snowflake_xgb import sagemaker_layout as layout

CREDENTIAL_ENV = (
    "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "SNOWFLAKE_TOKEN", "SNOWFLAKE_AUTHENTICATOR",
)  # fmt: skip
QUERY = f"SELECT * FROM {HOUSING_TABLE}"


def _layout(
    base: Path, hosts: list[str], current: str, hyperparameters: dict | None = None
) -> Path:
    layout_host(base, current, hosts, hyperparameters or {}, checkpoints=None)
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
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(base))
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
        "feature_names",
        "feature_types",
        "label",
        "labels",
        "weight",
        "group",
        "encoding",
        "rows",
        "query_ids",
    }
    booster = xgb.train({"max_depth": 3}, data.train, 5, evals=data.evals, verbose_eval=False)
    assert booster.num_boosted_rounds() == 5


def test_several_labels_load_as_one_label_column_each(job: Path, standins: StandIns) -> None:
    query = f"{QUERY} WHERE MOD(FLOOR(POPULATION), 7) = 0"
    data = api.load_quantile_dmatrix(query, "medhouseval, AveRooms", features="MEDINC,HOUSEAGE")
    assert data.label == "MEDHOUSEVAL" and data.labels == ("MEDHOUSEVAL", "AVEROOMS")
    assert data.metadata["labels"] == ["MEDHOUSEVAL", "AVEROOMS"]
    expected = _fetch(standins, query)[["MEDHOUSEVAL", "AVEROOMS"]].to_numpy(np.float32)
    labels = data.train.get_label()
    assert labels.shape == expected.shape
    order = np.lexsort(labels.T[::-1])
    np.testing.assert_array_equal(labels[order], expected[np.lexsort(expected.T[::-1])])
    booster = xgb.train({"multi_strategy": "multi_output_tree"}, data.train, 3)
    assert booster.predict(data.train).shape == expected.shape


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
    failure = (job / layout.FAILURE_FILE).read_text()
    assert failure.startswith("Column NOPE (label) is not in the result")
    # The first reason wins: a later error does not overwrite it.
    with pytest.raises(api.UserError, match="SQL query"):
        api.load_dataframe("  ;")
    assert (job / layout.FAILURE_FILE).read_text() == failure


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
    assert path == job / layout.MODEL_DIR / "xgboost-model"
    assert xgb.Booster(model_file=str(path)).num_boosted_rounds() == 3
    metadata = json.loads((job / layout.MODEL_DIR / "metadata.json").read_text())
    assert metadata["note"] == "hello" and metadata["rows"] == 20640
    assert metadata["feature_names"] == list(data.feature_names)
    assert metadata["rounds_trained"] == 3 and "xgboost" in metadata["versions"]

    second = _layout(tmp_path / "ml2", ["algo-1", "algo-2"], "algo-2")
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(second))
    assert api.save_model(booster) is None
    assert not any((second / layout.MODEL_DIR).iterdir())


def test_save_model_refuses_metadata_holding_a_credential(job: Path) -> None:
    data = api.load_quantile_dmatrix(QUERY, "MEDHOUSEVAL")
    booster = xgb.train({"max_depth": 2}, data.train, 1)
    with pytest.raises(api.UserError, match="contains a Snowflake credential"):
        api.save_model(booster, metadata={"dsn": f"snowflake://u:{TEST_PASSWORD}@x"})
    assert not (job / layout.MODEL_DIR / "xgboost-model").exists()


def test_several_hosts_need_join_hosts(job: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _layout(job.parent / "two", ["algo-1", "algo-2"], "algo-1")
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(first))
    with pytest.raises(api.UserError, match="join_hosts"):
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


def test_join_hosts_on_one_host_is_free(job: Path) -> None:
    with api.join_hosts() as hosts:
        assert hosts.world == 1 and hosts.is_coordinator
        frame = api.load_dataframe(f"SELECT MEDINC FROM {HOUSING_TABLE} LIMIT 5")
    assert len(frame) == 5


def test_group_settings_come_from_hyperparameters(
    job: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _layout(job.parent / "hp", ["algo-1"], "algo-1", {"tracker_port": '"7001"'})
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(base))
    with api.join_hosts() as hosts:
        assert hosts.settings.tracker_port == 7001
    with api.join_hosts(tracker_port=7005) as hosts:
        assert hosts.settings.tracker_port == 7005
    bad = _layout(job.parent / "bad", ["algo-1"], "algo-1", {"host_timeout_seconds": "soon"})
    monkeypatch.setenv(layout.BASE_DIR_ENV, str(bad))
    with (
        pytest.raises(api.UserError, match="host_timeout_seconds must be a whole number"),
        api.join_hosts(),
    ):
        pass


POINT_TABLE = "DEMO.PUBLIC.POINT_IN_TIME"


@pytest.mark.parametrize(
    "change",
    [
        f"UPDATE {POINT_TABLE} SET X = X + 1000",  # every row's split hash changes
        f"INSERT INTO {POINT_TABLE} SELECT range, range * 0.5 FROM range(2000, 2600)",
        f"DELETE FROM {POINT_TABLE} WHERE ID < 500",
    ],
)
def test_splits_are_cut_from_one_point_in_time(job: Path, standins: StandIns, change: str) -> None:
    """The table changes between the job's statements (before the validation side is read):
    training and validation are still disjoint and together the rows of one point in time."""
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {POINT_TABLE} (ID NUMBER, X FLOAT)",
        f"INSERT INTO {POINT_TABLE} SELECT range, range * 0.5 FROM range(2000)",
    )
    front = standins.front
    front.reset()
    front.settings(table_changes=[{"before": "HASH(", "nth": 2, "sql": change}])
    try:
        data = api.load_quantile_dmatrix(
            f"SELECT ID, X FROM {POINT_TABLE}", "ID", features=["X"], validation_fraction=0.3
        )
        changed = front.counters()
    finally:
        front.reset()
    assert changed["reopens"] == 0  # no data read through RESULT_SCAN
    train = sorted(int(i) for i in data.train.get_label())
    validation = sorted(int(i) for i in data.validation.get_label())
    assert not set(train) & set(validation)
    assert sorted(train + validation) == list(range(2000))
    assert 0.2 < len(validation) / 2000 < 0.4


TYPED_CHUNKS = "DEMO.PUBLIC.TYPED_CHUNKS"


def _typed_chunks(standins: StandIns) -> list[dict]:
    """A table whose chunks differ in value ranges: small and large integers, scaled numbers,
    timestamps with fractions; its rows as the connector reads them (whole, one batch)."""
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {TYPED_CHUNKS} (ID NUMBER, SMALL NUMBER, BIG NUMBER, "
        "AMOUNT NUMBER(12,2), SEEN TIMESTAMP_NTZ)",
        f"INSERT INTO {TYPED_CHUNKS} SELECT range, range % 100, "
        "CASE WHEN range % 3 = 0 THEN NULL ELSE range * 3000000000 END, "
        "CAST(range * 1.25 - 900 AS NUMBER(12,2)), "
        "DATEADD(millisecond, range * 1234567, '2021-06-01 00:00:00'::TIMESTAMP_NTZ) "
        "FROM range(3000)",
    )
    with standins.connect() as connection:
        cursor = connection.cursor().execute(f"SELECT * FROM {TYPED_CHUNKS} ORDER BY ID")
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@contextlib.contextmanager
def _varying(standins: StandIns) -> Iterator[None]:
    """Many chunks, each with the Arrow types Snowflake may choose for it."""
    standins.front.reset()
    standins.front.settings(first_chunk_rows=100, chunk_rows=250, vary_chunk_types=True)
    try:
        yield
    finally:
        standins.front.reset()


@pytest.mark.usefixtures("job")
def test_chunks_of_different_types_give_one_schema_and_the_same_values(
    standins: StandIns,
) -> None:
    expected = {row["ID"]: row for row in _typed_chunks(standins)}
    query = f"SELECT * FROM {TYPED_CHUNKS}"
    with contextlib.ExitStack() as stack:
        stack.enter_context(_varying(standins))
        with standins.connect() as connection:  # what the connector hands out, chunk by chunk
            cursor = connection.cursor()
            cursor.execute(query)
            raw = {str(b.to_arrow().schema.types) for b in cursor.get_result_batches()}
        batches = list(api.iter_record_batches(query))
        frame = api.load_dataframe(query)
    assert len(raw) > 1  # the stand-in did send chunks of different types

    assert len({batch.schema for batch in batches}) == 1
    schema = batches[0].schema
    assert [str(t) for t in schema.types] == [
        "int64", "int64", "int64", "double", "timestamp[us]",
    ]  # fmt: skip
    rows = [row for batch in batches for row in batch.to_pylist()]
    assert sorted(row["ID"] for row in rows) == sorted(expected)  # every row once
    for row in rows:
        want = expected[row["ID"]]
        assert (row["SMALL"], row["BIG"], row["SEEN"]) == (want["SMALL"], want["BIG"], want["SEEN"])
        assert row["AMOUNT"] == pytest.approx(float(want["AMOUNT"]), rel=1e-15)

    assert sorted(frame["ID"]) == sorted(expected)
    by_id = frame.set_index("ID")
    ids = sorted(expected)
    np.testing.assert_array_equal(by_id.loc[ids, "SMALL"], [expected[i]["SMALL"] for i in ids])
    np.testing.assert_allclose(
        by_id.loc[ids, "AMOUNT"], [float(expected[i]["AMOUNT"]) for i in ids], rtol=1e-12
    )
    big = by_id.loc[ids, "BIG"]
    assert [None if np.isnan(v) else int(v) for v in big] == [expected[i]["BIG"] for i in ids]
    assert list(by_id.loc[ids, "SEEN"]) == [expected[i]["SEEN"] for i in ids]


def test_a_decfloat_column_is_refused_with_the_cast_to_write(job: Path, standins: StandIns) -> None:
    """Both connectors describe DECFLOAT as a NUMBER, and ``to_arrow`` cannot convert it: the
    first chunk fails at once (no retries) with the cast to write, and it is the failure."""
    _typed_chunks(standins)
    standins.front.reset()
    standins.front.settings(decfloat_columns=["AMOUNT"])
    try:
        with pytest.raises(api.UserError, match=r"DECFLOAT column.*cast it in the query"):
            api.load_dataframe(f"SELECT ID, AMOUNT FROM {TYPED_CHUNKS}")
        downloads = standins.front.counters()["downloads"]
    finally:
        standins.front.reset()
    assert "DECFLOAT column" in (job / layout.FAILURE_FILE).read_text()
    # The inline chunk failed at once: the remote ones already in flight (Snowflake's shape)
    # finished, and none was tried again.
    batches = [download["batch"] for download in downloads]
    assert len(batches) == len(set(batches)), batches

"""Real tables through ``train``: text, boolean, date, timestamp and decimal columns, sample
weights, ranking groups and text labels, on 1 and 3 hosts, against in-memory XGBoost.

Every numeric column has fewer distinct values than ``max_bin``, so XGBoost's quantile cuts
are exact and the 1-host, 3-host and in-memory models can be compared prediction by
prediction. The 3-host jobs read results served in many chunks, as Snowflake serves them
(the stand-in's front), each with its own Arrow types, so values, categories and query groups
cross result batches; the 1-host jobs read each result whole. fakesnow loses NULL in timestamp
columns (it sends the epoch), so the tables here have no NULL timestamps.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from support.jobs import HostRun, JobRunner
from support.report_dom import ReportDom
from support.standins import StandIns

from snowflake_xgb.serving.model import load_model, predict
from snowflake_xgb.serving.payloads import MediaType, parse

TYPED = "DEMO.PUBLIC.TYPED"
TYPED_VALIDATION = "DEMO.PUBLIC.TYPED_VALIDATION"
RANKED = "DEMO.PUBLIC.RANKED"
RANKED_VALIDATION = "DEMO.PUBLIC.RANKED_VALIDATION"
TIERS = "DEMO.PUBLIC.TIERS"
FEATURES = ["REGION", "ACTIVE", "OPENED", "SEEN", "AMOUNT"]
PARAMS = {"max_depth": 4, "eta": 0.3, "eval_metric": "rmse", "num_round": 12}

# Regions depend on the row number, so each host (and each batch) sees its own subset; the
# validation table also has 'central', which training never sees (encoded as missing).
_REGION = """CASE WHEN i % 13 = 0 THEN NULL
    WHEN i < {third} THEN CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END
    WHEN i < 2 * {third} THEN CASE WHEN i % 2 = 0 THEN 'east' ELSE 'south' END
    WHEN i % {central} = 1 THEN 'central'
    ELSE CASE WHEN i % 2 = 0 THEN 'west' ELSE 'north' END END"""
_TYPED_SELECT = """SELECT i AS ID, {region} AS REGION,
    CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 = 0 END AS ACTIVE,
    DATEADD(day, (i * 13) % 90, '2020-01-01'::DATE) AS OPENED,
    DATEADD(minute, ((i * 17) % 150) * 37, '2021-06-01 00:00:00'::TIMESTAMP_NTZ) AS SEEN,
    CAST(((i * 7919) % 200) * 0.25 AS NUMBER(10,2)) AS AMOUNT,
    ((i % 5) + 1) * 0.5 AS W,
    (HASH(i + {seed}) % 1000) / 1000.0 AS NOISE
    FROM (SELECT range AS i FROM range({rows})) AS g"""
_TYPED_LABEL = """CASE REGION WHEN 'north' THEN 4 WHEN 'south' THEN 1 WHEN 'east' THEN -2
    WHEN 'west' THEN 7 ELSE 0 END + CASE WHEN ACTIVE THEN 3 ELSE 0 END
    + DATEDIFF(day, '2020-01-01'::DATE, OPENED) / 30.0 + AMOUNT / 10 + NOISE"""


def _create_typed(standins: StandIns, table: str, rows: int, seed: int, central: int) -> None:
    select = _TYPED_SELECT.format(
        region=_REGION.format(third=rows // 3, central=central), seed=seed, rows=rows
    )
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {table} (ID NUMBER, REGION VARCHAR, ACTIVE BOOLEAN, "
        "OPENED DATE, SEEN TIMESTAMP_NTZ, AMOUNT NUMBER(10,2), W FLOAT, Y FLOAT)",
        f"INSERT INTO {table} SELECT ID, REGION, ACTIVE, OPENED, SEEN, AMOUNT, W, "
        f"{_TYPED_LABEL} FROM ({select}) AS t",
    )


def _create_ranked(standins: StandIns, table: str, rows: int, seed: int) -> None:
    # Query groups of 1 to 30 rows, stored in shuffled order: only ORDER BY keeps them together.
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {table} (ID NUMBER, QID NUMBER, F1 FLOAT, F2 FLOAT, REL FLOAT)",
        f"INSERT INTO {table} SELECT ID, QID, F1, F2, "
        "LEAST(3, GREATEST(0, FLOOR(F1 * 3 + F2 / 25 + NOISE - 0.5))) FROM ("
        f"SELECT i AS ID, CAST(FLOOR(SQRT(i * 5)) AS INTEGER) + {seed} * 1000 AS QID, "
        f"(HASH(i * 3 + {seed}) % 100) / 100.0 AS F1, HASH(i * 5 + {seed}) % 50 AS F2, "
        f"(HASH(i * 7 + {seed}) % 100) / 100.0 AS NOISE "
        f"FROM (SELECT range AS i FROM range({rows})) AS g ORDER BY HASH(i + 99)) AS t",
    )


@pytest.fixture(scope="module")
def tables(standins: StandIns) -> StandIns:
    _create_typed(standins, TYPED, rows=3000, seed=1, central=1_000_000)
    _create_typed(standins, TYPED_VALIDATION, rows=600, seed=2, central=5)
    _create_ranked(standins, RANKED, rows=2400, seed=1)
    _create_ranked(standins, RANKED_VALIDATION, rows=800, seed=2)
    standins.execute(
        "USE SCHEMA DEMO.PUBLIC",
        f"CREATE OR REPLACE TABLE {TIERS} (ID NUMBER, X1 FLOAT, X2 FLOAT, TIER VARCHAR)",
        f"INSERT INTO {TIERS} SELECT ID, X1, X2, CASE WHEN X1 + X2 < 0.8 THEN 'bronze' "
        "WHEN X1 + X2 < 1.2 THEN 'silver' ELSE 'gold' END FROM (SELECT i AS ID, "
        "(HASH(i * 3) % 100) / 100.0 AS X1, (HASH(i * 11) % 100) / 100.0 AS X2 "
        "FROM (SELECT range AS i FROM range(1500)) AS g) AS t",
    )
    return standins


# Results served as Snowflake does: an inline first chunk, then many growing chunks, each with
# the Arrow types Snowflake may choose for it (integers and scaled numbers as int8 to int64 or
# decimal128, timestamps as one or two fields).
CHUNKED = {"first_chunk_rows": 150, "chunk_rows": 200, "chunk_growth": 1.02,
           "vary_chunk_types": True}  # fmt: skip


def _rows(standins: StandIns, sql: str) -> list[dict]:
    with standins.connect() as connection:
        cursor = connection.cursor().execute(sql)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _reference_frame(rows: list[dict], regions: list[str]) -> pd.DataFrame:
    """The documented units, computed here independently of the job's code."""
    epoch = dt.datetime(1970, 1, 1)
    return pd.DataFrame(
        {
            "REGION": pd.Categorical([r["REGION"] for r in rows], categories=regions),
            "ACTIVE": pd.Categorical(
                [None if r["ACTIVE"] is None else int(r["ACTIVE"]) for r in rows], categories=[0, 1]
            ),
            "OPENED": [(r["OPENED"] - epoch.date()).days for r in rows],
            "SEEN": [(r["SEEN"] - epoch).total_seconds() for r in rows],
            "AMOUNT": [float(r["AMOUNT"]) for r in rows],
        }
    )


def _model(host: HostRun) -> tuple[xgb.Booster, dict]:
    assert host.returncode == 0, host.output[-3000:]
    return host.model(), host.metadata()


def _json_value(value: object) -> object:
    if isinstance(value, dt.date):  # dates and (UTC, as TIMESTAMP_NTZ) timestamps, ISO text
        return value.isoformat()
    return float(value) if isinstance(value, Decimal) else value


def _predict(host: HostRun, rows: list[dict], output: str = "score") -> np.ndarray:
    """What this image's ``serve`` answers for ``rows`` sent as keyed JSON records (text,
    booleans, ISO dates as they are): the model folder read as serving reads it."""
    served = load_model(host.model_dir, threads=1, outputs=() if output == "score" else (output,))
    records = [{name: _json_value(row[name]) for name in served.feature_names} for row in rows]
    matrix = parse(json.dumps(records).encode(), MediaType.JSON, served).matrix
    return predict(served, matrix, () if output == "score" else (output,))[output]


def _in_memory(train_rows: list[dict], params: dict, weight: str | None = None) -> xgb.Booster:
    regions = sorted({r["REGION"] for r in train_rows if r["REGION"] is not None})
    train = xgb.QuantileDMatrix(
        _reference_frame(train_rows, regions),
        label=[r["Y"] for r in train_rows],
        weight=[r[weight] for r in train_rows] if weight else None,
        enable_categorical=True,
    )
    learning = {k: v for k, v in params.items() if k != "num_round"}
    return xgb.train(learning, train, params["num_round"])


def _typed_params(**extra: object) -> dict:
    return {
        "table": TYPED, "validation_table": TYPED_VALIDATION, "label": "Y",
        "exclude": "ID,W", **PARAMS, **extra,
    }  # fmt: skip


def test_typed_columns_train_alike_on_one_and_three_hosts_and_in_memory(
    jobs: JobRunner, tables: StandIns
) -> None:
    params = _typed_params()
    single = jobs.run(params, hosts=1).coordinator
    with tables.front_settings(
        **CHUNKED
    ):  # the 3 hosts read many result batches, each with its own values
        distributed = jobs.run(params, hosts=3)
    _, metadata = _model(single)
    _, metadata_three = _model(distributed.coordinator)
    assert all(host.returncode == 0 for host in distributed.hosts)

    # One category list for the whole job, from the training rows; stored in metadata.json.
    features = {f["name"]: f for f in metadata["encoding"]["features"]}
    assert list(features) == FEATURES
    assert features["REGION"]["categories"] == ["east", "north", "south", "west"]
    assert features["ACTIVE"]["categories"] == [False, True]
    assert [features[n]["kind"] for n in FEATURES[2:]] == ["date", "timestamp", "number"]
    assert metadata_three["encoding"] == metadata["encoding"]
    assert metadata["feature_types"] == ["c", "c", "q", "q", "q"]
    # The first host's rows have no east/west, the last none of east: still one list.
    assert distributed.hosts[0].shard_report()["rows"] == 1000

    train_rows = _rows(tables, f"SELECT * FROM {TYPED}")
    validation_rows = _rows(tables, f"SELECT * FROM {TYPED_VALIDATION}")
    assert any(r["REGION"] == "central" for r in validation_rows)
    regions = sorted({r["REGION"] for r in train_rows if r["REGION"] is not None})
    reference = _in_memory(train_rows, params).predict(
        xgb.DMatrix(_reference_frame(validation_rows, regions), enable_categorical=True)
    )
    ours_one = _predict(single, validation_rows)
    ours_three = _predict(distributed.coordinator, validation_rows)
    np.testing.assert_allclose(ours_one, reference, atol=1e-5)
    np.testing.assert_allclose(ours_three, ours_one, atol=1e-5)
    labels = np.array([r["Y"] for r in validation_rows])
    assert np.sqrt(np.mean((ours_one - labels) ** 2)) < 1.0  # it learned the encoded columns


def test_weighted_training_equals_in_memory_weighted(jobs: JobRunner, tables: StandIns) -> None:
    params = _typed_params(weight="W")
    host = jobs.run(params).coordinator
    _, metadata = _model(host)
    assert metadata["weight"] == "W"
    assert "W" not in metadata["feature_names"]
    train_rows = _rows(tables, f"SELECT * FROM {TYPED}")
    validation_rows = _rows(tables, f"SELECT * FROM {TYPED_VALIDATION}")
    regions = sorted({r["REGION"] for r in train_rows if r["REGION"] is not None})
    weighted = _in_memory(train_rows, params, weight="W")
    frame = _reference_frame(validation_rows, regions)
    reference = weighted.predict(xgb.DMatrix(frame, enable_categorical=True))
    np.testing.assert_allclose(_predict(host, validation_rows), reference, atol=1e-5)
    unweighted = _in_memory(train_rows, params).predict(xgb.DMatrix(frame, enable_categorical=True))
    assert np.abs(unweighted - reference).max() > 1e-3  # the weights did change the model
    # The validation metric is weighted too.
    labels, weights = np.array([r["Y"] for r in validation_rows]), [r["W"] for r in validation_rows]
    weighted_rmse = np.sqrt(np.average((reference - labels) ** 2, weights=weights))
    assert metadata["final_metrics"]["validation-rmse"] == pytest.approx(weighted_rmse, abs=1e-4)


def test_early_stopping_keeps_the_encoding(jobs: JobRunner, tables: StandIns) -> None:
    """The best rounds are a slice of the booster, which drops XGBoost's own category table:
    the lists are in metadata.json, so the sliced model still serves text values."""
    params = _typed_params(num_round=60, eta=0.8, early_stopping_rounds=2)
    host = jobs.run(params).coordinator
    model, metadata = _model(host)
    assert model.num_boosted_rounds() == metadata["best_iteration"] + 1 < 60
    assert model.feature_types == ["c", "c", "q", "q", "q"]
    rows = _rows(tables, f"SELECT * FROM {TYPED_VALIDATION}")
    north = [{**row, "REGION": "north"} for row in rows[:50]]
    west = [{**row, "REGION": "west"} for row in rows[:50]]
    # The label adds 4 for north and 7 for west: the model must have learned the difference.
    difference = _predict(host, west) - _predict(host, north)
    assert 2 < float(np.mean(difference)) < 4


def _ndcg_at_10(model: xgb.Booster, rows: list[dict]) -> float:
    matrix = xgb.DMatrix(
        np.array([[r["F1"], r["F2"]] for r in rows], dtype=np.float32),
        label=[r["REL"] for r in rows],
        qid=[r["QID"] for r in rows],
        feature_names=["F1", "F2"],
    )
    scored = model.copy()  # a saved model does not keep eval_metric
    scored.set_param({"eval_metric": "ndcg@10"})
    return float(scored.eval(matrix).split(":")[1])


def test_ranking_keeps_groups_whole_and_equals_in_memory_qid_training(
    jobs: JobRunner, tables: StandIns
) -> None:
    params = {
        "table": RANKED, "validation_table": RANKED_VALIDATION, "label": "REL", "group": "QID",
        "exclude": "ID", "objective": "rank:ndcg", "eval_metric": "ndcg@10", "num_round": 10,
        "max_depth": 4, "eta": 0.3,
    }  # fmt: skip
    with tables.front_settings(
        **CHUNKED
    ):  # groups cross result batches; each host's slice is cut at a group
        run = jobs.run(params, hosts=3)
    model, metadata = _model(run.coordinator)
    assert all(host.returncode == 0 for host in run.hosts)
    assert metadata["feature_names"] == ["F1", "F2"] and metadata["group"] == "QID"

    # No query group is split across hosts: each host's groups, from the data it read.
    reports = [host.shard_report() for host in run.hosts]
    distinct = {r["QID"] for r in _rows(tables, f"SELECT QID FROM {RANKED}")}
    assert sum(report["groups"]["count"] for report in reports) == len(distinct)
    for before, after in itertools.pairwise(reports):
        if before["rows"] and after["rows"]:
            assert before["groups"]["last"] < after["groups"]["first"]
    assert all(report["rows"] > 0 for report in reports)

    # In memory, on the same rows in the same order: by group, then by every column read.
    train_rows = _rows(tables, f"SELECT * FROM {RANKED} ORDER BY QID, F1, F2, REL")
    in_memory = xgb.train(
        {k: v for k, v in params.items() if k in ("objective", "eval_metric", "max_depth", "eta")},
        xgb.QuantileDMatrix(
            np.array([[r["F1"], r["F2"]] for r in train_rows], dtype=np.float32),
            label=[r["REL"] for r in train_rows],
            qid=[r["QID"] for r in train_rows],
            feature_names=["F1", "F2"],
        ),
        10,
    )
    validation_rows = _rows(tables, f"SELECT * FROM {RANKED_VALIDATION} ORDER BY QID, F1, F2, REL")
    ours, reference = _ndcg_at_10(model, validation_rows), _ndcg_at_10(in_memory, validation_rows)
    assert ours == pytest.approx(reference, abs=1e-5)
    assert metadata["final_metrics"]["validation-ndcg@10"] == pytest.approx(ours, abs=1e-5)
    assert ours > 0.6


def test_text_labels_round_trip_to_class_names(jobs: JobRunner, tables: StandIns) -> None:
    params = {
        "table": TIERS, "label": "TIER", "exclude": "ID", "objective": "multi:softprob",
        "num_class": 3, "num_round": 20, "max_depth": 3, "validation_fraction": 0.2,
    }  # fmt: skip
    host = jobs.run(params).coordinator
    _, metadata = _model(host)
    assert metadata["encoding"]["label"] == {
        "name": "TIER",
        "classes": ["bronze", "gold", "silver"],
    }
    rows = _rows(tables, f"SELECT * FROM {TIERS}")
    names = _predict(host, rows, "predicted_label")  # serving's class names, from metadata
    accuracy = np.mean([name == row["TIER"] for name, row in zip(names, rows, strict=True)])
    assert accuracy > 0.95
    # The training report names the classes too.
    report = ReportDom((host.output_dir / "data" / "report.html").read_text())
    roc = report.sections["classification"].rows("ROC")
    assert [row["positive class"] for row in roc] == ["bronze", "gold", "silver"]


@pytest.mark.parametrize(
    ("setup", "params", "expected"),
    [
        (
            None,
            _typed_params(max_categories=3),
            "Column REGION has 4 distinct values, more than max_categories=3",
        ),
        (
            "CREATE OR REPLACE TABLE DEMO.PUBLIC.WITH_VARIANT AS "
            "SELECT ID, PARSE_JSON('{\"a\": 1}') AS PAYLOAD, Y FROM DEMO.PUBLIC.TYPED",
            {"table": "DEMO.PUBLIC.WITH_VARIANT", "label": "Y", "num_round": 2},
            "Column PAYLOAD is VARIANT",
        ),
        (
            "CREATE OR REPLACE TABLE DEMO.PUBLIC.NEGATIVE_WEIGHT AS "
            "SELECT AMOUNT, Y, CASE WHEN ID = 7 THEN -1 ELSE W END AS W FROM DEMO.PUBLIC.TYPED",
            {"table": "DEMO.PUBLIC.NEGATIVE_WEIGHT", "label": "Y", "weight": "W", "num_round": 2},
            "1 row(s) with a negative weight (W)",
        ),
        (
            "CREATE OR REPLACE TABLE DEMO.PUBLIC.NULL_GROUP AS "
            "SELECT F1, REL, CASE WHEN ID = 3 THEN NULL ELSE QID END AS QID "
            "FROM DEMO.PUBLIC.RANKED",
            {"table": "DEMO.PUBLIC.NULL_GROUP", "label": "REL", "group": "QID",
             "objective": "rank:ndcg", "num_round": 2},
            "1 row(s) with a NULL group id (QID)",
        ),
        (
            None,
            {"table": TIERS, "label": "TIER", "exclude": "ID", "objective": "multi:softprob",
             "num_class": 2, "num_round": 2},
            "Label TIER has 3 classes (bronze, gold, silver), more than num_class=2",
        ),
    ],
    ids=["max_categories", "variant", "negative_weight", "null_group", "num_class"],
)  # fmt: skip
def test_bad_columns_fail_in_one_paragraph_naming_the_column(
    jobs: JobRunner, tables: StandIns, setup: str | None, params: dict, expected: str
) -> None:
    if setup:
        tables.execute(setup)
    host = jobs.run(params).coordinator
    assert host.returncode != 0
    failure = host.failure or ""
    assert expected in failure, failure
    assert "\n" not in failure.strip() and "Traceback" not in failure
    assert not (host.model_dir / "xgboost-model").exists()


def test_a_decfloat_column_fails_the_job_with_the_cast_to_write(
    jobs: JobRunner, tables: StandIns
) -> None:
    # Snowflake describes a DECFLOAT column as NUMBER.
    with tables.front_settings(decfloat_columns=["AMOUNT"]):
        host = jobs.run({"table": TYPED, "label": "Y", "exclude": "ID,W", **PARAMS}).coordinator
    assert host.returncode != 0
    failure = host.failure or ""
    assert "has a DECFLOAT column" in failure and "cast it in the query" in failure, failure
    assert "\n" not in failure.strip() and "Traceback" not in failure
    assert not (host.model_dir / "xgboost-model").exists()

"""``metadata.json`` as a typed object: the file keeps its keys, reads back equal, and serves."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import xgboost as xgb

from snowflake_xgb.boosting.model_metadata import CrossValidationSummary, ModelMetadata
from snowflake_xgb.model_files.columns import ColumnSelection
from snowflake_xgb.model_files.outputs import METADATA_FILE_NAME, write_model
from snowflake_xgb.query.data_snapshot import DataSnapshot
from snowflake_xgb.serving.model import load_model

QUERY_IDS = {"fold-1": "01b2c3d4-0000-1111-2222-333344445555"}
# The keys serving, scoring and existing model folders know the file by.
FILE_KEYS = {
    "feature_names", "feature_types", "label", "labels", "weight", "group", "encoding",
    "xgboost_params", "num_round", "rounds_trained", "best_iteration", "resumed_from_round",
    "hosts", "rows_per_host", "rows", "query_ids", "data_snapshot", "final_metrics",
    "mlflow_run_id", "cross_validation", "versions",
}  # fmt: skip


def test_the_written_file_keeps_its_keys_reads_back_equal_and_is_served(tmp_path) -> None:
    features = ("MEDINC", "HouseAge")
    rows = np.random.default_rng(1).normal(size=(60, 2))
    booster = xgb.train(
        {"nthread": 1}, xgb.DMatrix(rows, label=rows[:, 0], feature_names=list(features)), 3
    )
    metadata = ModelMetadata(
        columns=ColumnSelection(features, "PRICE"),
        xgboost_params={"objective": "reg:squarederror", "eta": 0.3},
        num_round=3,
        rounds_trained=3,
        best_iteration=2,
        resumed_from_round=None,
        rows_per_host={"algo-1": 40, "algo-2": 20},
        query_ids=QUERY_IDS,
        data_snapshot=DataSnapshot("submitted", QUERY_IDS, "2026-12-07T08:00:00+00:00"),
        final_metrics={"train-rmse": 0.5},
        cross_validation=CrossValidationSummary(folds=1, best_rounds=3, best_scores={"a": 1.0}),
    )
    write_model(tmp_path / "model", tmp_path / "data", booster, metadata.to_json())
    document = json.loads((tmp_path / "model" / METADATA_FILE_NAME).read_text())
    assert set(document) == FILE_KEYS
    assert document["hosts"] == ["algo-1", "algo-2"] and document["rows"] == 60
    assert document["cross_validation"]["results"] == "output/data/cv.json"
    written = ModelMetadata.from_json(document)
    assert written == dataclasses.replace(metadata, versions=document["versions"])
    assert written.to_json() == document
    assert load_model(tmp_path / "model", threads=1).feature_names == features

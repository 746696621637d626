"""Serving a model with text, boolean and date features: request values are encoded by the
model's metadata.json exactly as training encoded the result batches (``model_files.encoding``).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb

from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
from snowflake_xgb.model_files.outputs import save_model
from snowflake_xgb.serving.bad_request import BadRequest
from snowflake_xgb.serving.model import load_model, predict
from snowflake_xgb.serving.payloads import MediaType, parse

ENCODING = Encoding(
    (
        FeatureEncoding("REGION", Kind.CATEGORY, ("east", "north", "west")),
        FeatureEncoding("ACTIVE", Kind.CATEGORY, (False, True)),
        FeatureEncoding("OPENED", Kind.DATE),
        FeatureEncoding("AMOUNT", Kind.NUMBER),
    ),
    LabelEncoding("CHURNED", ("no", "yes")),
)
RECORDS = [
    {"region": "west", "ACTIVE": True, "opened": "2020-01-02", "AMOUNT": 12.5},
    {"region": "north", "ACTIVE": "false", "opened": None, "AMOUNT": None},
    {"region": "south", "ACTIVE": None, "opened": "1969-12-31", "AMOUNT": -3},  # unseen region
]
CSV_BODY = b"west,true,2020-01-02,12.5\nnorth,false,,\nsouth,,1969-12-31,-3\n"
EXPECTED = [[2, 1, 18263, 12.5], [1, 0, np.nan, np.nan], [np.nan, np.nan, -1, -3]]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A classifier trained, as the job trains, on features encoded from typed columns."""
    rng = np.random.default_rng(3)
    rows = 600
    table = pa.table({
        "REGION": pa.array(rng.choice(["east", "north", "west"], rows)),
        "ACTIVE": pa.array(rng.random(rows) < 0.5),
        "OPENED": pa.array(rng.integers(17000, 19000, rows).astype("datetime64[D]"), pa.date32()),
        "AMOUNT": pa.array(rng.normal(10, 5, rows)),
    })  # fmt: skip
    features = np.column_stack(
        [f.encode_arrow(table.column(f.name)) for f in ENCODING.features]
    ).astype(np.float32)
    label = (features[:, 0] == 2) | (features[:, 1] == 1)
    matrix = xgb.DMatrix(
        features, label=label, feature_names=ENCODING.feature_names,
        feature_types=ENCODING.feature_types, enable_categorical=True,
    )  # fmt: skip
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, matrix, 10)
    model_dir = tmp_path_factory.mktemp("typed") / "model"
    metadata = {"feature_names": ENCODING.feature_names, "encoding": ENCODING.to_metadata()}
    save_model(model_dir, booster, metadata)
    return load_model(model_dir, threads=1, outputs=("predicted_label", "probability"))


def test_keyed_json_and_csv_text_values_are_encoded_as_in_training(model):
    for body, media_type in (
        (json.dumps(RECORDS).encode(), MediaType.JSON),
        (CSV_BODY, MediaType.CSV),
    ):
        matrix = parse(body, media_type, model).matrix
        np.testing.assert_array_equal(matrix, np.array(EXPECTED, np.float32), err_msg=media_type)


def test_predictions_use_the_categories_and_label_names(model):
    matrix = parse(json.dumps(RECORDS).encode(), MediaType.JSON, model).matrix
    got = predict(model, matrix, ("predicted_label", "probability"))
    assert got["predicted_label"].tolist()[:2] == ["yes", "no"]  # west: yes; north, inactive: no
    assert model.classes.tolist() == ["no", "yes"]


def test_a_value_of_the_wrong_kind_is_a_one_line_refusal_naming_the_feature(model):
    bad = [{**RECORDS[0], "opened": "last tuesday"}]
    with pytest.raises(BadRequest, match=r"Feature OPENED \(date\): 'last tuesday' is not a date"):
        parse(json.dumps(bad).encode(), MediaType.JSON, model)
    with pytest.raises(BadRequest, match=r"Feature ACTIVE .*'maybe' is not true or false"):
        parse(b"west,maybe,2020-01-02,1\n", MediaType.CSV, model)

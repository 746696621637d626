"""Serving a model with text, boolean and date features: request values are encoded by the
model's metadata.json exactly as training encoded the result batches (``model_files.encoding``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from snowflake_xgb.serving.bad_request import BadRequest
from snowflake_xgb.serving.model import predict
from snowflake_xgb.serving.payloads import MediaType, parse

RECORDS = [
    {"region": "west", "ACTIVE": True, "opened": "2020-01-02", "AMOUNT": 12.5},
    {"region": "north", "ACTIVE": "false", "opened": None, "AMOUNT": None},
    {"region": "south", "ACTIVE": None, "opened": "1969-12-31", "AMOUNT": -3},  # unseen region
]
CSV_BODY = b"west,true,2020-01-02,12.5\nnorth,false,,\nsouth,,1969-12-31,-3\n"
EXPECTED = [[2, 1, 18263, 12.5], [1, 0, np.nan, np.nan], [np.nan, np.nan, -1, -3]]


def test_keyed_json_and_csv_text_values_are_encoded_as_in_training(typed_classifier):
    for body, media_type in (
        (json.dumps(RECORDS).encode(), MediaType.JSON),
        (CSV_BODY, MediaType.CSV),
    ):
        matrix = parse(body, media_type, typed_classifier).matrix
        np.testing.assert_array_equal(matrix, np.array(EXPECTED, np.float32), err_msg=media_type)


def test_predictions_use_the_categories_and_label_names(typed_classifier):
    matrix = parse(json.dumps(RECORDS).encode(), MediaType.JSON, typed_classifier).matrix
    got = predict(typed_classifier, matrix, ("predicted_label", "probability"))
    assert got["predicted_label"].tolist()[:2] == ["yes", "no"]  # west: yes; north, inactive: no
    assert typed_classifier.classes.tolist() == ["no", "yes"]


def test_a_value_of_the_wrong_kind_is_a_one_line_refusal_naming_the_feature(typed_classifier):
    bad = [{**RECORDS[0], "opened": "last tuesday"}]
    with pytest.raises(BadRequest, match=r"Feature OPENED \(date\): 'last tuesday' is not a date"):
        parse(json.dumps(bad).encode(), MediaType.JSON, typed_classifier)
    with pytest.raises(BadRequest, match=r"Feature ACTIVE .*'maybe' is not true or false"):
        parse(b"west,maybe,2020-01-02,1\n", MediaType.CSV, typed_classifier)

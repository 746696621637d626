"""Predictions -> response bodies, and the choice of media type from Accept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snowflake_xgb.serving.bad_request import BadRequest
from snowflake_xgb.serving.payloads import MediaType
from snowflake_xgb.serving.responses import format_predictions, response_media_type

SCORES = np.array([0.1, 101.80254, -3.5e-8], dtype=np.float32)


def test_csv_one_line_per_row_float32_round_trips():
    body = format_predictions({"score": SCORES}, MediaType.CSV, batch=False)
    lines = body.decode().splitlines()
    assert len(lines) == 3
    np.testing.assert_array_equal(np.array(lines, dtype=np.float32), SCORES)
    assert lines[0] == "0.1"


def test_csv_several_outputs_and_classes_comma_separated_labels_quoted():
    predictions = {
        "predicted_label": np.array(["yes", 'a,"b"']),
        "probabilities": np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32),
        "predicted_class": np.array([10, 20]),
    }
    body = format_predictions(predictions, MediaType.CSV, batch=False).decode()
    assert body == 'yes,0.25,0.75,10\n"a,""b""",0.5,0.5,20\n'


def test_json_and_jsonlines_records():
    predictions = {"predicted_label": np.array(["no", "yes"]), "probability": SCORES[:2]}
    document = json.loads(format_predictions(predictions, MediaType.JSON, batch=False))
    assert document == {"predictions": [
        {"predicted_label": "no", "probability": 0.1},
        {"predicted_label": "yes", "probability": 101.80254},
    ]}  # fmt: skip
    lines = format_predictions(predictions, MediaType.JSONLINES, batch=False).decode().splitlines()
    assert [json.loads(line) for line in lines] == document["predictions"]


def test_batch_json_is_one_record_per_line():
    lines = format_predictions({"score": SCORES}, MediaType.JSON, batch=True).decode().splitlines()
    assert len(lines) == 3
    assert np.array([json.loads(line)["score"] for line in lines], np.float32).tolist() == (
        SCORES.tolist()
    )


def test_multiclass_probabilities_in_json():
    probabilities = np.array([[0.2, 0.3, 0.5]], dtype=np.float32)
    document = json.loads(format_predictions({"score": probabilities}, MediaType.JSON, batch=False))
    assert document == {"predictions": [{"score": [0.2, 0.3, 0.5]}]}
    assert (
        format_predictions({"score": probabilities}, MediaType.CSV, batch=False) == b"0.2,0.3,0.5\n"
    )


def prefers_from(accepted: list[str]):
    return lambda offered: next((m for m in accepted if m in offered), None)


@pytest.mark.parametrize(
    ("accept", "request_type", "expected"),
    [
        (None, MediaType.CSV, MediaType.CSV),
        (None, MediaType.JSON, MediaType.JSON),
        ("*/*", MediaType.JSONLINES, MediaType.JSONLINES),
        (None, MediaType.LIBSVM, MediaType.CSV),
        ("application/json", MediaType.CSV, MediaType.JSON),
    ],
)
def test_accept(accept, request_type, expected):
    prefers = prefers_from([expected])
    assert response_media_type(accept, request_type, prefers) == expected


def test_unsupported_accept_is_406():
    with pytest.raises(BadRequest, match="cannot answer in image/png: accept text/csv") as e:
        response_media_type("image/png", MediaType.CSV, prefers_from([]))
    assert e.value.status == 406

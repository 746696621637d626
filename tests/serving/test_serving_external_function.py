"""Snowflake calling the endpoint: an external function's batch, shaped as Snowflake documents
it (``{"data": [[row number, arguments...], ...]}``), answered in the same form and row numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.served_models import TYPED_ENCODING, http_request

from snowflake_xgb.serving.bad_request import BadRequest
from snowflake_xgb.serving.explanations import explain
from snowflake_xgb.serving.model import predict
from snowflake_xgb.serving.payloads import MediaType, parse
from snowflake_xgb.serving.responses import format_predictions


def snowflake_batch(rows: list[list]) -> bytes:
    """The body Snowflake posts: row numbers 0.. of the batch, then the arguments."""
    return json.dumps({"data": [[number, *row] for number, row in enumerate(rows)]}).encode()


def answer(model, body: bytes, outputs=(), kind=None) -> dict:
    parsed = parse(body, MediaType.JSON, model)
    predictions = predict(model, parsed.matrix, outputs)
    explanation = explain(model, parsed.matrix, kind) if kind else None
    return json.loads(format_predictions(predictions, MediaType.JSON, False, explanation,
                                         parsed.row_numbers))  # fmt: skip


def as_rows(matrix: np.ndarray) -> list[list]:
    return [[None if np.isnan(v) else float(v) for v in row] for row in matrix]


def test_one_row_and_many_rows_keep_their_row_numbers(loaded, served):
    model, case = loaded["regression"], served["regression"]
    for count in (1, len(case.rows)):
        document = answer(model, snowflake_batch(as_rows(case.rows[:count])))
        assert [row[0] for row in document["data"]] == list(range(count))
        assert all(len(row) == 2 for row in document["data"])
        got = np.array([row[1] for row in document["data"]], np.float32)
        np.testing.assert_array_equal(got, case.expected()[:count])


def test_row_numbers_are_echoed_as_sent(loaded, served):
    rows = as_rows(served["regression"].rows[:3])
    body = json.dumps({"data": [[2, *rows[0]], [0, *rows[1]], [1, *rows[2]]]}).encode()
    document = answer(loaded["regression"], body)
    assert [row[0] for row in document["data"]] == [2, 0, 1]
    single = answer(loaded["regression"], json.dumps({"data": [[0, *rows[1]]]}).encode())
    assert document["data"][1][1] == single["data"][0][1]


def test_text_boolean_and_date_arguments_as_snowflake_serializes_them(typed_classifier):
    rows = [["west", True, "2020-01-02", 12.5], ["north", False, None, None],
            ["east", None, "2019-06-30", -3]]  # fmt: skip
    document = answer(typed_classifier, snowflake_batch(rows), ("predicted_label", "probability"))
    results = [row[1] for row in document["data"]]
    assert [list(result) for result in results] == [["predicted_label", "probability"]] * 3
    assert results[0]["predicted_label"] == "yes" and results[1]["predicted_label"] == "no"
    records = [dict(zip(TYPED_ENCODING.feature_names, row, strict=True)) for row in rows]
    keyed = parse(json.dumps(records).encode(), MediaType.JSON, typed_classifier).matrix
    np.testing.assert_array_equal(
        parse(snowflake_batch(rows), MediaType.JSON, typed_classifier).matrix, keyed
    )


def test_multiclass_scores_and_explanations_are_objects(loaded, served):
    model, rows = loaded["multiclass"], as_rows(served["multiclass"].rows[:2])
    document = answer(model, snowflake_batch(rows))
    assert len(document["data"][0][1]["score"]) == 3  # one probability per class
    document = answer(loaded["regression"], snowflake_batch(rows), kind="contributions")
    result = document["data"][1][1]
    assert list(result) == ["score", "contributions", "bias"]
    assert sum(result["contributions"].values()) + result["bias"] == pytest.approx(
        result["score"], rel=1e-5
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"data": []}', r'"data" holds no rows'),
        (b'{"data": [[0, 1, 2, 3, 4, 5], 7]}', r'"data"\[1\] is not an array'),
        (b'{"data": [["0", 1, 2, 3, 4, 5]]}', r"starts with '0', not a row number"),
        (b'{"data": [[0.5, 1, 2, 3, 4, 5]]}', r"starts with '0.5', not a row number"),
        (b'{"data": [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]}', r"repeats a row number"),
        (b'{"data": [[0, 1, 2, 3, 4, 5], [1, 1, 2, 3]]}', r"rows have 3 to 5 arguments"),
        (b'{"data": [[0, 1, 2, 3], [1, 1, 2, 3]]}', r"rows have 3 values; the model takes 5"),
        (b'{"data": [[0, 1, "x", 3, 4, 5]]}', r"feature HOUSEAGE: 'x' is not a number"),
    ],
)
def test_malformed_batches_are_one_line_refusals(loaded, body, message):
    with pytest.raises(BadRequest, match=message) as refused:
        parse(body, MediaType.JSON, loaded["regression"])
    assert refused.value.status == 400 and "\n" not in refused.value.message


def test_over_http_with_explanations(start_serve, served):
    case = served["binary"]
    server = start_serve(case.base_dir, SAGEMAKER_INFERENCE_OUTPUT="probability")
    port = int(server.url.rsplit(":", 1)[1])
    body = snowflake_batch(as_rows(case.rows))
    status, content_type, reply = http_request(port, "POST", "/invocations", body, **{
        "Content-Type": "application/json"})  # fmt: skip
    assert (status, content_type) == (200, "application/json")
    data = json.loads(reply)["data"]
    assert [row[0] for row in data] == list(range(len(case.rows)))
    np.testing.assert_array_equal(np.array([row[1] for row in data], np.float32),
                                  case.expected())  # fmt: skip
    status, _, reply = http_request(port, "POST", "/invocations", body, **{
        "Content-Type": "application/json",
        "X-Amzn-SageMaker-Custom-Attributes": "explain=contributions"})  # fmt: skip
    result = json.loads(reply)["data"][0][1]
    margin = case.expected(output_margin=True)[0]
    assert sum(result["contributions"].values()) + result["bias"] == pytest.approx(margin, abs=1e-5)
    status, _, reply = http_request(port, "POST", "/invocations", b'{"data": [[0, 1]]}', **{
        "Content-Type": "application/json"})  # fmt: skip
    assert status == 400 and reply.count(b"\n") == 1, reply

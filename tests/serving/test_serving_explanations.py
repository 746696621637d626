"""Per-row explanations: contributions (SHAP values) and interactions that sum to the margin,
named by feature (and class), in JSON and CSV answers, asked per request or per endpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb
from support.served_models import FEATURES

from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
from snowflake_xgb.model_files.outputs import save_model
from snowflake_xgb.serving.bad_request import BadRequest
from snowflake_xgb.serving.explanations import MAX_EXPLANATION_VALUES, explain, requested
from snowflake_xgb.serving.model import load_model, predict
from snowflake_xgb.serving.payloads import MediaType, parse
from snowflake_xgb.serving.responses import format_predictions

CATEGORICAL = Encoding(
    (
        FeatureEncoding("REGION", Kind.CATEGORY, ("east", "north", "south", "west")),
        FeatureEncoding("AMOUNT", Kind.NUMBER),
    ),
    LabelEncoding("SPEND", None),
)


@pytest.fixture(scope="module")
def categorical(tmp_path_factory):
    """A regression on a text feature that XGBoost splits as a category (``enable_categorical``)."""
    rng = np.random.default_rng(5)
    region = rng.integers(0, 4, 800).astype(np.float32)
    amount = rng.normal(size=800).astype(np.float32)
    label = np.array([3.0, -1.0, 0.5, 7.0])[region.astype(int)] + amount
    matrix = xgb.DMatrix(
        np.column_stack([region, amount]), label=label, feature_names=CATEGORICAL.feature_names,
        feature_types=CATEGORICAL.feature_types, enable_categorical=True,
    )  # fmt: skip
    booster = xgb.train({"max_depth": 3, "max_cat_to_onehot": 1}, matrix, 20)
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    assert any(1 in tree["split_type"] for tree in trees), "no categorical split"
    model_dir = tmp_path_factory.mktemp("categorical") / "model"
    metadata = {"feature_names": CATEGORICAL.feature_names, "encoding": CATEGORICAL.to_metadata()}
    save_model(model_dir, booster, metadata)
    return load_model(model_dir, threads=1)


def _margins(model, matrix: np.ndarray) -> np.ndarray:
    """(rows, classes) margins, as ``raw_score`` is."""
    margin = model.booster.inplace_predict(matrix, predict_type="margin", validate_features=False)
    return margin.reshape(len(matrix), -1)


@pytest.mark.parametrize("name", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("kind", ["contributions", "interactions"])
def test_explanations_sum_to_the_margin(loaded, served, name, kind):
    model, rows = loaded[name], served[name].rows
    explanation = explain(model, rows, kind)
    axes = (2,) if kind == "contributions" else (2, 3)
    total = explanation.values.sum(axis=axes, dtype=np.float64) + explanation.bias
    np.testing.assert_allclose(total, _margins(model, rows), rtol=1e-5, atol=1e-5, err_msg=name)
    assert explanation.feature_names == FEATURES
    classes = 3 if name == "multiclass" else 1
    assert explanation.values.shape[:3] == (len(rows), classes, len(FEATURES))
    if kind == "interactions":  # each feature's row of interactions sums to its contribution
        contributions = explain(model, rows, "contributions").values
        np.testing.assert_allclose(explanation.values.sum(3), contributions, atol=1e-5)


def test_a_categorical_feature_has_one_contribution_under_its_column_name(categorical):
    request = json.dumps([
        {"region": "west", "amount": 0.5}, {"region": "north", "amount": None},
        {"region": "unseen", "amount": -2},
    ]).encode()  # fmt: skip
    matrix = parse(request, MediaType.JSON, categorical).matrix
    explanation = explain(categorical, matrix, "contributions")
    assert explanation.feature_names == ("REGION", "AMOUNT")
    total = explanation.values.sum(2) + explanation.bias
    np.testing.assert_allclose(total, _margins(categorical, matrix), rtol=1e-5, atol=1e-5)
    # West adds most (label 7 against a mean near 2.4); north takes away.
    region = explanation.values[:, 0, 0]
    assert region[0] > 2 and region[1] < 0, region
    body = json.loads(
        format_predictions(predict(categorical, matrix, ()), MediaType.JSON, False, explanation)
    )
    assert list(body["predictions"][0]["contributions"]) == ["REGION", "AMOUNT"]


def test_json_answers_name_each_contribution_and_the_bias(loaded, served):
    model, rows = loaded["regression"], served["regression"].rows[:3]
    explanation = explain(model, rows, "contributions")
    body = format_predictions(predict(model, rows, ()), MediaType.JSON, False, explanation)
    records = json.loads(body)["predictions"]
    assert [list(record) for record in records] == [["score", "contributions", "bias"]] * 3
    for record, row_margin in zip(records, _margins(model, rows)[:, 0], strict=True):
        assert list(record["contributions"]) == list(FEATURES)
        total = np.float64(record["bias"]) + sum(record["contributions"].values())
        assert total == pytest.approx(row_margin, rel=1e-5)
        assert np.float32(record["score"]) == np.float32(row_margin)  # squared error: identity


def test_multiclass_json_gives_one_set_per_class_by_label(loaded, served):
    model, rows = loaded["multiclass"], served["multiclass"].rows[:2]
    explanation = explain(model, rows, "contributions")
    outputs = ("predicted_label", "raw_score")
    record = json.loads(format_predictions(predict(model, rows, outputs), MediaType.JSON, False,
                                           explanation))["predictions"][0]  # fmt: skip
    assert list(record["contributions"]) == ["bronze", "gold", "silver"]
    assert list(record["bias"]) == ["bronze", "gold", "silver"]
    for position, label in enumerate(["bronze", "gold", "silver"]):
        total = record["bias"][label] + sum(record["contributions"][label].values())
        assert total == pytest.approx(record["raw_score"][position], rel=1e-5, abs=1e-5)


def test_interactions_json_is_keyed_by_feature_pairs(loaded, served):
    model, rows = loaded["binary"], served["binary"].rows[:2]
    explanation = explain(model, rows, "interactions")
    predictions = predict(model, rows, ("raw_score",))
    record = json.loads(format_predictions(predictions, MediaType.JSON, False, explanation))
    record = record["predictions"][1]
    assert list(record["interactions"]) == list(FEATURES)
    assert all(list(row) == list(FEATURES) for row in record["interactions"].values())
    total = record["bias"] + sum(sum(row.values()) for row in record["interactions"].values())
    assert total == pytest.approx(record["raw_score"], rel=1e-5, abs=1e-5)
    assert record["interactions"]["MEDINC"]["HOUSEAGE"] == pytest.approx(
        record["interactions"]["HOUSEAGE"]["MEDINC"], abs=1e-6
    )


def test_csv_puts_contributions_after_the_prediction_in_training_order(loaded, served):
    model, rows = loaded["multiclass"], served["multiclass"].rows[:4]
    explanation = explain(model, rows, "contributions")
    lines = format_predictions(predict(model, rows, ("predicted_label",)), MediaType.CSV, False,
                               explanation).decode().splitlines()  # fmt: skip
    assert len(lines) == 4
    for line, values, bias in zip(lines, explanation.values, explanation.bias, strict=True):
        fields = line.split(",")
        assert fields[0] in ("bronze", "gold", "silver")
        expected = np.concatenate([values, bias[:, None]], axis=1).ravel()  # per class, bias last
        np.testing.assert_array_equal(np.array(fields[1:], np.float32), expected)


def test_requested_from_the_header_or_the_endpoint():
    assert requested(None, None) is None
    assert requested("explain=contributions", None) == "contributions"
    assert requested("trace=abc; Explain=Interactions", None) == "interactions"
    assert requested("trace=abc", "contributions") == "contributions"
    assert requested("explain=none", "contributions") is None
    with pytest.raises(BadRequest, match=r"explain='shap' is not one of contributions, inter"):
        requested("explain=shap", None)


def test_interactions_are_bounded_by_rows_per_request(loaded):
    model = loaded["multiclass"]
    per_row = 3 * (len(FEATURES) + 1) ** 2
    most = MAX_EXPLANATION_VALUES // per_row
    explain(model, np.zeros((most, len(FEATURES)), np.float32), "interactions")  # fits
    with pytest.raises(BadRequest, match=f"send at most {most:,} rows per request") as refused:
        explain(model, np.zeros((most + 1, len(FEATURES)), np.float32), "interactions")
    assert refused.value.status == 413

"""A multi-output model served: a vector per row (CSV: one line of values per row; JSON: keyed
by label name), contributions per label that sum to each label's margin, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb
from support.served_models import FEATURES, request_bodies

from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
from snowflake_xgb.model_files.outputs import save_model
from snowflake_xgb.serving.explanations import CUSTOM_ATTRIBUTES_HEADER
from snowflake_xgb.serving.model import ModelNotServable, load_model

from .test_serving_http import request

LABELS = ("SPEND", "VISITS", "RETURNS")


@pytest.fixture(scope="module")
def multi_output(tmp_path_factory) -> tuple:
    """A three-label regression with vector-leaf trees, saved as a training job saves it."""
    rng = np.random.default_rng(11)
    rows = rng.normal(size=(600, len(FEATURES))).astype(np.float32)
    labels = np.column_stack([rows[:, 0] * 3, rows[:, 1] - rows[:, 2], rows[:, 3] ** 2])
    matrix = xgb.DMatrix(rows, label=labels, feature_names=list(FEATURES))
    booster = xgb.train(
        {"tree_method": "hist", "multi_strategy": "multi_output_tree", "max_depth": 3},
        matrix,
        num_boost_round=8,
    )
    encoding = Encoding(
        tuple(FeatureEncoding(name, Kind.NUMBER) for name in FEATURES), LabelEncoding(LABELS[0])
    )
    metadata = {
        "feature_names": list(FEATURES),
        "label": LABELS[0],
        "labels": list(LABELS),
        "encoding": encoding.to_metadata(),
    }
    base_dir = tmp_path_factory.mktemp("multi-output")
    save_model(base_dir / "model", booster, metadata)
    probe = rng.normal(size=(12, len(FEATURES))).astype(np.float32)
    probe[0, 1] = np.nan
    return base_dir, booster, probe


def test_csv_json_and_contributions_per_label(start_serve, multi_output) -> None:
    base_dir, booster, probe = multi_output
    expected = booster.predict(xgb.DMatrix(probe, feature_names=list(FEATURES)))
    margins = booster.predict(xgb.DMatrix(probe, feature_names=list(FEATURES)), output_margin=True)
    server = start_serve(base_dir)
    content_type, body = request_bodies(probe)["csv"]
    status, answered_in, answer = request(
        server.url, "POST", "/invocations", body, **{"Content-Type": content_type}
    )
    assert (status, answered_in) == (200, "text/csv")
    lines = answer.decode().splitlines()
    assert len(lines) == len(probe)
    np.testing.assert_array_equal(
        np.array([line.split(",") for line in lines], np.float32), expected
    )

    content_type, body = request_bodies(probe)["json-records"]
    headers = {"Content-Type": content_type, CUSTOM_ATTRIBUTES_HEADER: "explain=contributions"}
    status, _, answer = request(server.url, "POST", "/invocations", body, **headers)
    assert status == 200, answer
    predictions = json.loads(answer)["predictions"]
    assert [list(p["score"]) for p in predictions] == [list(LABELS)] * len(probe)
    scores = np.array([[p["score"][label] for label in LABELS] for p in predictions], np.float32)
    np.testing.assert_array_equal(scores, expected)
    for row, prediction in enumerate(predictions):
        contributions, bias = prediction["contributions"], prediction["bias"]
        assert list(contributions) == list(LABELS) and list(bias) == list(LABELS)
        for target, label in enumerate(LABELS):
            assert list(contributions[label]) == list(FEATURES)
            total = sum(contributions[label].values()) + bias[label]
            assert total == pytest.approx(float(margins[row, target]), abs=1e-4)


def test_classifier_outputs_and_mismatched_metadata_are_refused(multi_output, tmp_path) -> None:
    base_dir, booster, _ = multi_output
    with pytest.raises(ModelNotServable, match="one score per label \\(SPEND, VISITS, RETURNS\\)"):
        load_model(base_dir / "model", threads=1, outputs=("probability",))
    metadata = json.loads((base_dir / "model" / "metadata.json").read_text())
    save_model(tmp_path / "model", booster, {**metadata, "labels": ["SPEND", "VISITS"]})
    with pytest.raises(ModelNotServable, match="names 2 label columns for a model of 3 outputs"):
        load_model(tmp_path / "model", threads=1)

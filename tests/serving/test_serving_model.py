"""Loading the model folder, and predictions (AWS-style classification outputs) from it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from support.served_models import FEATURES

from snowflake_xgb.serving.model import ModelNotServable, load_model, predict


def test_default_prediction_equals_booster_predict(served, loaded):
    for name, case in served.items():
        got = predict(loaded[name], case.rows, ())["score"]
        np.testing.assert_array_equal(got, case.expected(), err_msg=name)


def test_binary_outputs_with_training_labels(served, loaded):
    case, model = served["binary"], loaded["binary"]
    outputs = ("predicted_label", "probability", "probabilities", "raw_score")
    got = predict(model, case.rows, outputs)
    positive = case.expected()
    np.testing.assert_array_equal(got["probability"], positive)
    np.testing.assert_allclose(got["probabilities"], np.stack([1 - positive, positive], 1))
    assert got["predicted_label"].tolist() == ["yes" if p > 0.5 else "no" for p in positive]
    np.testing.assert_array_equal(got["raw_score"], case.expected(output_margin=True))


def test_multiclass_outputs(served, loaded):
    case, model = served["multiclass"], loaded["multiclass"]
    got = predict(model, case.rows, ("predicted_label", "probability", "probabilities"))
    expected = case.expected()
    np.testing.assert_array_equal(got["probabilities"], expected)
    np.testing.assert_array_equal(got["probability"], expected.max(1))
    names = ("bronze", "gold", "silver")
    assert got["predicted_label"].tolist() == [names[i] for i in expected.argmax(1)]


def test_missing_model_says_where_it_looked(tmp_path):
    with pytest.raises(ModelNotServable, match=r"no model at .*/xgboost-model.*model.tar.gz"):
        load_model(tmp_path, threads=1)


def test_unreadable_model_and_metadata(tmp_path, served):
    (tmp_path / "xgboost-model").write_bytes(b"not a model")
    with pytest.raises(ModelNotServable, match="is not an XGBoost model this server can read"):
        load_model(tmp_path, threads=1)
    shutil.copy(served["regression"].model_dir / "xgboost-model", tmp_path)
    (tmp_path / "metadata.json").write_text("{broken")
    with pytest.raises(ModelNotServable, match=r"metadata\.json is not readable JSON"):
        load_model(tmp_path, threads=1)
    (tmp_path / "metadata.json").write_text(json.dumps({"feature_names": ["A", "B"]}))
    with pytest.raises(ModelNotServable, match="names 2 features but the model has 5"):
        load_model(tmp_path, threads=1)


def test_model_without_metadata_uses_its_feature_names(tmp_path, served):
    shutil.copy(served["regression"].model_dir / "xgboost-model", tmp_path)
    assert load_model(tmp_path, threads=1).feature_names == FEATURES


def test_classification_outputs_need_a_classifier(served):
    with pytest.raises(ModelNotServable, match=r"needs a classification model.*reg:squarederror"):
        load_model(served["regression"].model_dir, threads=1, outputs=("probability",))

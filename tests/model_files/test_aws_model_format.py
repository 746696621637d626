"""model_format=aws-xgboost: a model AWS's SageMaker XGBoost images (1.7-1, 3.0-5, 3.2-0)
predict right, and what each does with the default (native) model folder.

The compatibility cases load the model folder with XGBoost 1.7.4, 3.0.5 and 3.2.0 (the versions
in those images), in their own virtual environments (``local_test/make_aws_xgboost_envs.sh``,
which ``.ci/run`` calls), the way that image's serving code does: every non-dot file in the
folder is loaded with ``Booster.load_model`` and predicted with ``validate_features=False``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from support.served_models import FEATURES, make_models

from snowflake_xgb.config.job_config import parse_hyperparameters
from snowflake_xgb.errors import UserError
from snowflake_xgb.model_files.aws_model_format import (
    AWS_IMAGES,
    OBJECTIVE_SINCE,
    ModelFormat,
    aws_xgboost_model,
    check_single_output,
    images_without,
)
from snowflake_xgb.model_files.outputs import write_model

REPO = Path(__file__).resolve().parents[2]
AWS_XGBOOST_VERSIONS = tuple(".".join(map(str, version)) for version in AWS_IMAGES.values())
# From XGBoost 3.1 the intercept is saved as a vector ("[4.92E-1]"), which only 3.1+ reads.
READS_VECTOR_INTERCEPT = {"1.7.4": False, "3.0.5": False, "3.2.0": True}

# What AWS's image does with a model folder (sagemaker_xgboost_container serve_utils:
# get_loaded_booster and predict), reduced to the steps that decide the predictions.
AWS_IMAGE_PREDICT = """
import json, os, pickle, sys
import numpy as np, xgboost as xgb
model_dir, rows_file = sys.argv[1:3]
models = []
for name in sorted(os.listdir(model_dir)):
    path = os.path.join(model_dir, name)
    if name.startswith(".") or not os.path.isfile(path):
        continue
    try:
        booster = pickle.load(open(path, "rb"))
    except Exception:
        booster = xgb.Booster()
        try:
            booster.load_model(path)
        except Exception as error:
            print(json.dumps({"error": f"{name}: {str(error).splitlines()[0][:200]}"}))
            sys.exit(0)
    booster.set_param("nthread", 1)
    models.append(booster)
rows = np.load(rows_file)
predictions = [b.predict(xgb.DMatrix(rows), validate_features=False) for b in models]
print(json.dumps({"version": xgb.__version__, "predictions": np.mean(predictions, 0).tolist()}))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("aws-format"))


def aws_image_predict(version: str, model_dir: Path, rows: np.ndarray, tmp_path: Path) -> dict:
    python = REPO / ".work" / "aws-xgboost" / version / "bin" / "python"
    if not python.exists():
        message = f"no XGBoost {version} environment: run local_test/make_aws_xgboost_envs.sh"
        if os.environ.get("SNOWFLAKE_XGB_REQUIRE_AWS_XGBOOST") == "1":
            pytest.fail(message)
        pytest.skip(message)
    rows_file = tmp_path / "rows.npy"
    np.save(rows_file, rows)
    result = subprocess.run(
        [str(python), "-c", AWS_IMAGE_PREDICT, str(model_dir), str(rows_file)],
        capture_output=True, text=True, timeout=120, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_intercept_is_a_scalar_and_predictions_unchanged(served):
    booster = served["regression"].booster
    content = aws_xgboost_model(booster)
    intercept = json.loads(content)["learner"]["learner_model_param"]["base_score"]
    assert not intercept.startswith("[")
    assert abs(float(intercept) - 100) < 5  # the labels are near 100
    reread = xgb.Booster()
    reread.load_model(bytearray(content))
    rows = xgb.DMatrix(served["regression"].rows, feature_names=list(FEATURES))
    np.testing.assert_array_equal(reread.predict(rows), booster.predict(rows))


def test_multi_output_models_are_refused(served):
    with pytest.raises(UserError, match="model_format=aws-xgboost writes single-output models"):
        aws_xgboost_model(served["multiclass"].booster)
    with pytest.raises(UserError, match=r"a multi-class model \(multi:softprob\)"):
        check_single_output({"objective": "multi:softprob", "num_class": "3"})
    check_single_output({"objective": "binary:logistic"})


def test_model_folder_holds_only_the_model(served, tmp_path):
    model_dir, data_dir = tmp_path / "model", tmp_path / "output" / "data"
    write_model(
        model_dir, data_dir, served["binary"].booster, {"label": "Y"}, ModelFormat.AWS_XGBOOST
    )
    assert [p.name for p in model_dir.iterdir()] == ["xgboost-model"]
    metadata = json.loads((data_dir / "metadata.json").read_text())
    assert metadata["model_format"] == "aws-xgboost" and metadata["label"] == "Y"
    with pytest.raises(UserError):
        write_model(
            tmp_path / "multi", data_dir, served["multiclass"].booster, {}, ModelFormat.AWS_XGBOOST
        )
    assert not (tmp_path / "multi").exists()


@pytest.mark.parametrize("version", AWS_XGBOOST_VERSIONS)
@pytest.mark.parametrize("model", ["regression", "binary"])
def test_aws_image_xgboost_predicts_like_ours(served, tmp_path, version, model):
    case = served[model]
    base = tmp_path / "opt-ml"
    write_model(base / "model", base / "output" / "data", case.booster, {}, ModelFormat.AWS_XGBOOST)
    result = aws_image_predict(version, base / "model", case.rows, tmp_path)
    assert result["version"] == version
    np.testing.assert_allclose(result["predictions"], case.expected(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("version", AWS_XGBOOST_VERSIONS)
def test_default_model_folder_is_what_the_readme_warns_about(served, tmp_path, version):
    """The default layout under AWS's images: metadata.json fails to load as a model in every
    one (their default SAGEMAKER_INFERENCE_ENSEMBLE=true loads each file). The model file alone
    predicts with the wrong intercept in 1.7-1 and 3.0-5 (labels near 100, predictions near 0)
    and right in 3.2-0, whose XGBoost reads the vector intercept."""
    case = served["regression"]
    result = aws_image_predict(version, case.model_dir, case.rows, tmp_path)
    assert result["error"].startswith("metadata.json")
    only_model = tmp_path / "only-model"
    only_model.mkdir()
    (only_model / "xgboost-model").write_bytes((case.model_dir / "xgboost-model").read_bytes())
    result = aws_image_predict(version, only_model, case.rows, tmp_path)
    assert result["version"] == version
    if READS_VECTOR_INTERCEPT[version]:
        np.testing.assert_allclose(result["predictions"], case.expected(), rtol=1e-6, atol=1e-6)
    else:
        wrong = np.array(result["predictions"]) - case.expected()
        assert np.all(np.abs(wrong) > 50), wrong[:5]


def test_the_hyperparameter_is_checked_before_anything_runs():
    base = {"table": "T", "label": "Y", "num_round": "5"}
    assert parse_hyperparameters(base).model_format == "native"
    assert parse_hyperparameters({**base, "model_format": "AWS-XGBoost"}).model_format == (
        "aws-xgboost"
    )
    with pytest.raises(UserError, match="model_format must be one of native, aws-xgboost"):
        parse_hyperparameters({**base, "model_format": "onnx"})
    with pytest.raises(UserError, match="single-output models only"):
        parse_hyperparameters(
            {**base, "model_format": "aws-xgboost", "objective": "multi:softprob",
             "num_class": "3"}
        )  # fmt: skip


def test_a_job_with_model_format_aws_xgboost(jobs, housing_params, tmp_path):
    """The real ``train`` command: the model folder holds the model alone; AWS's image's
    XGBoost (3.0.5) predicts what XGBoost 3.2 does with it."""
    run = jobs.run({**housing_params, "model_format": "aws-xgboost"})
    host = run.coordinator
    assert host.returncode == 0, host.output
    assert [p.name for p in host.model_dir.iterdir()] == ["xgboost-model"]
    metadata = json.loads((host.output_dir / "data" / "metadata.json").read_text())
    assert metadata["model_format"] == "aws-xgboost"
    ours = xgb.Booster()
    ours.load_model(bytearray((host.model_dir / "xgboost-model").read_bytes()))
    rows = np.random.default_rng(0).normal(3, 1, size=(50, len(metadata["feature_names"])))
    expected = ours.predict(xgb.DMatrix(rows, feature_names=metadata["feature_names"]))
    result = aws_image_predict("3.0.5", host.model_dir, rows, tmp_path)
    np.testing.assert_allclose(result["predictions"], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("version", AWS_XGBOOST_VERSIONS)
def test_aws_image_xgboost_predicts_categorical_codes_like_ours(tmp_path, version):
    """Text columns train as categories on codes (issue 12) and the category lists stay in
    metadata.json, so the model carries no category table: AWS's images load it and, given the
    codes, predict as we do."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 12, 2000).astype(np.float32)
    codes[::17] = np.nan
    other = rng.normal(size=2000).astype(np.float32)
    effect = rng.normal(0, 5, 12)
    label = np.where(np.isnan(codes), 1.0, effect[np.nan_to_num(codes).astype(int)]) + other
    rows = np.column_stack([codes, other])
    matrix = xgb.DMatrix(rows, label, feature_types=["c", "q"], enable_categorical=True)
    booster = xgb.train({"max_depth": 4, "max_cat_to_onehot": 1}, matrix, 10)
    base = tmp_path / "opt-ml"
    write_model(base / "model", base / "output" / "data", booster, {}, ModelFormat.AWS_XGBOOST)
    result = aws_image_predict(version, base / "model", rows[:50], tmp_path)
    np.testing.assert_allclose(result["predictions"], booster.inplace_predict(rows[:50]), atol=1e-6)


def test_multi_target_models_are_refused_before_anything_is_written(tmp_path):
    rows = np.random.default_rng(3).normal(size=(200, 3)).astype(np.float32)
    matrix = xgb.DMatrix(rows, label=np.column_stack([rows[:, 0], rows[:, 1] * 2]))
    booster = xgb.train({"multi_strategy": "multi_output_tree"}, matrix, 3)
    with pytest.raises(UserError, match="this job trains a model with several outputs"):
        write_model(tmp_path / "model", tmp_path / "data", booster, {}, ModelFormat.AWS_XGBOOST)
    assert not (tmp_path / "model").exists() and not (tmp_path / "data").exists()
    with pytest.raises(UserError, match=r"a multi-output model \(2 label columns\)"):
        check_single_output({"objective": "reg:squarederror"}, label_columns=2)


@pytest.mark.parametrize("objective", sorted(OBJECTIVE_SINCE))
@pytest.mark.parametrize("image", sorted(AWS_IMAGES))
def test_an_objective_loads_in_the_images_the_table_says(tmp_path, image, objective):
    """OBJECTIVE_SINCE against the images' own XGBoost: a model of an objective newer than the
    image's XGBoost fails to load there (and the job was refused or warned), any other loads."""
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(300, 3)).astype(np.float32)
    alpha = {"reg:quantileerror": "quantile_alpha", "reg:expectileerror": "expectile_alpha"}
    params = {"objective": objective, "max_depth": 2, alpha[objective]: 0.5}
    booster = xgb.train(params, xgb.DMatrix(rows, rows[:, 0]), 3)
    base = tmp_path / "opt-ml"
    write_model(base / "model", base / "output" / "data", booster, {}, ModelFormat.AWS_XGBOOST)
    version = ".".join(map(str, AWS_IMAGES[image]))
    result = aws_image_predict(version, base / "model", rows[:20], tmp_path)
    if image in images_without(objective):
        assert "error" in result and "objective" in result["error"].lower(), result
    else:
        np.testing.assert_allclose(result["predictions"], booster.predict(xgb.DMatrix(rows[:20])),
                                   rtol=1e-6, atol=1e-6)  # fmt: skip


def test_an_objective_no_image_loads_is_refused_and_one_some_cannot_load_is_named(caplog):
    base = {"table": "T", "label": "Y", "num_round": "5", "model_format": "aws-xgboost"}
    with pytest.raises(
        UserError,
        match=r"objective=reg:expectileerror \(XGBoost 3\.3\.0\+\) "
        r"loads in none of AWS's SageMaker XGBoost images \(1\.7-1, 3\.0-5, 3\.2-0\)",
    ):
        parse_hyperparameters({**base, "objective": "reg:expectileerror"})
    with caplog.at_level("WARNING"):
        parse_hyperparameters({**base, "objective": "reg:quantileerror", "quantile_alpha": "0.7"})
    assert "does not load in AWS's 1.7-1 image; serve it with 3.0-5 or 3.2-0" in caplog.text

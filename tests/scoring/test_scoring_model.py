"""The model a scoring job applies: where it is found, which rows it can score, what it writes.

Pure logic on small models trained here (seconds); the end-to-end job is in
``test_scoring_job.py``.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb

from snowflake_xgb.errors import UserError
from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
from snowflake_xgb.model_files.outputs import save_model
from snowflake_xgb.scoring.scoring_model import (
    OutputColumn,
    check_source_columns,
    load_scoring_model,
    model_folder,
)

FEATURES = ("AGE", "CITY")


def _save(folder: Path, objective: str, classes: tuple[str, ...] | None = None, **params) -> Path:
    rng = np.random.default_rng(3)
    data = np.column_stack([rng.normal(size=300), rng.integers(0, 3, 300)]).astype(np.float32)
    label = rng.integers(0, params.get("num_class", 2), 300).astype(np.float32)
    booster = xgb.train(
        {"objective": objective, "max_depth": 2, "nthread": 1, **params},
        xgb.DMatrix(data, label=label, feature_names=list(FEATURES)),
        num_boost_round=3,
    )
    encoding = Encoding(
        (
            FeatureEncoding("AGE", Kind.NUMBER),
            FeatureEncoding("CITY", Kind.CATEGORY, ("a", "b", "c")),
        ),
        LabelEncoding("Y", classes),
    )
    save_model(
        folder, booster, {"feature_names": list(FEATURES), "encoding": encoding.to_metadata()}
    )
    return folder


def test_a_training_jobs_archive_in_the_channel_is_unpacked(tmp_path: Path) -> None:
    model_dir = _save(tmp_path / "model", "reg:squarederror")
    channel = tmp_path / "channel"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)

    folder = model_folder(channel, tmp_path / "work")

    assert load_scoring_model(folder, contributions=False).feature_names == list(FEATURES)


def test_an_empty_channel_is_refused_saying_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "channel").mkdir()
    with pytest.raises(UserError, match="No model in the model channel"):
        model_folder(tmp_path / "channel", tmp_path)


def test_a_classifier_writes_its_label_as_the_training_classes(tmp_path: Path) -> None:
    binary = load_scoring_model(_save(tmp_path / "b", "binary:logistic", ("no", "yes")), True)
    assert binary.output_columns()[:2] == [
        OutputColumn("PREDICTION", "FLOAT"),
        OutputColumn("LABEL", "VARCHAR"),
    ]
    assert binary.output_columns()[-1] == OutputColumn("CONTRIBUTION_BIAS", "FLOAT")
    table = pa.table({"AGE": [1.0, -2.0], "CITY": ["a", "zzz"]})
    outputs = binary.predict(binary.features(table))
    assert set(outputs["LABEL"].to_pylist()) <= {"no", "yes"}

    multi = load_scoring_model(_save(tmp_path / "m", "multi:softprob", num_class=3), False)
    names = [c.name for c in multi.output_columns()]
    assert names == ["PROBABILITY_0", "PROBABILITY_1", "PROBABILITY_2", "LABEL"]
    assert multi.output_columns()[-1].snowflake_type == "NUMBER(38,0)"


def test_contributions_of_a_multiclass_model_are_refused(tmp_path: Path) -> None:
    folder = _save(tmp_path / "m", "multi:softprob", num_class=3)
    with pytest.raises(UserError, match="contributions=true is for single-output models"):
        load_scoring_model(folder, contributions=True)


def test_a_multi_output_model_is_refused_naming_its_label_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    data = rng.normal(size=(200, 2)).astype(np.float32)
    booster = xgb.train(
        {"tree_method": "hist", "multi_strategy": "multi_output_tree", "nthread": 1},
        xgb.DMatrix(data, label=rng.normal(size=(200, 2)), feature_names=list(FEATURES)),
        num_boost_round=2,
    )
    encoding = Encoding(
        (FeatureEncoding("AGE", Kind.NUMBER), FeatureEncoding("CITY", Kind.NUMBER)),
        LabelEncoding("Y", None),
    )
    folder = tmp_path / "multi_output"
    save_model(
        folder, booster, {"feature_names": list(FEATURES), "encoding": encoding.to_metadata()}
    )
    with pytest.raises(UserError, match="predicts 2 labels"):
        load_scoring_model(folder, contributions=False)


@pytest.mark.parametrize(
    ("columns", "keys", "message"),
    [
        ([("ID", "FIXED"), ("AGE", "FIXED")], ["ID"], "lack the model's feature"),
        ([("ID", "FIXED"), ("AGE", "TEXT"), ("CITY", "TEXT")], ["ID"], "AGE is TEXT"),
        ([("ID", "FIXED"), ("AGE", "REAL"), ("CITY", "DATE")], ["ID"], "CITY is DATE"),
        ([("AGE", "REAL"), ("CITY", "TEXT")], ["ID"], "no key column ID"),
        ([("PREDICTION", "FIXED"), ("AGE", "REAL"), ("CITY", "TEXT")], ["prediction"], "share"),
    ],
)
def test_rows_the_model_cannot_score_are_refused_before_reading(
    tmp_path: Path, columns: list, keys: list, message: str
) -> None:
    model = load_scoring_model(_save(tmp_path / "r", "reg:squarederror"), False)
    with pytest.raises(UserError, match=message):
        check_source_columns(model, columns, keys)
    check_source_columns(model, [("ID", "FIXED"), ("AGE", "REAL"), ("CITY", "TEXT")], ["id"])

"""The model a scoring job applies: found in the ``model`` channel, checked against the rows to
score before any is read, and its outputs for a block of rows (``ScoringModel``).

The channel holds what a training job wrote: its ``model.tar.gz`` (unpacked here) or the model
folder itself (``xgboost-model`` and ``metadata.json``). Features are encoded by the model's
``metadata.json`` through ``model_files.encoding``, the rules training and ``serve`` use. The
outputs are typed columns (``OutputColumn``): ``PREDICTION`` (``Booster.predict``, when it has
one value per row), for multi-class probabilities ``PROBABILITY_<class index>``, for classifiers
``LABEL`` (the training classes), and on request ``CONTRIBUTION_<feature>`` and
``CONTRIBUTION_BIAS`` (SHAP values; they add up to the margin).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import xgboost as xgb

from ..errors import UserError
from ..identifiers import stored_name
from ..model_files.encoding import Encoding, Kind
from ..model_files.margins import class_probabilities
from ..model_files.outputs import METADATA_FILE_NAME, MODEL_FILE_NAME

MODEL_CHANNEL = "model"
MODEL_ARCHIVE = "model.tar.gz"
PREDICTION, LABEL, BIAS = "PREDICTION", "LABEL", "CONTRIBUTION_BIAS"
PROBABILITY_PREFIX, CONTRIBUTION_PREFIX = "PROBABILITY_", "CONTRIBUTION_"
_CLASSIFIERS = ("binary:", "multi:")
# Which Snowflake column types can feed a feature of each kind. categorical= reads numbers as
# categories; a number feature needs a number column (cast a column trained with numeric=).
_TYPES_OF_KIND = {
    Kind.NUMBER: {"FIXED", "REAL", "DECFLOAT"},
    Kind.BOOLEAN: {"BOOLEAN"},
    Kind.CATEGORY: {"TEXT", "BOOLEAN", "FIXED", "REAL"},
    Kind.DATE: {"DATE"},
    Kind.TIMESTAMP: {"TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ"},
    Kind.TIME: {"TIME"},
}


@dataclass(frozen=True)
class OutputColumn:
    """One column the job writes besides the keys: its name and Snowflake type."""

    name: str
    snowflake_type: str


@dataclass(frozen=True)
class ScoringModel:
    booster: xgb.Booster
    encoding: Encoding
    objective: str
    num_class: int
    contributions: bool

    @property
    def feature_names(self) -> list[str]:
        return self.encoding.feature_names

    @property
    def is_classifier(self) -> bool:
        return self.objective.startswith(_CLASSIFIERS)

    @property
    def is_multiclass_probabilities(self) -> bool:
        return self.objective == "multi:softprob"

    @property
    def classes(self) -> tuple:
        """Class labels by class index: the training's text classes, else 0..n-1."""
        return self.encoding.label.classes or tuple(range(max(2, self.num_class)))

    def output_columns(self) -> list[OutputColumn]:
        columns = []
        if self.is_multiclass_probabilities:
            columns += [
                OutputColumn(f"{PROBABILITY_PREFIX}{i}", "FLOAT") for i in range(self.num_class)
            ]
        else:
            columns.append(OutputColumn(PREDICTION, "FLOAT"))
        if self.is_classifier:
            columns.append(
                OutputColumn(LABEL, "VARCHAR" if self.encoding.label.is_text else "NUMBER(38,0)")
            )
        if self.contributions:
            columns += [
                OutputColumn(f"{CONTRIBUTION_PREFIX}{stored_name(name)}", "FLOAT")
                for name in self.feature_names
            ]
            columns.append(OutputColumn(BIAS, "FLOAT"))
        return columns

    def features(self, table: pa.Table) -> np.ndarray:
        """The rows' float32 feature matrix, encoded as in training."""
        matrix = np.empty((table.num_rows, len(self.feature_names)), dtype=np.float32)
        for index, feature in enumerate(self.encoding.features):
            matrix[:, index] = feature.encode_arrow(table.column(feature.name))
        return matrix

    def predict(self, matrix: np.ndarray) -> dict[str, pa.Array]:
        """Each output column's values for the rows of ``matrix``, in ``output_columns`` order."""
        prediction = self.booster.inplace_predict(matrix, validate_features=False)
        outputs: dict[str, pa.Array] = {}
        if self.is_multiclass_probabilities:
            for index in range(self.num_class):
                outputs[f"{PROBABILITY_PREFIX}{index}"] = pa.array(
                    prediction[:, index], pa.float64()
                )
        else:
            outputs[PREDICTION] = pa.array(prediction, pa.float64())
        if self.is_classifier:
            outputs[LABEL] = pa.array(
                np.asarray(self.classes, dtype=object)[
                    self._class_index(prediction, matrix)
                ].tolist()
            )
        if self.contributions:
            dmatrix = xgb.DMatrix(matrix, feature_names=None)
            contributions = self.booster.predict(
                dmatrix, pred_contribs=True, validate_features=False
            )
            for index, name in enumerate(self.feature_names):
                outputs[f"{CONTRIBUTION_PREFIX}{stored_name(name)}"] = pa.array(
                    contributions[:, index], pa.float64()
                )
            outputs[BIAS] = pa.array(contributions[:, -1], pa.float64())
        return outputs

    def match_matrix_steps(self, count: int) -> None:
        """Build ``count`` empty matrices. While the hosts' XGBoost communicator is up, building
        a ``DMatrix`` (contributions need one) is a collective step: XGBoost agrees on the
        number of columns across hosts. A host with fewer blocks than another makes up the
        difference, or the others would wait in that step for it."""
        empty = np.empty((0, len(self.feature_names)), dtype=np.float32)
        for _ in range(count):
            xgb.DMatrix(empty)

    def _class_index(self, prediction: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        if self.objective == "multi:softprob":
            return prediction.argmax(axis=1)
        if self.objective == "multi:softmax":
            return prediction.astype(np.intp)
        if self.objective == "binary:logistic":
            return (prediction > 0.5).astype(np.intp)
        if self.objective == "binary:hinge":
            return prediction.astype(np.intp)
        margin = self.booster.inplace_predict(
            matrix, validate_features=False, predict_type="margin"
        )
        return class_probabilities(margin).argmax(axis=1)  # binary:logitraw


def model_folder(channel: Path, work_dir: Path) -> Path:
    """The folder holding ``xgboost-model``: the channel itself, or its unpacked archive."""
    if (channel / MODEL_FILE_NAME).is_file():
        return channel
    archive = channel / MODEL_ARCHIVE
    if not archive.is_file():
        raise UserError(
            f"No model in the {MODEL_CHANNEL} channel ({channel}): give it a training job's "
            f"{MODEL_ARCHIVE}, or a folder with {MODEL_FILE_NAME} and {METADATA_FILE_NAME}."
        )
    target = work_dir / "model"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    if not (target / MODEL_FILE_NAME).is_file():
        raise UserError(f"{archive} holds no {MODEL_FILE_NAME}: is it a training job's model?")
    return target


def load_scoring_model(folder: Path, contributions: bool) -> ScoringModel:
    """The model and its encoding, or a short reason why this job cannot score with it."""
    metadata_path = folder / METADATA_FILE_NAME
    if not metadata_path.is_file():
        raise UserError(
            f"No {METADATA_FILE_NAME} beside the model: scoring encodes the rows as training "
            "did and needs the metadata this image's training job writes."
        )
    try:
        metadata = json.loads(metadata_path.read_bytes())
        encoding = Encoding.from_metadata(metadata["encoding"])
        booster = xgb.Booster()
        booster.load_model(bytearray((folder / MODEL_FILE_NAME).read_bytes()))
    except (OSError, ValueError, KeyError, TypeError, xgb.core.XGBoostError) as error:
        raise UserError(f"The model in {folder} cannot be read ({type(error).__name__}).") from None
    if booster.num_features() != len(encoding.features):
        raise UserError(
            f"{METADATA_FILE_NAME} names {len(encoding.features)} features but the model has "
            f"{booster.num_features()}: the two files come from different jobs."
        )
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    num_class = int(learner["learner_model_param"].get("num_class", "0"))
    num_target = int(learner["learner_model_param"].get("num_target", "1"))
    if num_target > 1:
        raise UserError(
            f"This model predicts {num_target} labels (a multi-output model); scoring writes one "
            "prediction per row: score it with serve, or train one model per label."
        )
    if contributions and num_class > 1:
        raise UserError(
            f"contributions=true is for single-output models; this one has {num_class} classes "
            f"({objective}): set contributions=false."
        )
    return ScoringModel(booster, encoding, objective, num_class, contributions)


def check_source_columns(
    model: ScoringModel, columns: Sequence[tuple[str, str]], keys: Sequence[str]
) -> None:
    """Refuse, before any row is read, rows this model cannot score: a feature or key column
    missing, or a feature of a type the model was not trained on. ``columns``: (name, type)."""
    types = {stored_name(name): kind for name, kind in columns}
    missing_keys = [key for key in keys if stored_name(key) not in types]
    if missing_keys:
        raise UserError(f"The rows to score have no key column {', '.join(missing_keys)}.")
    missing = [name for name in model.feature_names if name not in types]
    if missing:
        raise UserError(
            f"The rows to score lack the model's feature(s) {', '.join(missing[:10])}: the "
            "model reads every feature it was trained on."
        )
    for feature in model.encoding.features:
        found = types[feature.name]
        if found not in _TYPES_OF_KIND[feature.kind]:
            raise UserError(
                f"Column {feature.name} is {found}, but the model reads it as a "
                f"{feature.kind.value}: cast it in your query to the type training read."
            )
    outputs = {column.name for column in model.output_columns()}
    clashing = [key for key in keys if stored_name(key) in outputs]
    if clashing:
        raise UserError(
            f"key column(s) {', '.join(clashing)} share a name with an output column: rename "
            "them in your query (SELECT ... AS ...)."
        )

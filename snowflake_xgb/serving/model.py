"""The served model: loaded once per worker from the model folder, and its predictions.

Reads what training wrote (``xgboost-model`` and, when present, ``metadata.json``) and nothing
else. Predictions use ``Booster.inplace_predict`` on the request's float32 matrix (no
``DMatrix`` per request). For classifiers, the outputs AWS's XGBoost image offers through
``SAGEMAKER_INFERENCE_OUTPUT`` are derived here, with class labels as they were in training
(``raw_score`` is the margin, before the link function).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from ..model_files.encoding import Encoding
from ..model_files.margins import class_probabilities
from ..model_files.outputs import METADATA_FILE_NAME, MODEL_FILE_NAME
from .server_config import InferenceOutput

DEFAULT_OUTPUT = "score"  # what Booster.predict returns, for any objective

# Classification objectives, and how each gives class probabilities.
_PROBABILITY_FROM = {
    "binary:logistic": "prediction",
    "binary:logitraw": "margin",
    "binary:hinge": None,  # a 0/1 decision, no probability
    "multi:softprob": "prediction",
    "multi:softmax": "margin",
}


class ModelNotServable(Exception):
    """The model folder holds no model this server can serve as configured (the reason)."""


@dataclass(frozen=True)
class ServedModel:
    booster: xgb.Booster
    feature_names: tuple[str, ...]
    objective: str
    classes: np.ndarray | None  # class labels by class index; None for non-classifiers
    metadata: Mapping[str, Any]
    # How request values become features (category lists, dates, ...): from metadata.json;
    # None for a model without one, whose features are all numbers.
    encoding: Encoding | None = None
    threads: int = 1  # XGBoost threads of this worker
    # A multi-output model's label columns, one per output in order; None for one output.
    target_names: tuple[str, ...] | None = None

    @property
    def num_features(self) -> int:
        return len(self.feature_names)


def load_model(
    model_dir: Path, threads: int, outputs: Sequence[InferenceOutput] = ()
) -> ServedModel:
    """Load the model folder, or raise :class:`ModelNotServable` saying what is wrong."""
    model_path = model_dir / MODEL_FILE_NAME
    if not model_path.is_file():
        raise ModelNotServable(
            f"no model at {model_path}: the model folder must hold the {MODEL_FILE_NAME} file "
            "a training job wrote (SageMaker unpacks the job's model.tar.gz there)."
        )
    try:
        booster = xgb.Booster()
        booster.load_model(bytearray(model_path.read_bytes()))  # JSON or UBJSON, by content
    except (OSError, xgb.core.XGBoostError) as error:
        first_line = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ModelNotServable(
            f"{model_path} is not an XGBoost model this server can read ({first_line})."
        ) from None
    booster.set_param({"nthread": threads})
    metadata = _read_metadata(model_dir / METADATA_FILE_NAME)
    feature_names = tuple(metadata.get("feature_names") or booster.feature_names or ())
    if not feature_names:
        raise ModelNotServable(
            f"no feature names: neither {METADATA_FILE_NAME} nor the model names its features."
        )
    if len(feature_names) != booster.num_features():
        raise ModelNotServable(
            f"{METADATA_FILE_NAME} names {len(feature_names)} features but the model has "
            f"{booster.num_features()}: the two files come from different jobs."
        )
    encoding = Encoding.from_metadata(metadata["encoding"]) if "encoding" in metadata else None
    if encoding is not None and tuple(encoding.feature_names) != feature_names:
        raise ModelNotServable(
            f"{METADATA_FILE_NAME}'s encoding names other features than its feature_names: "
            "the file was edited or comes from another job."
        )
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    target_names = _target_names(learner, metadata)
    model = ServedModel(
        booster=booster,
        feature_names=feature_names,
        objective=objective,
        classes=None if target_names else _classes(objective, learner, encoding),
        metadata=metadata,
        encoding=encoding,
        threads=threads,
        target_names=target_names,
    )
    _check_outputs(model, outputs)
    return model


def _read_metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}  # a model written for AWS's XGBoost image keeps its metadata elsewhere
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ModelNotServable(f"{path} is not readable JSON ({error}).") from None
    if not isinstance(document, dict):
        raise ModelNotServable(f"{path} is not a JSON object.")
    return document


def _target_names(
    learner: Mapping[str, Any], metadata: Mapping[str, Any]
) -> tuple[str, ...] | None:
    """A multi-output model's label names (from metadata.json), one per output."""
    targets = int(learner["learner_model_param"].get("num_target", "1"))
    if targets <= 1:
        return None
    labels = metadata.get("labels") or [f"target_{index}" for index in range(targets)]
    if len(labels) != targets:
        raise ModelNotServable(
            f"{METADATA_FILE_NAME} names {len(labels)} label columns for a model of {targets} "
            "outputs: the two files come from different jobs."
        )
    return tuple(str(label) for label in labels)


def _classes(
    objective: str, learner: Mapping[str, Any], encoding: Encoding | None
) -> np.ndarray | None:
    if objective not in _PROBABILITY_FROM:
        return None
    count = max(2, int(learner["learner_model_param"].get("num_class", "0")))
    labels = encoding.label.classes if encoding is not None else None
    if labels is None:  # a numeric label: its classes are 0..n-1
        return np.arange(count)
    if len(labels) != count:
        raise ModelNotServable(
            f"{METADATA_FILE_NAME} lists {len(labels)} label classes for a model of {count}."
        )
    return np.asarray(labels)


def _check_outputs(model: ServedModel, outputs: Sequence[InferenceOutput]) -> None:
    if not outputs:
        return
    if model.target_names is not None:
        raise ModelNotServable(
            f"SAGEMAKER_INFERENCE_OUTPUT={','.join(outputs)} is for single-label classifiers; "
            f"this model answers one score per label ({', '.join(model.target_names)}): unset it."
        )
    if model.classes is None:
        raise ModelNotServable(
            f"SAGEMAKER_INFERENCE_OUTPUT={','.join(outputs)} needs a classification model; "
            f"this model's objective is {model.objective}: unset it."
        )
    if _PROBABILITY_FROM[model.objective] is None and {
        InferenceOutput.PROBABILITY,
        InferenceOutput.PROBABILITIES,
    } & set(outputs):
        raise ModelNotServable(
            f"a {model.objective} model gives no probabilities: choose predicted_label or "
            "raw_score in SAGEMAKER_INFERENCE_OUTPUT."
        )


def predict(
    model: ServedModel, matrix: np.ndarray, outputs: Sequence[InferenceOutput]
) -> dict[str, Any]:
    """The requested outputs for each row of ``matrix``, by name (``score`` when none asked)."""

    def booster_predict(**kind: str) -> np.ndarray:
        # The matrix has the model's columns in order (features.feature_matrix checked them).
        return model.booster.inplace_predict(matrix, validate_features=False, **kind)

    if not outputs:
        return {DEFAULT_OUTPUT: booster_predict()}
    source = _PROBABILITY_FROM[model.objective]
    need_margin = (
        InferenceOutput.RAW_SCORE in outputs
        or source == "margin"
        or model.objective == "binary:hinge"
    )
    margin = booster_predict(predict_type="margin") if need_margin else None
    probabilities = None
    # Every output but the margin comes from the class probabilities, when the model has them.
    if source is not None and set(outputs) - {InferenceOutput.RAW_SCORE}:
        probabilities = _class_probabilities(
            booster_predict() if source == "prediction" else margin,
            from_margin=source == "margin",
        )
    results: dict[str, Any] = {}
    for name in outputs:
        if name == InferenceOutput.RAW_SCORE:
            results[name] = margin
        elif name == InferenceOutput.PROBABILITIES:
            results[name] = probabilities
        elif (
            name == InferenceOutput.PROBABILITY
        ):  # binary: the positive class; else the winning class
            results[name] = probabilities[:, 1] if len(model.classes) == 2 else probabilities.max(1)
        elif probabilities is not None:  # predicted_label
            results[name] = model.classes[probabilities.argmax(axis=1)]
        else:  # binary:hinge: the sign of the margin decides
            results[name] = model.classes[(margin > 0).astype(np.intp)]
    return results


def _class_probabilities(values: np.ndarray, from_margin: bool) -> np.ndarray:
    """(rows, classes) probabilities from a binary or multi-class prediction or margin."""
    if from_margin:
        num_class = 2 if values.ndim == 1 else values.shape[1]
        return class_probabilities(values, num_class).astype(np.float32)
    if values.ndim == 1:  # binary: the positive class
        return np.stack([1.0 - values, values], axis=1).astype(np.float32)
    return values

"""Per-row explanations: feature contributions (SHAP values) and their pairwise interactions.

Asked per request through SageMaker's ``X-Amzn-SageMaker-Custom-Attributes`` header
(``explain=contributions``, ``explain=interactions``, ``explain=none``), or for every request
by the endpoint's ``SNOWFLAKE_XGB_EXPLAIN`` (``server_config``); the header wins. Values come
from XGBoost's ``pred_contribs`` / ``pred_interactions`` on the margin scale: a row's
contributions plus the bias sum to its margin (``raw_score``), per class for multi-class
models and per label for multi-output models. A categorical feature has one contribution,
under its column name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from .bad_request import BadRequest
from .model import ServedModel
from .server_config import NO_EXPLANATION, ExplanationKind

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
# The most explanation values one answer may hold (rows x classes x features, squared for
# interactions): about 3 MB of JSON text, within SageMaker's 6 MB limit for a real-time answer.
MAX_EXPLANATION_VALUES = 250_000


@dataclass(frozen=True)
class Explanation:
    kind: ExplanationKind
    # (rows, outputs, features) or (rows, outputs, features, features); outputs is 1 for
    # single-output models. The bias is apart from the features.
    values: np.ndarray
    bias: np.ndarray  # (rows, outputs)
    feature_names: tuple[str, ...]
    # Each output's name (a class, or a multi-output model's label); None for one output.
    class_names: tuple[str, ...] | None


def requested(
    custom_attributes: str | None, endpoint_default: ExplanationKind | None
) -> ExplanationKind | None:
    """The explanation a request asks for: its ``explain=`` attribute, else the endpoint's.

    Custom attributes are ``key=value`` pairs separated by ``;`` or ``,``; other keys are the
    caller's own and are ignored.
    """
    for pair in (custom_attributes or "").replace(",", ";").split(";"):
        key, _, value = pair.partition("=")
        if key.strip().lower() != "explain":
            continue
        kind = value.strip().lower()
        if kind == NO_EXPLANATION:
            return None
        if kind not in tuple(ExplanationKind):
            raise BadRequest(
                f"{CUSTOM_ATTRIBUTES_HEADER}: explain={value.strip()[:40]!r} is not one of "
                f"{', '.join(ExplanationKind)} or {NO_EXPLANATION}."
            )
        return ExplanationKind(kind)
    return endpoint_default


def explain(model: ServedModel, matrix: np.ndarray, kind: ExplanationKind) -> Explanation:
    """``kind`` explanations of each row of ``matrix``, or a 413 when the answer would be
    over :data:`MAX_EXPLANATION_VALUES`."""
    rows, features = matrix.shape
    output_names = _output_names(model)
    classes = len(output_names) if output_names else 1
    per_row = classes * (features + 1) ** (2 if kind == ExplanationKind.INTERACTIONS else 1)
    if rows * per_row > MAX_EXPLANATION_VALUES:
        raise BadRequest(
            f"explain={kind} gives {per_row:,} values per row for this model: send at most "
            f"{max(1, MAX_EXPLANATION_VALUES // per_row):,} rows per request.",
            status=413,
        )
    data = xgb.DMatrix(
        matrix,
        feature_types=model.booster.feature_types,
        nthread=model.threads,
    )
    # The matrix has the model's columns in order (features.feature_matrix checked them).
    if kind == ExplanationKind.CONTRIBUTIONS:
        values = model.booster.predict(
            data, pred_contribs=True, strict_shape=True, validate_features=False
        )
        bias, values = values[..., -1], values[..., :-1]
    else:
        values = model.booster.predict(
            data, pred_interactions=True, strict_shape=True, validate_features=False
        )
        # Only the bias-by-bias cell of the last row and column is not zero.
        bias, values = values[..., -1, -1], values[..., :-1, :-1]
    return Explanation(
        kind=kind,
        values=np.ascontiguousarray(values, dtype=np.float32),
        bias=np.ascontiguousarray(bias, dtype=np.float32),
        feature_names=model.feature_names,
        class_names=output_names,
    )


def _output_names(model: ServedModel) -> tuple[str, ...] | None:
    """The names of the model's outputs when it has several: its labels, or its classes."""
    if model.target_names is not None:
        return model.target_names
    if model.objective.startswith("multi:"):
        return tuple(str(label) for label in model.classes)
    return None

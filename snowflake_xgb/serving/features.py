"""Raw column values -> the model's float32 feature matrix: the one place that does it.

Every request format ends here, as columns either by position (features in training order) or
by name (matched as training matches its column settings, ``identifiers.columns_named``;
columns the model does not use are ignored). Number features are read as numbers; the others
(text categories, booleans, dates, timestamps, times) are encoded by the model's
``metadata.json`` through ``snowflake_xgb.model_files.encoding``, the rules training used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..identifiers import columns_named
from ..model_files.encoding import EncodingError, FeatureEncoding, Kind
from .bad_request import BadRequest
from .model import ServedModel

# A column: Arrow values (CSV), a Python list (JSON), or a NumPy array (libsvm).
Column = Any
_LISTED_NAMES = 10


def column_types(model: ServedModel) -> list[pa.DataType]:
    """The Arrow type each feature is read as from a text format, by position.

    Numbers are read as doubles, then rounded to float32 as training rounds Snowflake's FLOAT
    (a double) values, so that a text value gives the float32 the model saw in training.
    Features of other kinds are read as text and encoded as in training.
    """
    if model.encoding is None:
        return [pa.float64()] * model.num_features
    return [
        pa.float64() if feature.kind is Kind.NUMBER else pa.string()
        for feature in model.encoding.features
    ]


def feature_names_hint(model: ServedModel) -> str:
    names = model.feature_names
    shown = ", ".join(names[:_LISTED_NAMES])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _LISTED_NAMES else "")


def feature_matrix(columns: Sequence[Column] | Mapping[str, Column], model: ServedModel):
    """A C-ordered float32 (rows, features) matrix; missing values are NaN."""
    if isinstance(columns, Mapping):
        ordered = _match_names(columns, model)
    else:
        ordered = list(columns)
        if len(ordered) != model.num_features:
            raise BadRequest(
                f"rows have {len(ordered)} values; the model takes {model.num_features} "
                f"features in training order: {feature_names_hint(model)}."
            )
    rows = len(ordered[0]) if ordered else 0
    if rows == 0:
        raise BadRequest("the body holds no rows: send at least one.")
    matrix = np.empty((rows, model.num_features), dtype=np.float32)
    for position, (name, kind, column) in enumerate(
        zip(model.feature_names, column_types(model), ordered, strict=True)
    ):
        if kind == pa.string():
            matrix[:, position] = _encoded(column, model.encoding.features[position])
        else:
            matrix[:, position] = _numbers(column, kind, name)  # rounded to float32 here
    return matrix


def _encoded(column: Column, feature: FeatureEncoding) -> np.ndarray:
    """A text, boolean, date or time feature's request values, encoded as in training."""
    if isinstance(column, np.ndarray):
        return column  # libsvm carries the model's own numbers
    if not isinstance(column, list):  # CSV: nothing between the commas is a missing value
        column = [value or None for value in column.to_pylist()]
    try:
        return feature.encode_values(column)
    except EncodingError as error:
        raise BadRequest(str(error)) from None


def _match_names(columns: Mapping[str, Column], model: ServedModel) -> list[Column]:
    """Each feature's column, found by ``identifiers.columns_named`` (training's rule too)."""
    found: dict[str, tuple[str, Column]] = {}
    for key in columns:
        names = columns_named(key, model.feature_names)
        if not names:
            continue  # a column the model does not use
        if len(names) > 1:
            raise BadRequest(
                f"column {key!r} names features {' and '.join(names)}, which differ only in "
                "case: put the name in double quotes inside the key, spelled exactly."
            )
        name = names[0]
        if name in found:
            raise BadRequest(
                f"columns {found[name][0]!r} and {key!r} both name feature {name}: name each "
                "feature once, spelled the same way in every record."
            )
        found[name] = (key, columns[key])
    missing = [name for name in model.feature_names if name not in found]
    if missing:
        raise BadRequest(
            f"no column for feature(s) {', '.join(missing[:_LISTED_NAMES])}: send every "
            f"feature the model uses ({feature_names_hint(model)}), null for a missing value."
        )
    return [found[name][1] for name in model.feature_names]


def _numbers(column: Column, kind: pa.DataType, name: str) -> np.ndarray:
    try:
        if isinstance(column, np.ndarray):
            return column
        if isinstance(column, list):
            return pa.array(column, type=kind).to_numpy(zero_copy_only=False)
        return (column if column.type == kind else column.cast(kind)).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise BadRequest(
            f"feature {name}: {_first_non_number(column)} is not a number; send numbers "
            "(null, or nothing in CSV, for a missing value)."
        ) from None


def _first_non_number(column: Column) -> str:
    """The first value that is not a number, shown short (only on the error path)."""
    values = column if isinstance(column, list) else column.to_pylist()
    for value in values:
        try:
            pa.array([value], type=pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            shown = repr(value)
            return shown if len(shown) <= 40 else shown[:37] + "..."
    return "a value"

"""Column values -> XGBoost's float32 features: one set of rules for training and serving.

Owns the feature kinds and their units, which Snowflake column type becomes which kind (and
which types are refused), the ``categorical=``/``numeric=`` overrides, the category and label
class lists, and encoding both an Arrow column of a result batch (training) and a sequence of
Python values from a request (serving) by the same rules. The lists live in ``metadata.json``
(:meth:`Encoding.to_metadata`), not in the model file: XGBoost 3.2 drops a model's category
table when the model is sliced (early stopping), and XGBoost 1.7 cannot read one.

Units, chosen so a float32 keeps what matters (a float32 has 24 significant bits):

- number (``NUMBER(p,s)``, ``DECIMAL``, ``FLOAT``): the value; decimals are exact up to float32.
- date (``DATE``): days since 1970-01-01 (exact).
- timestamp (``TIMESTAMP_NTZ``/``_LTZ``/``_TZ``): seconds since 1970-01-01 00:00 UTC; a
  ``TIMESTAMP_NTZ`` is read as UTC. Around today float32 keeps about 2 minutes.
- time (``TIME``): seconds since midnight.
- boolean (``BOOLEAN`` with ``numeric=``): 0 false, 1 true.
- category (``VARCHAR``/``TEXT``, ``BOOLEAN``, or ``categorical=``): the value's position in
  the column's sorted category list, fixed for the whole job; NaN for NULL and for values not
  in the list. A ``BOOLEAN`` column has the fixed list ``[false, true]``.

NULL is NaN (XGBoost's missing value) for every kind.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UserError

SECONDS_PER_DAY = 86_400
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_TRUE_TEXT = {"true", "t", "yes", "y", "1"}
_FALSE_TEXT = {"false", "f", "no", "n", "0"}


class Kind(enum.Enum):
    """How a column's values become numbers (the unit is in :data:`UNITS`)."""

    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIME = "time"
    CATEGORY = "category"


UNITS = {
    Kind.NUMBER: "the value",
    Kind.BOOLEAN: "0 false, 1 true",
    Kind.DATE: "days since 1970-01-01",
    Kind.TIMESTAMP: "seconds since 1970-01-01 00:00:00 UTC",
    Kind.TIME: "seconds since midnight",
    Kind.CATEGORY: "position in the sorted category list; NaN for NULL and unseen values",
}

# Snowflake's type names (the connector's FIELD_ID_TO_NAME) -> the kind a feature gets.
_KIND_OF_TYPE = {
    "FIXED": Kind.NUMBER,
    "REAL": Kind.NUMBER,
    "DECFLOAT": Kind.NUMBER,
    "TEXT": Kind.CATEGORY,
    "BOOLEAN": Kind.CATEGORY,
    "DATE": Kind.DATE,
    "TIMESTAMP": Kind.TIMESTAMP,
    "TIMESTAMP_NTZ": Kind.TIMESTAMP,
    "TIMESTAMP_LTZ": Kind.TIMESTAMP,
    "TIMESTAMP_TZ": Kind.TIMESTAMP,
    "TIME": Kind.TIME,
}
_NUMERIC_TYPES = frozenset({"FIXED", "REAL", "DECFLOAT"})
_REFUSED_HINTS = {
    "VARIANT": "extract the fields you need in your query (col:field::NUMBER or ::VARCHAR)",
    "OBJECT": "extract the fields you need in your query (col:field::NUMBER or ::VARCHAR)",
    "MAP": "extract the keys you need in your query (col['key']::NUMBER)",
    "ARRAY": "take the elements you need in your query (col[0]::NUMBER, ARRAY_SIZE(col))",
    "VECTOR": "take the elements you need in your query (col[0]), or compute a distance",
    "BINARY": "derive a number or text from it in your query (LENGTH, HEX_ENCODE, ...)",
    "GEOGRAPHY": "derive numbers from it in your query (ST_X, ST_Y, ST_AREA, ST_DISTANCE)",
    "GEOMETRY": "derive numbers from it in your query (ST_X, ST_Y, ST_AREA, ST_DISTANCE)",
}


class EncodingError(UserError):
    """A value or column that cannot be encoded; the message names the column."""


@dataclass(frozen=True)
class FeatureEncoding:
    """How one feature column becomes a float32 feature.

    ``categories`` (category kind only) is the sorted list a value's code indexes: text
    (``str``), numbers (``float``, from ``categorical=`` on a number column) or ``(False, True)``.
    """

    name: str
    kind: Kind
    categories: tuple[Any, ...] = ()

    @property
    def feature_type(self) -> str:
        """XGBoost's feature type: ``c`` categorical, ``q`` quantitative."""
        return "c" if self.kind is Kind.CATEGORY else "q"

    @property
    def needs_category_discovery(self) -> bool:
        """True when the category list must be read from the data (all but booleans)."""
        return self.kind is Kind.CATEGORY and not self.categories

    def with_categories(self, values: Iterable[Any], max_categories: int) -> FeatureEncoding:
        """This column with its category list: the distinct non-NULL ``values``, sorted."""
        return FeatureEncoding(
            self.name, self.kind, sorted_categories(self.name, values, max_categories)
        )

    def encode_arrow(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """A result batch's column -> float64 values (NaN for NULL) by this column's kind."""
        return _encode_arrow(self, column)

    def encode_values(self, values: Sequence[Any]) -> np.ndarray:
        """Request values (numbers, text, ISO dates, ``None``) -> float64, as in training."""
        if self.kind is Kind.CATEGORY and self.categories and isinstance(self.categories[0], str):
            try:  # all text (or None): Arrow looks the whole column up at once
                return self.encode_arrow(pa.array(values, pa.string()))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass  # a code sent as a number: value by value below
        encoded = np.empty(len(values), dtype=np.float64)
        lookup = {value: code for code, value in enumerate(self.categories)}
        for index, value in enumerate(values):
            encoded[index] = _encode_value(self, value, lookup)
        return encoded

    def to_metadata(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        document["unit"] = UNITS[self.kind]
        if self.kind is Kind.CATEGORY:
            document["categories"] = list(self.categories)
        return document

    @classmethod
    def from_metadata(cls, document: Mapping[str, Any]) -> FeatureEncoding:
        kind = Kind(document["kind"])
        categories = tuple(document.get("categories", ())) if kind is Kind.CATEGORY else ()
        return cls(str(document["name"]), kind, categories)


def feature_encoding(
    name: str, snowflake_type: str, categorical: bool = False, numeric: bool = False
) -> FeatureEncoding:
    """The encoding of a feature column of ``snowflake_type`` (before categories are known).

    ``categorical``/``numeric`` are the user's overrides for this column. Types XGBoost
    cannot read (VARIANT, ARRAY, BINARY, ...) are refused by name with what to do instead.
    """
    if categorical and numeric:
        raise EncodingError(f"Column {name} is in both categorical and numeric: pick one.")
    kind = _KIND_OF_TYPE.get(snowflake_type)
    if kind is None:
        hint = _REFUSED_HINTS.get(snowflake_type, "convert it to a number or text in your query")
        raise EncodingError(
            f"Column {name} is {snowflake_type}, which cannot be a feature: {hint}, "
            f"or leave it out with exclude={name}."
        )
    if snowflake_type == "BOOLEAN":
        if numeric:
            return FeatureEncoding(name, Kind.BOOLEAN)
        return FeatureEncoding(name, Kind.CATEGORY, (False, True))
    if categorical:
        if kind not in (Kind.NUMBER, Kind.CATEGORY):
            raise EncodingError(
                f"Column {name} is {snowflake_type}; categorical= takes text, number and "
                "boolean columns: cast it in your query (e.g. TO_VARCHAR) to use it as a category."
            )
        return FeatureEncoding(name, Kind.CATEGORY)
    if numeric and kind is Kind.CATEGORY:
        return FeatureEncoding(name, Kind.NUMBER)
    return FeatureEncoding(name, kind)


def sorted_categories(name: str, values: Iterable[Any], max_categories: int) -> tuple[Any, ...]:
    """The distinct non-NULL values as a sorted category list; too many is refused by name."""
    distinct = {_category_value(value) for value in values if not _is_missing(value)}
    if len(distinct) > max_categories:
        raise too_many_categories(name, len(distinct), max_categories)
    return tuple(sorted(distinct))


def too_many_categories(name: str, count: int | str, max_categories: int) -> EncodingError:
    return EncodingError(
        f"Column {name} has {count} distinct values, more than max_categories="
        f"{max_categories}: raise max_categories, group rare values in your query "
        f"(e.g. a CASE), make it numeric with numeric={name}, or leave it out with exclude={name}."
    )


def _category_value(value: Any) -> Any:
    """Categories are text or float: Snowflake hands numbers back as int or Decimal."""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int | float | Decimal | np.number):
        return float(value)
    return str(value)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# Arrow (training) ---------------------------------------------------------------------------


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _to_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if not pa.types.is_floating(column.type):
        column = pc.cast(column, pa.float64(), safe=False)
    return column.to_numpy(zero_copy_only=False)


def _scaled(integers: pa.Array | pa.ChunkedArray, per_unit: int) -> np.ndarray:
    """Integer counts of 1/``per_unit`` -> float64 units, exact before the final division."""
    integer_type = pa.int32() if integers.type.bit_width == 32 else pa.int64()
    counts = pc.cast(integers, integer_type)
    whole, part = np.divmod(pc.fill_null(counts, 0).to_numpy(zero_copy_only=False), per_unit)
    values = whole + part / per_unit
    if counts.null_count:
        values[pc.is_null(counts).to_numpy(zero_copy_only=False)] = np.nan
    return values


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _encode_arrow(encoding: FeatureEncoding, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    column = _as_array(column)
    kind, kind_type = encoding.kind, column.type
    if kind is Kind.CATEGORY:
        return _category_codes(encoding, column)
    if kind is Kind.DATE and pa.types.is_date32(kind_type):
        return _scaled(column, 1)
    if kind is Kind.DATE and pa.types.is_date64(kind_type):
        return _scaled(column, 1_000 * SECONDS_PER_DAY)
    if kind in (Kind.TIMESTAMP, Kind.TIME) and (
        pa.types.is_timestamp(kind_type) or pa.types.is_time(kind_type)
    ):
        # A timestamp's integer is UTC whatever its time zone; a time's counts from midnight.
        return _scaled(column, _PER_SECOND[kind_type.unit])
    if kind in (Kind.NUMBER, Kind.BOOLEAN) and (
        pa.types.is_integer(kind_type)
        or pa.types.is_floating(kind_type)
        or pa.types.is_decimal(kind_type)
        or pa.types.is_boolean(kind_type)
    ):
        return _to_float(column)
    if kind is Kind.NUMBER and (
        pa.types.is_string(kind_type) or pa.types.is_large_string(kind_type)
    ):
        try:
            return _to_float(pc.cast(column, pa.float64()))
        except pa.ArrowInvalid as error:
            bad = str(error).split("Failed to parse string: ", 1)[-1].split(" as a scalar")[0]
            raise EncodingError(
                f"Column {encoding.name} is numeric= but holds text that is not a number "
                f"({bad[:60]}): fix it in your query (TRY_TO_NUMBER) or remove it from numeric."
            ) from None
    raise EncodingError(
        f"Column {encoding.name} was described as {kind.value} but its data arrived as Arrow "
        f"{kind_type}: cast it explicitly in your query."
    )


def _category_codes(encoding: FeatureEncoding, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    categories = encoding.categories
    if not categories:
        return np.full(len(column), np.nan)
    if isinstance(categories[0], bool):
        value_type = pa.bool_()
    elif isinstance(categories[0], str):
        value_type = pa.string()
    else:
        value_type = pa.float64()
    if column.type != value_type:
        try:
            column = pc.cast(column, value_type, safe=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise EncodingError(
                f"Column {encoding.name} holds {column.type} values but its categories are "
                f"{value_type}: cast it in your query."
            ) from None
    codes = pc.index_in(column, value_set=pa.array(categories, type=value_type))
    return _to_float(codes)


# Python values (serving) --------------------------------------------------------------------


def _bad_value(encoding: FeatureEncoding, value: Any, expected: str) -> EncodingError:
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return EncodingError(
        f"Feature {encoding.name} ({encoding.kind.value}): {shown} is not {expected}."
    )


def _number(encoding: FeatureEncoding, value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal | np.number):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _bad_value(encoding, value, "a number")


def _boolean(encoding: FeatureEncoding, value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_TEXT | _FALSE_TEXT:
        return value.strip().lower() in _TRUE_TEXT
    raise _bad_value(encoding, value, "true or false")


def _days(encoding: FeatureEncoding, value: Any) -> float:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise _bad_value(encoding, value, "a date (YYYY-MM-DD)") from None
    if isinstance(value, dt.date):
        return float((value - _EPOCH.date()).days)
    return _number(encoding, value)  # already in the unit


def _seconds_since_epoch(encoding: FeatureEncoding, value: Any) -> float:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise _bad_value(encoding, value, "an ISO timestamp (2024-05-01T12:30:00Z)") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)  # like TIMESTAMP_NTZ in training
        elapsed = value - _EPOCH
        return elapsed.days * float(SECONDS_PER_DAY) + elapsed.seconds + elapsed.microseconds / 1e6
    return _number(encoding, value)


def _seconds_since_midnight(encoding: FeatureEncoding, value: Any) -> float:
    if isinstance(value, str):
        try:
            value = dt.time.fromisoformat(value.strip())
        except ValueError:
            raise _bad_value(encoding, value, "a time (HH:MM:SS)") from None
    if isinstance(value, dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    return _number(encoding, value)


def _category_key(encoding: FeatureEncoding, value: Any) -> Any:
    categories = encoding.categories
    if not categories:
        return None
    if isinstance(categories[0], bool):
        return _boolean(encoding, value)
    if isinstance(categories[0], str):
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # a code sent as a JSON number ("zip": 10115)
        raise _bad_value(encoding, value, "text")
    return _number(encoding, value)


def _encode_value(encoding: FeatureEncoding, value: Any, lookup: dict[Any, int]) -> float:
    if _is_missing(value):
        return math.nan
    kind = encoding.kind
    if kind is Kind.CATEGORY:
        return float(lookup.get(_category_key(encoding, value), math.nan))
    if kind is Kind.NUMBER:
        return _number(encoding, value)
    if kind is Kind.BOOLEAN:
        return float(_boolean(encoding, value))
    if kind is Kind.DATE:
        return _days(encoding, value)
    if kind is Kind.TIMESTAMP:
        return _seconds_since_epoch(encoding, value)
    return _seconds_since_midnight(encoding, value)


# Labels -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelEncoding:
    """The label column: numbers as they are, or text classes coded 0..n-1 in sorted order."""

    name: str
    classes: tuple[str, ...] | None = None

    @classmethod
    def for_column(cls, name: str, snowflake_type: str) -> LabelEncoding:
        """A number or boolean label is used as is; a text label's classes are read later."""
        if snowflake_type in _NUMERIC_TYPES or snowflake_type == "BOOLEAN":
            return cls(name)
        if snowflake_type == "TEXT":
            return cls(name, ())
        raise EncodingError(
            f"Label column {name} is {snowflake_type}: a label must be a number, a boolean or "
            "text class names; convert it in your query."
        )

    @property
    def is_text(self) -> bool:
        return self.classes is not None

    def with_classes(self, values: Iterable[Any]) -> LabelEncoding:
        """This text label with its classes: the distinct non-NULL ``values``, sorted."""
        return LabelEncoding(self.name, tuple(sorted({str(v) for v in values if v is not None})))

    def check_num_class(self, objective: str, num_class: int | None) -> None:
        """Text classes need a classification objective with room for all of them."""
        if not self.is_text:
            return
        count = len(self.classes)
        if objective.startswith("binary:"):
            room, setting = 2, f"objective={objective}"
        elif objective.startswith("multi:"):
            if num_class is None:
                raise EncodingError(
                    f"Label {self.name} has {count} classes: set num_class={count} for "
                    f"objective={objective}."
                )
            room, setting = num_class, f"num_class={num_class}"
        else:
            raise EncodingError(
                f"Label {self.name} is text ({count} classes): set objective=binary:logistic "
                "(2 classes) or multi:softprob with num_class, or use a numeric label."
            )
        if count > room:
            listed = ", ".join(self.classes[:5]) + (", ..." if count > 5 else "")
            raise EncodingError(
                f"Label {self.name} has {count} classes ({listed}), more than {setting} "
                f"allows: raise num_class (multi:softprob) or filter the rows in your query."
            )

    def encode_arrow(self, column: pa.Array | pa.ChunkedArray, data_name: str) -> np.ndarray:
        """Label values -> float64 (class codes for text labels)."""
        column = _as_array(column)
        if not self.is_text:
            return _to_float(column)
        codes = pc.index_in(pc.cast(column, pa.string()), value_set=pa.array(self.classes))
        unknown = codes.null_count - column.null_count
        if unknown:
            seen = pc.unique(pc.filter(column, pc.is_null(codes))).to_pylist()[:3]
            raise EncodingError(
                f"The {data_name} data has {unknown} row(s) whose label {self.name} is not a "
                f"class of the training data ({', '.join(map(str, seen))}): filter them out "
                "in your query."
            )
        return _to_float(codes)

    def to_metadata(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name}
        if self.is_text:
            document["classes"] = list(self.classes)
        return document

    @classmethod
    def from_metadata(cls, document: Mapping[str, Any]) -> LabelEncoding:
        classes = document.get("classes")
        return cls(str(document["name"]), tuple(classes) if classes is not None else None)


# The whole job ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """Every feature's encoding, in matrix order, and the label's: what metadata.json records."""

    features: tuple[FeatureEncoding, ...]
    label: LabelEncoding

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def feature_types(self) -> list[str]:
        return [feature.feature_type for feature in self.features]

    def to_metadata(self) -> dict[str, Any]:
        return {
            "features": [feature.to_metadata() for feature in self.features],
            "label": self.label.to_metadata(),
        }

    @classmethod
    def from_metadata(cls, document: Mapping[str, Any]) -> Encoding:
        return cls(
            tuple(FeatureEncoding.from_metadata(f) for f in document["features"]),
            LabelEncoding.from_metadata(document["label"]),
        )

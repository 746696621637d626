"""Column values -> float32 features: the same rules for result batches and request values.

The Arrow inputs have the types the Snowflake connector hands over (``date32``, ``timestamp``
with and without a time zone, ``time32``/``time64``, ``decimal128``, the smallest integer type,
``bool``, ``string``), and the category tests cut one column into batches that each see a
different subset of the values, as the hosts and batches of a job do.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost as xgb

from snowflake_xgb.model_files.encoding import (
    Encoding,
    EncodingError,
    FeatureEncoding,
    Kind,
    LabelEncoding,
    feature_encoding,
    sorted_categories,
)

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("snowflake_type", "kind", "feature_type"),
    [
        ("FIXED", Kind.NUMBER, "q"),
        ("REAL", Kind.NUMBER, "q"),
        ("TEXT", Kind.CATEGORY, "c"),
        ("BOOLEAN", Kind.CATEGORY, "c"),
        ("DATE", Kind.DATE, "q"),
        ("TIMESTAMP_NTZ", Kind.TIMESTAMP, "q"),
        ("TIMESTAMP_LTZ", Kind.TIMESTAMP, "q"),
        ("TIMESTAMP_TZ", Kind.TIMESTAMP, "q"),
        ("TIME", Kind.TIME, "q"),
    ],
)
def test_each_snowflake_type_has_a_kind(snowflake_type: str, kind: Kind, feature_type: str) -> None:
    encoding = feature_encoding("C", snowflake_type)
    assert encoding.kind is kind
    assert encoding.feature_type == feature_type


@pytest.mark.parametrize(
    ("snowflake_type", "hint"),
    [
        ("VARIANT", "col:field::NUMBER"),
        ("ARRAY", "col[0]::NUMBER"),
        ("OBJECT", "col:field"),
        ("BINARY", "LENGTH"),
        ("GEOGRAPHY", "ST_X"),
        ("INTERVAL_DAY_TIME", "convert it"),
    ],
)
def test_types_xgboost_cannot_read_are_refused_by_name(snowflake_type: str, hint: str) -> None:
    with pytest.raises(EncodingError) as error:
        feature_encoding("PAYLOAD", snowflake_type)
    message = str(error.value)
    assert f"Column PAYLOAD is {snowflake_type}" in message
    assert hint in message
    assert "exclude=PAYLOAD" in message


def test_overrides() -> None:
    assert feature_encoding("ZIP", "FIXED", categorical=True).kind is Kind.CATEGORY
    assert feature_encoding("ZIP", "FIXED", categorical=True).needs_category_discovery
    assert feature_encoding("SCORE", "TEXT", numeric=True).kind is Kind.NUMBER
    flag = feature_encoding("FLAG", "BOOLEAN", numeric=True)
    assert (flag.kind, flag.feature_type) == (Kind.BOOLEAN, "q")
    boolean = feature_encoding("FLAG", "BOOLEAN")
    assert boolean.categories == (False, True) and not boolean.needs_category_discovery
    with pytest.raises(EncodingError, match="Column A is in both categorical and numeric"):
        feature_encoding("A", "TEXT", categorical=True, numeric=True)
    with pytest.raises(EncodingError, match="Column D is DATE; categorical= takes"):
        feature_encoding("D", "DATE", categorical=True)


def test_category_list_is_sorted_distinct_and_bounded() -> None:
    assert sorted_categories("C", ["red", None, "blue", "red", "green"], 10) == (
        "blue",
        "green",
        "red",
    )
    # Snowflake hands numbers back as int or Decimal: categories are floats either way.
    assert sorted_categories("N", [3, Decimal("1.5"), None, 3.0], 10) == (1.5, 3.0)
    with pytest.raises(EncodingError) as error:
        sorted_categories("CITY", [f"c{i}" for i in range(12)], 10)
    message = str(error.value)
    assert "Column CITY has 12 distinct values, more than max_categories=10" in message
    assert "numeric=CITY" in message and "exclude=CITY" in message


def test_text_codes_are_the_same_whatever_the_batch_sees() -> None:
    colour = FeatureEncoding("COLOUR", Kind.CATEGORY).with_categories(
        ["red", "green", "blue"], max_categories=10
    )
    # Three batches, each with its own subset (and order) of values, as on different hosts.
    batches = [
        pa.array(["red", "red", None]),
        pa.array(["green", "purple"]),  # purple: not in the list (e.g. only in validation)
        pa.chunked_array([pa.array(["blue"]), pa.array(["red", "green"])]),
        pa.array(["green", "blue", None]).dictionary_encode(),
    ]
    codes = [colour.encode_arrow(batch).tolist() for batch in batches]
    nan = np.nan
    expected = [[2, 2, nan], [1, nan], [0, 2, 1], [1, 0, nan]]
    for got, want in zip(codes, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        colour.encode_values(["red", "green", "blue", "purple", None]), [2, 1, 0, nan, nan]
    )


def test_number_and_boolean_categories() -> None:
    zip_code = FeatureEncoding("ZIP", Kind.CATEGORY).with_categories([10115, 80331, 20095], 10)
    assert zip_code.categories == (10115.0, 20095.0, 80331.0)
    column = pa.array([80331, None, 10115, 99999], pa.int32())
    np.testing.assert_array_equal(zip_code.encode_arrow(column), [2, np.nan, 0, np.nan])
    np.testing.assert_array_equal(zip_code.encode_values([80331, "10115", None]), [2, 0, np.nan])
    flag = feature_encoding("FLAG", "BOOLEAN")
    np.testing.assert_array_equal(flag.encode_arrow(pa.array([True, None, False])), [1, np.nan, 0])
    np.testing.assert_array_equal(
        flag.encode_values([True, "false", "TRUE", 0, None]), [1, 0, 1, 0, np.nan]
    )


# The same instants as the connector hands them over (Arrow) and as a request sends them.
CONVERSIONS = [
    (
        Kind.NUMBER,
        pa.array([Decimal("12.345"), None, Decimal("-0.007")], pa.decimal128(12, 3)),
        ["12.345", None, -0.007],
    ),
    (Kind.NUMBER, pa.array([12, None, -7], pa.int8()), [12, None, "-7"]),
    (Kind.NUMBER, pa.array([1.5, None, 1e30]), [1.5, float("nan"), 1e30]),
    (Kind.BOOLEAN, pa.array([True, None, False]), [True, None, "no"]),
    (
        Kind.DATE,
        pa.array([dt.date(2020, 1, 2), None, dt.date(1969, 12, 31)], pa.date32()),
        ["2020-01-02", None, dt.date(1969, 12, 31)],
    ),
    (
        Kind.TIMESTAMP,
        pa.array(
            [dt.datetime(2020, 1, 2, 3, 4, 5, 123456), None, dt.datetime(1960, 6, 1, 12)],
            pa.timestamp("ns"),
        ),
        ["2020-01-02T03:04:05.123456", None, "1960-06-01 12:00:00"],
    ),
    (
        Kind.TIMESTAMP,  # TIMESTAMP_TZ / _LTZ: an instant, whatever zone it is shown in
        pa.array([dt.datetime(2020, 1, 2, 1, 4, 5, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
        ["2020-01-02T03:04:05+02:00", None],
    ),
    (
        Kind.TIME,
        pa.array([dt.time(3, 4, 5, 250000), None], pa.time64("us")),
        ["03:04:05.25", None],
    ),
    (Kind.TIME, pa.array([11045, None], pa.time32("s")), [dt.time(3, 4, 5), None]),
]


@pytest.mark.parametrize(("kind", "arrow", "values"), CONVERSIONS)
def test_result_batches_and_requests_encode_alike(
    kind: Kind, arrow: pa.Array, values: list
) -> None:
    encoding = FeatureEncoding("C", kind)
    from_arrow = encoding.encode_arrow(arrow).astype(np.float32)
    from_request = encoding.encode_values(values).astype(np.float32)
    np.testing.assert_array_equal(from_arrow, from_request)
    assert np.isnan(from_arrow[1])


def test_documented_units() -> None:
    def one(kind: Kind, value: object) -> float:
        return float(FeatureEncoding("C", kind).encode_values([value])[0])

    assert one(Kind.DATE, "1970-01-11") == 10
    assert one(Kind.TIMESTAMP, "1970-01-02T00:00:01Z") == 86_401
    assert one(Kind.TIMESTAMP, "1970-01-01T01:00:00+01:00") == 0
    assert one(Kind.TIME, "01:00:30") == 3630
    assert one(Kind.BOOLEAN, True) == 1
    assert one(Kind.DATE, 18263) == 18263  # a number is taken as already in the unit
    date64 = pa.array([dt.date(1970, 1, 11)], pa.date64())
    assert FeatureEncoding("C", Kind.DATE).encode_arrow(date64).tolist() == [10]


def test_text_forced_numeric() -> None:
    score = feature_encoding("SCORE", "TEXT", numeric=True)
    np.testing.assert_array_equal(
        score.encode_arrow(pa.array(["1.5", None, "-2"])), [1.5, np.nan, -2]
    )
    with pytest.raises(EncodingError) as error:
        score.encode_arrow(pa.array(["1.5", "n/a"]))
    assert "Column SCORE is numeric= but holds text that is not a number ('n/a')" in str(
        error.value
    )


def test_bad_request_values_name_the_feature() -> None:
    with pytest.raises(EncodingError, match=r"Feature OPENED \(date\): 'yesterday' is not a date"):
        FeatureEncoding("OPENED", Kind.DATE).encode_values(["yesterday"])
    with pytest.raises(EncodingError, match=r"Feature AMOUNT \(number\): 'ten' is not a number"):
        FeatureEncoding("AMOUNT", Kind.NUMBER).encode_values(["ten"])
    with pytest.raises(EncodingError, match=r"FLAG .*'maybe' is not true or false"):
        feature_encoding("FLAG", "BOOLEAN").encode_values(["maybe"])


def test_text_labels() -> None:
    label = LabelEncoding.for_column("CHURNED", "TEXT").with_classes(["yes", "no", None, "yes"])
    assert label.classes == ("no", "yes")
    label.check_num_class("binary:logistic", None)
    np.testing.assert_array_equal(label.encode_arrow(pa.array(["yes", "no"]), "training"), [1, 0])
    with pytest.raises(EncodingError) as error:
        label.encode_arrow(pa.array(["yes", "maybe", "maybe"]), "validation")
    assert "The validation data has 2 row(s) whose label CHURNED is not a class" in str(error.value)
    assert "(maybe)" in str(error.value)

    species = LabelEncoding.for_column("SPECIES", "TEXT").with_classes(
        ["setosa", "virginica", "versicolor"]
    )
    with pytest.raises(EncodingError, match=r"SPECIES has 3 classes .*more than objective=binary"):
        species.check_num_class("binary:logistic", None)
    with pytest.raises(EncodingError, match="more than num_class=2"):
        species.check_num_class("multi:softprob", 2)
    with pytest.raises(EncodingError, match="SPECIES has 3 classes: set num_class=3"):
        species.check_num_class("multi:softprob", None)
    with pytest.raises(EncodingError, match="set objective=binary:logistic"):
        species.check_num_class("reg:squarederror", None)
    species.check_num_class("multi:softmax", 3)
    assert LabelEncoding.for_column("Y", "FIXED").encode_arrow(pa.array([1, 2]), "t").tolist() == [
        1,
        2,
    ]
    with pytest.raises(EncodingError, match="Label column Y is VARIANT"):
        LabelEncoding.for_column("Y", "VARIANT")


def _job_encoding() -> Encoding:
    return Encoding(
        (
            FeatureEncoding("REGION", Kind.CATEGORY, ("east", "north", "west")),
            feature_encoding("ACTIVE", "BOOLEAN"),
            FeatureEncoding("AMOUNT", Kind.NUMBER),
            FeatureEncoding("OPENED", Kind.DATE),
            FeatureEncoding("ZIP", Kind.CATEGORY, (10115.0, 80331.0)),
        ),
        LabelEncoding("CHURNED", ("no", "yes")),
    )


def test_metadata_round_trip_through_json() -> None:
    encoding = _job_encoding()
    document = json.loads(json.dumps(encoding.to_metadata()))
    assert Encoding.from_metadata(document) == encoding
    assert document["features"][3] == {
        "name": "OPENED",
        "kind": "date",
        "unit": "days since 1970-01-01",
    }
    assert encoding.feature_types == ["c", "c", "q", "q", "c"]


def test_xgboost_trains_on_codes_as_on_fixed_pandas_categories() -> None:
    """Batches that each see other colours give the model a pandas frame with one list gives."""
    rng = np.random.default_rng(7)
    colours = np.array(["blue", "green", "red", "white"])
    values = colours[rng.integers(0, 4, 600)].astype(object)
    values[::17] = None
    effect = {"blue": 10.0, "green": 5.0, "red": 0.0, "white": -3.0, None: 1.0}
    label = np.array([effect[v] for v in values]) + rng.normal(0, 0.1, 600)
    colour = FeatureEncoding("COLOUR", Kind.CATEGORY).with_categories(values, 10)
    # Batch 1 has no blue, batch 2 no red: XGBoost would silently mix up per-batch categories.
    no_blue = values[:300] != "blue"
    no_red = values[300:] != "red"
    parts = [
        (values[:300][no_blue], label[:300][no_blue]),
        (values[300:][no_red], label[300:][no_red]),
    ]

    class Batches(xgb.DataIter):
        def __init__(self) -> None:
            self.position = 0
            super().__init__()

        def next(self, input_data) -> bool:
            if self.position == len(parts):
                return False
            part_values, part_label = parts[self.position]
            codes = colour.encode_arrow(pa.array(part_values)).astype(np.float32)
            input_data(data=codes[:, None], label=part_label, feature_types=["c"])
            self.position += 1
            return True

        def reset(self) -> None:
            self.position = 0

    params = {"max_depth": 3, "eta": 0.5, "max_cat_to_onehot": 1}
    ours = xgb.train(params, xgb.QuantileDMatrix(Batches(), enable_categorical=True), 10)
    all_values = np.concatenate([p[0] for p in parts])
    frame = pd.DataFrame({"COLOUR": pd.Categorical(all_values, categories=list(colour.categories))})
    reference = xgb.train(
        params,
        xgb.QuantileDMatrix(frame, np.concatenate([p[1] for p in parts]), enable_categorical=True),
        10,
    )
    requests = colour.encode_values(["blue", "green", "red", "white", None, "pink"])
    ours_predictions = ours.inplace_predict(requests[:, None].astype(np.float32))
    reference_predictions = reference.predict(
        xgb.DMatrix(
            pd.DataFrame(
                {
                    "COLOUR": pd.Categorical(
                        ["blue", "green", "red", "white", None, None],
                        categories=list(colour.categories),
                    )
                }
            ),
            enable_categorical=True,
        )
    )
    np.testing.assert_allclose(ours_predictions, reference_predictions, atol=1e-5)
    np.testing.assert_allclose(ours_predictions[:4], [10, 5, 0, -3], atol=0.2)

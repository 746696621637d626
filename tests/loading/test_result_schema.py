"""One schema per result, from chunks of the types ``to_arrow`` hands out (connector source:
``CArrowTableIterator.cpp``); against the stand-in in ``tests/test_api.py``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from snowflake_xgb.errors import UserError
from snowflake_xgb.loading.result_schema import one_schema

UTC = dt.timezone.utc
SEEN = dt.datetime(2262, 4, 11, 23, 47, 16, 854775)  # the last microsecond in nanoseconds' range
LATE = dt.datetime(9999, 12, 31, 23, 59, 59)  # a common end-date sentinel: beyond nanoseconds


def _chunk(ids: pa.Array, amount: pa.Array, seen: pa.Array) -> pa.Table:
    return pa.table({"ID": ids, "AMOUNT": amount, "SEEN": seen})


def test_chunks_of_every_type_the_connector_hands_out_get_one_schema() -> None:
    chunks = [
        _chunk(
            pa.array([1, None], pa.int8()),
            pa.array([1.25, None], pa.float64()),
            pa.array([SEEN, None], pa.timestamp("ns", "UTC")),
        ),
        _chunk(
            pa.array([Decimal(2**40)], pa.decimal128(38, 0)),
            pa.array([Decimal("-3.50")], pa.decimal128(38, 2)),
            pa.array([LATE], pa.timestamp("us", "UTC")),  # the connector's overflow fallback
        ),
        _chunk(
            pa.array([3], pa.int32()),
            pa.array([4.0], pa.float64()),
            pa.array([SEEN], pa.timestamp("ns", "UTC")),
        ),
    ]
    tables = list(one_schema(iter(chunks)))
    assert len({t.schema for t in tables}) == 1
    assert [str(t) for t in tables[0].schema.types] == ["int64", "double", "timestamp[us, tz=UTC]"]
    rows = pa.concat_tables(tables).to_pylist()
    assert [r["ID"] for r in rows] == [1, None, 2**40, 3]
    assert [r["AMOUNT"] for r in rows] == [1.25, None, -3.5, 4.0]
    assert [r["SEEN"] for r in rows] == [
        SEEN.replace(tzinfo=UTC), None, LATE.replace(tzinfo=UTC), SEEN.replace(tzinfo=UTC)
    ]  # fmt: skip


def test_an_integer_beyond_64_bits_is_refused_naming_the_column() -> None:
    chunk = pa.table({"BIG": pa.array([Decimal(10**30)], pa.decimal128(38, 0))})
    with pytest.raises(UserError, match=r"Column BIG .* BIG::FLOAT or BIG::VARCHAR"):
        list(one_schema(iter([chunk])))

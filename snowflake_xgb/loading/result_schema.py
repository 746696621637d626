"""One Arrow schema for every batch of a result, whatever types Snowflake chose per chunk.

Snowflake picks each chunk's Arrow types from that chunk's values, and the connector's
``to_arrow`` keeps them (docs/snowflake-contract.md): an integer ``NUMBER`` arrives as int8,
int16, int32, int64 or decimal128 from chunk to chunk; a scaled ``NUMBER`` as float64, or as
decimal128 when the chunk was sent as decimal (and always with ``arrow_number_to_decimal``);
a timestamp with 7 to 9 digits of fractions in nanoseconds, or in microseconds for a chunk
holding a value outside 1677-2262. Each table is cast to the one type that holds every chunk:
int64 for integers, float64 for scaled numbers and decimals, microseconds for timestamps (time
zone kept) and times.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ..errors import UserError


def result_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type a column of ``arrow_type`` (in any one chunk) has in every batch handed out."""
    if pa.types.is_integer(arrow_type):
        return pa.int64()
    if pa.types.is_decimal(arrow_type):
        return pa.int64() if arrow_type.scale == 0 else pa.float64()
    if pa.types.is_floating(arrow_type):
        return pa.float64()
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", arrow_type.tz)
    if pa.types.is_time(arrow_type):
        return pa.time64("us")
    return arrow_type


def one_schema(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``tables`` (chunks of one result), each cast to the result's one schema."""
    for table in tables:
        types = [result_type(field.type) for field in table.schema]
        schema = pa.schema(f.with_type(t) for f, t in zip(table.schema, types, strict=True))
        if schema == table.schema:
            yield table
            continue
        columns = []
        for field, column in zip(schema, table.columns, strict=True):
            try:
                # Only nanoseconds below the microsecond and decimal digits beyond float64 may
                # be lost; an integer NUMBER beyond int64 fails here.
                columns.append(column.cast(field.type, safe=not _lossy(column.type, field.type)))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise UserError(
                    f"Column {field.name} has values that do not fit {field.type} (an integer "
                    "NUMBER beyond 64 bits): cast it in the query, e.g. "
                    f"{field.name}::FLOAT or {field.name}::VARCHAR."
                ) from None
        yield pa.Table.from_arrays(columns, schema=schema)


def _lossy(source: pa.DataType, target: pa.DataType) -> bool:
    """Casts that may drop precision by design (truncated nanoseconds, rounded decimals)."""
    return pa.types.is_temporal(source) or pa.types.is_floating(target)

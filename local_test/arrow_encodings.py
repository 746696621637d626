"""Snowflake's Arrow result encoding, re-encoded as the front needs it.

fakesnow encodes every result one way; Snowflake chooses each chunk's physical types from its
values and may send a NUMBER as DECFLOAT. These functions turn one chunk (an Arrow table as
fakesnow encodes it) into what Snowflake may send (``chunk_types``, ``as_decfloat``), a held
result back into plain Arrow types for DuckDB to read (``natural_table``), and rows into
Snowflake's JSON result format (``json_rowset``). numpy and pyarrow only: it runs in the
stand-ins' own environment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _unscaled(column: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """A NUMBER column's unscaled integers (int64) and validity; None: beyond int64."""
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_decimal(column.type):
        if column.type.bit_width != 128:
            return None
        words = np.frombuffer(column.buffers()[1], dtype="<i8")
        words = words[2 * column.offset : 2 * (column.offset + len(column))].reshape(-1, 2)
        low, high = words[:, 0], words[:, 1]
        if np.any((high != (low >> 63))[valid]):
            return None
        return np.where(valid, low, 0), valid
    values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return values, valid


def _decimal128(values: np.ndarray, valid: np.ndarray, precision: int, scale: int) -> pa.Array:
    words = np.stack([values, values >> 63], axis=1).astype("<i8")
    mask = pa.array(valid, pa.bool_()).buffers()[1] if not valid.all() else None
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale), len(values), [mask, pa.py_buffer(words.tobytes())]
    )


def _metadata(field: pa.Field) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}


def _fixed_chunk(column: pa.Array, scale: int, batch: int) -> pa.Array:
    """A NUMBER column as int8, int16, int32, int64 or decimal128, in turn by chunk among the
    types that hold its values (Snowflake picks the width per chunk)."""
    unscaled = _unscaled(column)
    if unscaled is None:
        return column
    values, valid = unscaled
    low, high = (int(values[valid].min()), int(values[valid].max())) if valid.any() else (0, 0)
    widths = (pa.int8(), pa.int16(), pa.int32(), pa.int64())
    fitting = [t for t in widths if np.iinfo(t.to_pandas_dtype()).min <= low]
    fitting = [t for t in fitting if high <= np.iinfo(t.to_pandas_dtype()).max]
    choices = [*fitting, pa.decimal128(38, scale)]
    chosen = choices[batch % len(choices)]
    if pa.types.is_decimal(chosen):
        return _decimal128(values, valid, 38, scale)
    return pa.array(values.astype(chosen.to_pandas_dtype()), chosen, mask=~valid)


def _one_field_timestamp(column: pa.Array, scale: int) -> pa.Array:
    """A two-field timestamp (epoch, fraction) as one int64 in units of 10^-scale seconds,
    when every value fits (Snowflake sends either)."""
    epoch = column.field("epoch").to_numpy(zero_copy_only=False).astype(np.int64)
    fraction = column.field("fraction").to_numpy(zero_copy_only=False).astype(np.int64)
    if not np.all(np.abs(epoch) < np.iinfo(np.int64).max // 10**scale - 1):
        return column
    values = epoch * 10**scale + fraction // 10 ** (9 - scale)
    mask = ~np.asarray(column.is_valid().to_numpy(zero_copy_only=False), bool)
    return pa.array(values, pa.int64(), mask=mask)


def chunk_types(table: pa.Table, batch: int) -> pa.Table:
    """``table`` (one chunk, as fakesnow encodes it) in the physical types Snowflake may choose
    for chunk number ``batch``; the values and each column's logical type stay the same."""
    arrays, schema = [], []
    for column_field, column in zip(table.schema, table.columns, strict=True):
        column = column.combine_chunks()
        meta = _metadata(column_field)
        logical, scale = meta.get("logicalType", ""), int(meta.get("scale") or 0)
        if logical == "FIXED":
            column = _fixed_chunk(column, scale, batch)
        elif logical in ("TIMESTAMP_NTZ", "TIMESTAMP_LTZ") and pa.types.is_struct(column.type):
            column = _one_field_timestamp(column, scale) if batch % 2 else column
        arrays.append(column)
        schema.append(column_field.with_type(column.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))


def as_decfloat(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
    """The NUMBER columns ``names`` of ``table`` encoded as Snowflake sends DECFLOAT."""
    wanted = {name.upper() for name in names}
    arrays, schema = [], []
    for column_field, column in zip(table.schema, table.columns, strict=True):
        column = column.combine_chunks()
        unscaled = _unscaled(column) if column_field.name.upper() in wanted else None
        if unscaled is not None:
            values, valid = unscaled
            scale = int(_metadata(column_field).get("scale") or 0)
            significand = [int(v).to_bytes(16, "big", signed=True) for v in values]
            column = pa.StructArray.from_arrays(
                [pa.array([-scale] * len(values), pa.int16()), pa.array(significand, pa.binary())],
                names=["exponent", "significand"],
                mask=pa.array(~valid),
            )
            meta = {**_metadata(column_field), "logicalType": "DECFLOAT"}
            column_field = column_field.with_type(column.type).with_metadata(meta)
        arrays.append(column)
        schema.append(column_field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))


def natural_table(table: pa.Table) -> pa.Table:
    """A result in Snowflake's Arrow encoding as plain Arrow types (what a query may read back):
    timestamps from epoch and fraction, times from nanoseconds, scaled numbers as decimals."""
    arrays = []
    for column_field, column in zip(table.schema, table.columns, strict=True):
        column = column.combine_chunks()
        meta = _metadata(column_field)
        logical, scale = meta.get("logicalType", ""), int(meta.get("scale") or 0)
        if logical.startswith("TIMESTAMP") and pa.types.is_struct(column.type):
            epoch = column.field("epoch").to_numpy(zero_copy_only=False).astype(np.int64)
            fraction = column.field("fraction").to_numpy(zero_copy_only=False).astype(np.int64)
            mask = ~np.asarray(column.is_valid().to_numpy(zero_copy_only=False), bool)
            tz = "UTC" if column.type.get_field_index("timezone") >= 0 else None
            column = pa.array(epoch * 10**9 + fraction, pa.timestamp("ns", tz), mask=mask)
        elif logical.startswith("TIMESTAMP") and pa.types.is_integer(column.type):
            column = pc.multiply(column.cast(pa.int64()), 10 ** (9 - scale)).cast(
                pa.timestamp("ns")
            )
        elif logical == "TIME" and pa.types.is_integer(column.type):
            column = pc.multiply(column.cast(pa.int64()), 10 ** (9 - scale)).cast(pa.time64("ns"))
        elif logical == "FIXED" and scale > 0 and pa.types.is_integer(column.type):
            values, valid = _unscaled(column)  # type: ignore[misc]
            column = _decimal128(values, valid, 38, scale)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=table.column_names)


def ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def json_rowset(table: pa.Table | None, rowtype: list[dict[str, Any]]) -> list[list[str | None]]:
    """Rows as Snowflake's JSON result format sends them: every value a string (or null);
    NUMBER as its digits, BOOLEAN as "1"/"0", DATE as days since 1970-01-01, TIMESTAMP_NTZ as
    seconds since the epoch with the fraction (what the connector's converter reads)."""
    if table is None:
        return []
    columns = []
    for index, column in enumerate(table.columns):
        kind = str((rowtype[index] if index < len(rowtype) else {}).get("type", "")).lower()
        columns.append([_json_value(value, kind) for value in column.to_pylist()])
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _json_value(value: Any, kind: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict) and "epoch" in value:  # a timestamp, as Snowflake's Arrow struct
        return f"{value['epoch']}.{int(value.get('fraction') or 0):09d}"
    if kind == "date" and hasattr(value, "toordinal"):
        return str(value.toordinal() - 719163)  # date(1970, 1, 1).toordinal()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)

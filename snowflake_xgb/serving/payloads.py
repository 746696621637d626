"""Request bodies -> columns for :func:`features.feature_matrix`, by content type.

- ``text/csv``: no header, features in training order, an empty field is a missing value;
  parsed by Arrow's CSV reader straight into the feature types (no type guessing), or, for a
  few rows of plain numbers, in Python (the same values, faster for such small bodies).
- ``application/json``: a list of records keyed by column name, one record, a list of rows in
  training order, or any of these under ``{"instances": [...]}``; or a Snowflake external
  function's batch, ``{"data": [[row number, features...], ...]}`` (``external_function``).
- ``application/jsonlines``: one record (or one row) per line.
- ``text/libsvm``: ``[label] index:value ...`` per line, indices zero-based in training order
  (XGBoost's own libsvm convention); a leading label is ignored, absent indices are missing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv

from . import external_function, features
from .bad_request import BadRequest
from .model import ServedModel


class MediaType(StrEnum):
    """The request bodies this server reads (all but libsvm are also what it answers in)."""

    CSV = "text/csv"
    JSON = "application/json"
    JSONLINES = "application/jsonlines"
    LIBSVM = "text/libsvm"


_ALIASES = {
    **{media_type.value: media_type for media_type in MediaType},
    "application/jsonl": MediaType.JSONLINES,
    "application/x-jsonlines": MediaType.JSONLINES,
    "text/x-libsvm": MediaType.LIBSVM,
}
_SUPPORTED = f"{MediaType.CSV}, {MediaType.JSON}, {MediaType.JSONLINES} or {MediaType.LIBSVM}"
_SMALLEST_CSV_BLOCK = 1 << 12
_SMALL_CSV_BYTES = 8192
_PLAIN_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CSV_COLUMN_COUNT = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)")
_CSV_BAD_VALUE = re.compile(r"column #(\d+): Row #(\d+): .*?invalid value '(.*)'", re.S)


def request_media_type(content_type: str | None) -> MediaType:
    """The request's media type (aliases resolved), or a 415 naming the supported ones."""
    if not content_type:
        raise BadRequest(f"no Content-Type: send {_SUPPORTED}.", status=415)
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in _ALIASES:
        raise BadRequest(f"Content-Type {media} is not supported: send {_SUPPORTED}.", status=415)
    return _ALIASES[media]


@dataclass(frozen=True)
class ParsedRequest:
    matrix: np.ndarray  # the model's float32 feature matrix, one row per row sent
    row_numbers: list[int] | None = None  # a Snowflake external-function batch's; else None


def parse(body: bytes, media_type: MediaType, model: ServedModel) -> ParsedRequest:
    """The request's rows as the model's float32 feature matrix."""
    if not body or body.isspace():
        raise BadRequest("the body is empty: send at least one row.")
    row_numbers = None
    if media_type == MediaType.CSV:
        columns = _csv_columns(body, model)
    elif media_type == MediaType.LIBSVM:
        columns = _libsvm_columns(body, model)
    elif media_type == MediaType.JSON:
        document = _json_document(body)
        if external_function.is_external_function_request(document):
            row_numbers, rows = external_function.rows(document)
        else:
            rows = _json_rows(document)
        columns = _json_columns(rows)
    else:
        columns = _json_columns(_jsonlines_rows(body))
    return ParsedRequest(features.feature_matrix(columns, model), row_numbers)


def _csv_columns(body: bytes, model: ServedModel) -> list:
    small = _small_numeric_csv(body, model)
    if small is not None:
        return small
    names = [f"f{position}" for position in range(model.num_features)]
    read_options = pa_csv.ReadOptions(
        column_names=names,
        use_threads=False,
        # One block for the whole body: Arrow allocates a block up front (1 MB by default).
        block_size=max(len(body) + 1, _SMALLEST_CSV_BLOCK),
    )
    convert_options = pa_csv.ConvertOptions(
        column_types=dict(zip(names, features.column_types(model), strict=True))
    )
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body), read_options=read_options, convert_options=convert_options
        )
    except pa.ArrowInvalid as error:
        raise _csv_error(str(error), model) from None
    return table.columns


def _small_numeric_csv(body: bytes, model: ServedModel) -> list[np.ndarray] | None:
    """A few rows of plain numbers, read in Python: Arrow's CSV reader takes longer to start
    (about 0.1 ms) than such a body takes to read. None for anything else, which Arrow then
    reads (or says what is wrong with); both read a number as a double."""
    if len(body) > _SMALL_CSV_BYTES or any(
        kind != pa.float64() for kind in features.column_types(model)
    ):
        return None
    rows = [line.split(b",") for line in body.splitlines() if line]
    if not rows or any(len(row) != model.num_features for row in rows):
        return None
    fields = [field for row in rows for field in row]
    if not all(not field or _PLAIN_NUMBER.fullmatch(field) for field in fields):
        return None
    values = np.array([float(field) if field else np.nan for field in fields])
    return list(values.reshape(len(rows), model.num_features).T)


def _csv_error(message: str, model: ServedModel) -> BadRequest:
    count = _CSV_COLUMN_COUNT.search(message)
    if count:
        row, _, values = count.groups()
        return BadRequest(
            f"row {row} has {values} values; the model takes {model.num_features} features in "
            f"training order: {features.feature_names_hint(model)}."
        )
    bad_value = _CSV_BAD_VALUE.search(message)
    if bad_value:
        position, row, value = bad_value.groups()
        name = model.feature_names[int(position)]
        return BadRequest(
            f"row {row}, column {int(position) + 1} ({name}): {value[:40]!r} is not a number; "
            "send numbers, or nothing between the commas for a missing value."
        )
    return BadRequest(f"the body is not CSV this server can read: {message.splitlines()[0]}")


def _json_document(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON ({error}).") from None


def _json_rows(document: Any) -> list:
    if isinstance(document, dict) and "instances" in document:
        document = document["instances"]
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list) and document and not isinstance(document[0], (dict, list)):
        return [document]  # one row of values
    if not isinstance(document, list):
        raise BadRequest(
            'send a list of records ({"column": value, ...}), a list of rows in training '
            'order, or either under {"instances": [...]}.'
        )
    return document


def _jsonlines_rows(body: bytes) -> list:
    rows = []
    for number, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError as error:
                raise BadRequest(f"line {number} is not valid JSON ({error}).") from None
    return rows


def _json_columns(rows: list) -> list[list] | Mapping[str, list]:
    if not rows:
        raise BadRequest("the body holds no rows: send at least one.")
    if all(isinstance(row, dict) for row in rows):
        return _RecordColumns(rows)
    if all(isinstance(row, list) for row in rows):
        widths = {len(row) for row in rows}
        if len(widths) > 1:
            raise BadRequest(
                f"rows have {min(widths)} to {max(widths)} values: every row needs one value "
                "per feature, in training order."
            )
        return [list(column) for column in zip(*rows, strict=True)]
    raise BadRequest(
        "send either records keyed by column name or rows of values, not a mix, and no bare values."
    )


class _RecordColumns(Mapping):
    """Records seen as columns by name, each column built only when the model uses it."""

    def __init__(self, records: list[dict]) -> None:
        self._records = records
        self._names = list(dict.fromkeys(itertools.chain.from_iterable(records)))

    def __getitem__(self, name: str) -> list:
        return [record.get(name) for record in self._records]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _libsvm_columns(body: bytes, model: ServedModel) -> list[np.ndarray]:
    lines = [line for line in body.splitlines() if line.strip()]
    matrix = np.full((len(lines), model.num_features), np.nan, dtype=np.float32)
    for row, line in enumerate(lines):
        for token in line.split():
            if b":" not in token:
                continue  # the label, which inference does not need
            index, _, value = token.partition(b":")
            try:
                position, number = int(index), float(value)
            except ValueError:
                raise BadRequest(
                    f"line {row + 1}: {token[:40].decode(errors='replace')!r} is not "
                    "index:value with a whole index and a number."
                ) from None
            if not 0 <= position < model.num_features:
                raise BadRequest(
                    f"line {row + 1}: feature index {position} is out of range: the model has "
                    f"features 0 to {model.num_features - 1} (zero-based, training order)."
                )
            matrix[row, position] = number
    return list(matrix.T)

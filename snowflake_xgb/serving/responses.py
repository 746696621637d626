"""Predictions -> a response body, in the media type the caller accepts.

- ``text/csv``: one line per row; several outputs, or several classes, are comma-separated.
- ``application/json``: ``{"predictions": [{"score": ...}, ...]}``, one object per row, keyed by
  output name. In batch-transform mode (``SAGEMAKER_BATCH``) the objects are written one per
  line instead, so that ``SplitType=Line`` with ``AssembleWith=Line`` keeps one line per record.
- ``application/jsonlines``: one object per line.

Numbers are written as the shortest text that reads back to the same float32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import orjson

from .bad_request import BadRequest
from .payloads import CSV, JSON, JSONLINES

MEDIA_TYPES = (CSV, JSON, JSONLINES)
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def response_media_type(
    accept: str | None, request_media_type: str, client_prefers: Callable[[list[str]], str | None]
) -> str:
    """What to answer in: the best of ``Accept``; without one, JSON for JSON requests, else CSV.

    ``client_prefers`` ranks media types by the request's ``Accept`` (the web framework's).
    """
    if not accept or accept.strip() == "*/*":
        return request_media_type if request_media_type in MEDIA_TYPES else CSV
    chosen = client_prefers(list(MEDIA_TYPES))
    if chosen is None:
        raise BadRequest(
            f"cannot answer in {accept.strip()[:60]}: accept {', '.join(MEDIA_TYPES)}.", status=406
        )
    return chosen


def format_predictions(predictions: Mapping[str, np.ndarray], media_type: str, batch: bool):
    """The response body (bytes) for ``predictions`` (output name -> one value per row)."""
    if media_type == CSV:
        return _csv(predictions)
    records = _json_records(predictions)
    if media_type == JSON and not batch:
        return b'{"predictions":[' + b",".join(records) + b"]}"
    return b"\n".join(records) + b"\n"


def _json_values(values: np.ndarray) -> list[bytes]:
    """Each row's value as JSON text (numbers: the shortest text of the float32)."""
    if values.dtype.kind in "fiu":
        if values.ndim == 1:
            return orjson.dumps(np.ascontiguousarray(values), option=_NUMPY)[1:-1].split(b",")
        return [orjson.dumps(row, option=_NUMPY) for row in np.ascontiguousarray(values)]
    return [orjson.dumps(value) for value in values.tolist()]


def _json_records(predictions: Mapping[str, np.ndarray]) -> list[bytes]:
    """One JSON object per row, keyed by output name, built from each output's value texts."""
    keys = [b"{" + orjson.dumps(name) + b":" for name in predictions]
    columns = [_json_values(values) for values in predictions.values()]
    if len(columns) == 1:
        key = keys[0]
        return [key + value + b"}" for value in columns[0]]
    keys = [keys[0]] + [b"," + key[1:] for key in keys[1:]]
    return [
        b"".join(key + value for key, value in zip(keys, row, strict=True)) + b"}"
        for row in zip(*columns, strict=True)
    ]


def _csv(predictions: Mapping[str, np.ndarray]) -> bytes:
    columns = list(predictions.values())
    if len(columns) == 1 and columns[0].dtype.kind == "f":
        # One numeric output: JSON's number text is CSV's; rows become lines.
        text = orjson.dumps(np.ascontiguousarray(columns[0]), option=_NUMPY)
        if columns[0].ndim == 1:
            return text[1:-1].replace(b",", b"\n") + b"\n"
        return text[2:-2].replace(b"],[", b"\n") + b"\n"
    fields: list[list[bytes]] = []
    for values in columns:
        if values.ndim == 2:
            fields.extend(_csv_fields(values[:, k]) for k in range(values.shape[1]))
        else:
            fields.append(_csv_fields(values))
    return b"".join(b",".join(row) + b"\n" for row in zip(*fields, strict=True))


def _csv_fields(values: np.ndarray) -> list[bytes]:
    if values.dtype.kind in "fiu":
        return _json_values(values)
    return [_quoted(str(value)) for value in values.tolist()]


def _quoted(text: str) -> bytes:
    if any(character in text for character in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text.encode()

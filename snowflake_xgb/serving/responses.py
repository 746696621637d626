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
    records = _records(predictions)
    if media_type == JSON and not batch:
        return orjson.dumps({"predictions": records}, option=_NUMPY)
    return b"".join(orjson.dumps(record, option=_NUMPY) + b"\n" for record in records)


def _records(predictions: Mapping[str, np.ndarray]) -> list[dict]:
    names = list(predictions)
    return [
        dict(zip(names, values, strict=True)) for values in zip(*predictions.values(), strict=True)
    ]


def _csv(predictions: Mapping[str, np.ndarray]) -> bytes:
    columns = [np.ascontiguousarray(values) for values in predictions.values()]
    if len(columns) == 1 and columns[0].dtype.kind == "f":
        # One numeric output: JSON's number text is CSV's; rows become lines.
        text = orjson.dumps(columns[0], option=_NUMPY)
        if columns[0].ndim == 1:
            return text[1:-1].replace(b",", b"\n") + b"\n"
        return text[2:-2].replace(b"],[", b"\n") + b"\n"
    fields: list[list[bytes]] = []
    for values in columns:
        if values.ndim == 2:
            fields.extend(
                _csv_fields(np.ascontiguousarray(values[:, k])) for k in range(values.shape[1])
            )
        else:
            fields.append(_csv_fields(values))
    return b"".join(b",".join(row) + b"\n" for row in zip(*fields, strict=True))


def _csv_fields(values: np.ndarray) -> list[bytes]:
    if values.dtype.kind in "fiu":
        return orjson.dumps(values, option=_NUMPY)[1:-1].split(b",")
    return [_quoted(str(value)) for value in values.tolist()]


def _quoted(text: str) -> bytes:
    if any(character in text for character in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text.encode()

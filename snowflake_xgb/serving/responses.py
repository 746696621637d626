"""Predictions -> a response body, in the media type the caller accepts.

- ``text/csv``: one line per row; several outputs, or several classes, are comma-separated.
- ``application/json``: ``{"predictions": [{"score": ...}, ...]}``, one object per row, keyed by
  output name; a multi-output model's score is an object keyed by label name. In
  batch-transform mode (``SAGEMAKER_BATCH``) the objects are written one per line instead, so
  that ``SplitType=Line`` with ``AssembleWith=Line`` keeps one line per record.
- ``application/jsonlines``: one object per line.
- A Snowflake external function's request: ``{"data": [[row number, result], ...]}``, the
  result a number (or label) for one one-value output, else the row's JSON object.

With an explanation, each CSV line goes on with the explanation's values (per class: training
feature order, then the bias); each JSON object gets ``contributions`` or ``interactions``
keyed by feature (and by class, or label, first for multi-class and multi-output models) and
``bias``.

Numbers are written as the shortest text that reads back to the same float32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import orjson

from . import external_function
from .bad_request import BadRequest
from .explanations import Explanation
from .payloads import MediaType

MEDIA_TYPES = (MediaType.CSV, MediaType.JSON, MediaType.JSONLINES)
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def response_media_type(
    accept: str | None,
    request_media_type: MediaType,
    client_prefers: Callable[[list[str]], str | None],
) -> MediaType:
    """What to answer in: the best of ``Accept``; without one, JSON for JSON requests, else CSV.

    ``client_prefers`` ranks media types by the request's ``Accept`` (the web framework's).
    """
    if not accept or accept.strip() == "*/*":
        return request_media_type if request_media_type in MEDIA_TYPES else MediaType.CSV
    chosen = client_prefers(list(MEDIA_TYPES))
    if chosen is None:
        raise BadRequest(
            f"cannot answer in {accept.strip()[:60]}: accept {', '.join(MEDIA_TYPES)}.", status=406
        )
    return MediaType(chosen)


def format_predictions(
    predictions: Mapping[str, np.ndarray],
    media_type: MediaType,
    batch: bool,
    explanation: Explanation | None = None,
    row_numbers: Sequence[int] | None = None,
    target_names: Sequence[str] | None = None,
) -> bytes:
    """The response body for ``predictions`` (output name -> one value per row, or a vector
    per row keyed by ``target_names`` in JSON), with each row's ``explanation`` when asked; in
    Snowflake's external-function form for a request in that form (``row_numbers``)."""
    if row_numbers is not None:
        return external_function.answer(
            row_numbers, _external_function_results(predictions, explanation, target_names)
        )
    if media_type == MediaType.CSV:
        return b"".join(line + b"\n" for line in _csv_lines(predictions, explanation))
    records = _json_records(predictions, explanation, target_names)
    if media_type == MediaType.JSON and not batch:
        return b'{"predictions":[' + b",".join(records) + b"]}"
    return b"\n".join(records) + b"\n"


def _json_values(values: np.ndarray) -> list[bytes]:
    """Each row's value as JSON text (numbers: the shortest text of the float32)."""
    if values.dtype.kind in "fiu":
        if values.ndim == 1:
            return orjson.dumps(np.ascontiguousarray(values), option=_NUMPY)[1:-1].split(b",")
        return [orjson.dumps(row, option=_NUMPY) for row in np.ascontiguousarray(values)]
    return [orjson.dumps(value) for value in values.tolist()]


def _keyed_values(values: np.ndarray, target_names: Sequence[str] | None) -> list[bytes]:
    """Each row's value as JSON text; a vector per row as an object keyed by label name."""
    if target_names is None or values.ndim != 2:
        return _json_values(values)
    template = _object_template([target_names])
    return [_filled(template, row) for row in _row_fields(values, values.shape[0])]


def _json_records(
    predictions: Mapping[str, np.ndarray],
    explanation: Explanation | None,
    target_names: Sequence[str] | None = None,
) -> list[bytes]:
    """One JSON object per row, keyed by output name, built from each output's value texts;
    then ``contributions`` or ``interactions`` (by feature, by class) and ``bias``."""
    keys = [b"{" + orjson.dumps(name) + b":" for name in predictions]
    columns = [_keyed_values(values, target_names) for values in predictions.values()]
    if explanation is not None:
        keys += [b"{" + orjson.dumps(explanation.kind) + b":", b'{"bias":']
        columns += _explanation_objects(explanation)
    if len(columns) == 1:
        key = keys[0]
        return [key + value + b"}" for value in columns[0]]
    keys = [keys[0]] + [b"," + key[1:] for key in keys[1:]]
    return [
        b"".join(key + value for key, value in zip(keys, row, strict=True)) + b"}"
        for row in zip(*columns, strict=True)
    ]


def _external_function_results(
    predictions: Mapping[str, np.ndarray],
    explanation: Explanation | None,
    target_names: Sequence[str] | None,
) -> list[bytes]:
    """Each row's result: the value of a single one-value output, else the row's JSON object."""
    (only, *others) = predictions.values()
    if not others and explanation is None and only.ndim == 1:
        return _json_values(only)
    return _json_records(predictions, explanation, target_names)


def _explanation_objects(explanation: Explanation) -> list[list[bytes]]:
    """Per row, the explanation's JSON object and its bias (each keyed by class when several)."""
    rows = explanation.values.shape[0]
    names = [explanation.feature_names] * (explanation.values.ndim - 2)
    if explanation.class_names is None:
        values, bias = explanation.values[:, 0], explanation.bias[:, 0]
        bias_texts = _json_values(bias)
    else:
        values, bias = explanation.values, explanation.bias
        names = [explanation.class_names, *names]
        bias_template = _object_template([explanation.class_names])
        bias_texts = [_filled(bias_template, row) for row in _row_fields(bias, rows)]
    template = _object_template(names)
    return [[_filled(template, row) for row in _row_fields(values, rows)], bias_texts]


def _row_fields(values: np.ndarray, rows: int) -> list[list[bytes]]:
    """Each row's numbers as JSON texts, flattened in C order."""
    return [text[1:-1].split(b",") for text in _json_values(values.reshape(rows, -1))]


def _object_template(axes: Sequence[Sequence[str]]) -> list[bytes]:
    """The literal pieces of a JSON object nested by ``axes`` (names per axis), between which
    the values go in C order: ``{"a":{"x":`` v ``,"y":`` v ``},"b":{"x":`` ...``}}``."""
    if not axes:
        return [b"", b""]
    inner = _object_template(axes[1:])
    pieces = [b"{"]
    for position, name in enumerate(axes[0]):
        lead = (b"," if position else b"") + orjson.dumps(name) + b":"
        pieces[-1] += lead + inner[0]
        pieces.extend(inner[1:])
    pieces[-1] += b"}"
    return pieces


def _filled(template: list[bytes], values: list[bytes]) -> bytes:
    parts = [template[0]]
    for value, piece in zip(values, template[1:], strict=True):
        parts.append(value)
        parts.append(piece)
    return b"".join(parts)


def _csv_lines(
    predictions: Mapping[str, np.ndarray], explanation: Explanation | None
) -> list[bytes]:
    """One line per row (without its newline): the outputs, then for each class the
    explanation's values in training feature order (row by row for interactions) and the bias."""
    columns = list(predictions.values())
    if len(columns) == 1 and columns[0].dtype.kind == "f":
        # One numeric output: JSON's number text is CSV's.
        text = orjson.dumps(np.ascontiguousarray(columns[0]), option=_NUMPY)
        lines = text[1:-1].split(b",") if columns[0].ndim == 1 else text[2:-2].split(b"],[")
    else:
        fields: list[list[bytes]] = []
        for values in columns:
            if values.ndim == 2:
                fields.extend(_csv_fields(values[:, k]) for k in range(values.shape[1]))
            else:
                fields.append(_csv_fields(values))
        lines = [b",".join(row) for row in zip(*fields, strict=True)]
    if explanation is None:
        return lines
    rows, classes = explanation.bias.shape
    table = np.concatenate(
        [explanation.values.reshape(rows, classes, -1), explanation.bias[:, :, None]], axis=2
    )
    return [
        line + b"," + text[1:-1]
        for line, text in zip(lines, _json_values(table.reshape(rows, -1)), strict=True)
    ]


def _csv_fields(values: np.ndarray) -> list[bytes]:
    if values.dtype.kind in "fiu":
        return _json_values(values)
    return [_quoted(str(value)) for value in values.tolist()]


def _quoted(text: str) -> bytes:
    if any(character in text for character in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text.encode()

"""Snowflake external functions: the request and answer form Snowflake sends through its proxy
service (Amazon API Gateway) to ``/invocations``.

Snowflake posts ``{"data": [[0, a, b, ...], [1, a, b, ...]]}`` (``application/json``): one
array per row, its row number in the batch first, then the function's arguments in order,
here the model's features in training order. It expects ``{"data": [[0, result], ...]}``
back, one row per row sent, with the same row numbers. Values are encoded by ``metadata.json``
as in any other request (``features``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .bad_request import BadRequest

DATA_KEY = "data"


def is_external_function_request(document: Any) -> bool:
    """Whether a JSON document is Snowflake's form: an object whose only key is ``data``,
    holding an array (a record with a ``data`` column holds a value, not rows)."""
    return (
        isinstance(document, Mapping)
        and len(document) == 1
        and isinstance(document.get(DATA_KEY), list)
    )


def rows(document: Mapping[str, Any]) -> tuple[list[int], list[list]]:
    """The row numbers and the rows' arguments, or a one-line refusal of a malformed batch."""
    batch = document[DATA_KEY]
    if not batch:
        raise BadRequest('"data" holds no rows: send at least one [row number, arguments...].')
    numbers: list[int] = []
    arguments: list[list] = []
    for position, row in enumerate(batch):
        if not isinstance(row, list) or not row:
            raise BadRequest(
                f'"data"[{position}] is not an array: each row is [row number, arguments...].'
            )
        number = row[0]
        if isinstance(number, bool) or not isinstance(number, int):
            raise BadRequest(
                f'"data"[{position}] starts with {str(number)[:40]!r}, not a row number: each '
                "row is [row number, arguments...]."
            )
        numbers.append(number)
        arguments.append(row[1:])
    if len(set(numbers)) != len(numbers):
        raise BadRequest('"data" repeats a row number: number the rows of a batch once each.')
    widths = {len(row) for row in arguments}
    if len(widths) > 1:
        raise BadRequest(
            f'"data" rows have {min(widths)} to {max(widths)} arguments: every row needs one '
            "argument per feature, in training order."
        )
    return numbers, arguments


def answer(numbers: Sequence[int], results: Sequence[bytes]) -> bytes:
    """The answer body: each row number with its result (JSON text), in the request's order."""
    return (
        b'{"data":['
        + b",".join(
            b"[" + str(number).encode() + b"," + result + b"]"
            for number, result in zip(numbers, results, strict=True)
        )
        + b"]}"
    )

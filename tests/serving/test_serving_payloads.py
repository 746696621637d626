"""Request bodies -> the model's feature matrix, for every content type, and their refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb
from support.served_models import FEATURES

from snowflake_xgb.model_files.outputs import save_model
from snowflake_xgb.serving.bad_request import BadRequest
from snowflake_xgb.serving.model import load_model
from snowflake_xgb.serving.payloads import (
    CSV,
    JSON,
    JSONLINES,
    LIBSVM,
    parse,
    request_media_type,
)

ROWS = np.array([[1.5, 2.0, np.nan, 4.25, -5.0], [0.0, -1.0, 2.5, np.nan, 3.0]], np.float32)


def csv_text(rows: np.ndarray) -> bytes:
    return "".join(
        ",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n" for row in rows
    ).encode()


def records(rows: np.ndarray, names=FEATURES) -> list[dict]:
    return [
        {name: None if np.isnan(v) else float(v) for name, v in zip(names, row, strict=True)}
        for row in rows
    ]


def test_csv_rows_in_training_order_empty_field_missing(loaded):
    matrix = parse(csv_text(ROWS), CSV, loaded["regression"]).matrix
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, ROWS)


def test_csv_single_row_without_final_newline(loaded):
    matrix = parse(b"1,2,3,4,5", CSV, loaded["regression"]).matrix
    np.testing.assert_array_equal(matrix, [[1, 2, 3, 4, 5]])


def test_json_records_by_name_any_order_any_case_extra_columns_ignored(loaded):
    shuffled = [
        {"longitude": r["LONGITUDE"], "Latitude": r["LATITUDE"], "comment": "x", "MEDINC":
         r["MEDINC"], "averooms": r["AVEROOMS"], "HouseAge": r["HOUSEAGE"], "ID": 7}
        for r in records(ROWS)
    ]  # fmt: skip
    for body in (shuffled, {"instances": shuffled}):
        matrix = parse(json.dumps(body).encode(), JSON, loaded["regression"]).matrix
        np.testing.assert_array_equal(matrix, ROWS)


def test_json_one_record_and_positional_rows(loaded):
    model = loaded["regression"]
    np.testing.assert_array_equal(
        parse(json.dumps(records(ROWS)[0]).encode(), JSON, model).matrix, ROWS[:1]
    )
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in ROWS]
    np.testing.assert_array_equal(
        parse(json.dumps({"instances": rows}).encode(), JSON, model).matrix, ROWS
    )
    np.testing.assert_array_equal(parse(json.dumps(rows[0]).encode(), JSON, model).matrix, ROWS[:1])


def test_jsonlines_records_or_rows(loaded):
    model = loaded["regression"]
    lines = [json.dumps(record) for record in records(ROWS)]
    np.testing.assert_array_equal(parse("\n\n".join(lines).encode(), JSONLINES, model).matrix, ROWS)
    rows = [json.dumps([None if np.isnan(v) else float(v) for v in row]) for row in ROWS]
    np.testing.assert_array_equal(parse("\n".join(rows).encode(), JSONLINES, model).matrix, ROWS)


def test_libsvm_zero_based_label_ignored_absent_is_missing(loaded):
    body = b"1 0:1.5 1:2 3:4.25 4:-5\n0:0 1:-1 2:2.5 4:3\n"
    np.testing.assert_array_equal(parse(body, LIBSVM, loaded["regression"]).matrix, ROWS)


def test_quoted_feature_names_match_exactly(loaded):
    """Snowflake's rule: a "quoted" key matches the stored name exactly, unquoted ignores case."""
    body = json.dumps([{'"MEDINC"': 1, "houseage": 2, "AVEROOMS": 3, "latitude": 4,
                        "LONGITUDE": 5}]).encode()  # fmt: skip
    np.testing.assert_array_equal(parse(body, JSON, loaded["regression"]).matrix, [[1, 2, 3, 4, 5]])
    wrong_case = body.replace(b'"\\"MEDINC\\""', b'"\\"medinc\\""')
    with pytest.raises(BadRequest, match=r"no column for feature.*MEDINC"):
        parse(wrong_case, JSON, loaded["regression"])


def test_keys_for_features_that_differ_only_in_case_are_quoted_or_refused(tmp_path):
    names = ["MedInc", "medinc"]
    rows = np.random.default_rng(5).normal(size=(30, 2))
    booster = xgb.train({"nthread": 1}, xgb.DMatrix(rows, label=rows[:, 0], feature_names=names))
    save_model(tmp_path, booster, {"feature_names": names})
    model = load_model(tmp_path, threads=1)
    quoted = json.dumps([{'"medinc"': 2, '"MedInc"': 1}]).encode()
    np.testing.assert_array_equal(parse(quoted, JSON, model).matrix, [[1, 2]])
    with pytest.raises(BadRequest, match=r"'MEDINC' names features MedInc and medinc.*quotes"):
        parse(b'[{"MEDINC": 1, "medinc": 2}]', JSON, model)


@pytest.mark.parametrize(
    ("media_type", "body", "message"),
    [
        (CSV, b"1,2,3,4,5\n1,2,3\n", r"row 2 has 3 values; the model takes 5 features in"),
        (CSV, b"1,2,3,4,5,6\n", r"row 1 has 6 values; the model takes 5"),
        (CSV, b"1,2,abc,4,5\n", r"row 1, column 3 \(AVEROOMS\): 'abc' is not a number"),
        (CSV, b"  \n", r"the body is empty"),
        (JSON, b"", r"the body is empty"),
        (JSON, b"{not json", r"the body is not valid JSON"),
        (JSON, b'[{"MEDINC": 1}]', r"no column for feature\(s\) HOUSEAGE, AVEROOMS"),
        (JSON, b'[{"MEDINC": "abc", "HOUSEAGE": 1, "AVEROOMS": 1, "LATITUDE": 1, "LONGITUDE": 1}]',
         r"feature MEDINC: 'abc' is not a number"),
        (JSON, b'[{"medinc": 1, "MEDINC": 2}]', r"both name feature MEDINC"),
        (JSON, b"[[1,2,3,4,5],[1,2]]", r"rows have 2 to 5 values"),
        (JSON, b"[[1,2,3]]", r"rows have 3 values; the model takes 5"),
        (JSON, b'[{"MEDINC": 1}, [1]]', r"not a mix"),
        (JSON, b"[]", r"no rows"),
        (JSON, b'"text"', r"send a list of records"),
        (JSONLINES, b'{"MEDINC": 1}\n{oops\n', r"line 2 is not valid JSON"),
        (LIBSVM, b"0 0:1 7:2\n", r"line 1: feature index 7 is out of range.*0 to 4"),
        (LIBSVM, b"0 0:x\n", r"line 1: '0:x' is not index:value"),
    ],
)  # fmt: skip
def test_bad_bodies_say_what_to_fix(loaded, media_type, body, message):
    with pytest.raises(BadRequest, match=message) as refused:
        parse(body, media_type, loaded["regression"])
    assert refused.value.status == 400
    assert "\n" not in refused.value.message


def test_content_types(loaded):
    assert request_media_type("text/csv; charset=utf-8") == CSV
    assert request_media_type("Application/JSON") == JSON
    assert request_media_type("application/x-jsonlines") == JSONLINES
    assert request_media_type("text/x-libsvm") == LIBSVM
    for header, message in (
        (None, "no Content-Type"),
        ("text/plain", "text/plain is not supported"),
    ):
        with pytest.raises(BadRequest, match=message) as refused:
            request_media_type(header)
        assert refused.value.status == 415
        assert "send text/csv, application/json" in refused.value.message


def test_small_and_large_csv_bodies_read_the_same_values(loaded):
    """Small bodies of plain numbers are read in Python, others by Arrow: the same float32s,
    each the double rounded to float32 as training rounds Snowflake's FLOAT values."""
    rng = np.random.default_rng(3)
    doubles = rng.normal(size=(3, 5)) * 10.0 ** rng.integers(-8, 8, size=(3, 5))
    doubles[0, 1] = np.nan
    small = "".join(
        ",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n" for row in doubles
    ).encode()
    large = small * (20_000 // len(small) + 1)
    model = loaded["regression"]
    expected = doubles.astype(np.float32)
    np.testing.assert_array_equal(parse(small, CSV, model).matrix, expected)
    np.testing.assert_array_equal(parse(large, CSV, model).matrix[: len(doubles)], expected)
    spaced = small.replace(b",", b", ", 1)  # not a plain number: Arrow's reader decides
    with pytest.raises(BadRequest, match="is not a number"):
        parse(spaced, CSV, model)

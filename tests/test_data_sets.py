"""A job's data set names: the folds' names and their curves' names, made and read in one place."""

from __future__ import annotations

from snowflake_xgb.data_sets import (
    TRAIN_EVAL,
    VALIDATION_EVAL,
    fold_curve_data_set,
    fold_curve_name,
    fold_name,
)


def test_folds_are_named_from_one_and_their_curves_read_back() -> None:
    assert [fold_name(k) for k in range(3)] == ["fold-1", "fold-2", "fold-3"]
    assert fold_curve_name(fold_name(0), TRAIN_EVAL) == "fold-1-train"
    assert fold_curve_data_set(fold_curve_name(fold_name(9), VALIDATION_EVAL)) == VALIDATION_EVAL


def test_a_curve_that_is_not_a_folds_is_told_apart() -> None:
    for curve in (TRAIN_EVAL, VALIDATION_EVAL, "fold-x-train", "fold-1"):
        assert fold_curve_data_set(curve) is None

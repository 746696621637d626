"""The settings table: one parser for hyperparameters and API arguments (its reference page,
docs/settings.md, is checked in tests/test_docs.py)."""

from __future__ import annotations

import pytest

from snowflake_xgb.config import settings
from snowflake_xgb.errors import UserError


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("num_round", "50", 50),
        ("num_round", 7, 7),
        ("tracker_port", " 7001 ", 7001),
        ("validation_fraction", "0.25", 0.25),
        ("external_memory", "True", True),
        ("external_memory", False, False),
        ("exclude", "ID, AGE", ("ID", "AGE")),
        ("exclude", ["ID", '"Mixed Case"'], ("ID", '"Mixed Case"')),
        ("features", "", ()),
        ("table", "DB.PUBLIC.T", "DB.PUBLIC.T"),
        ("query", "SELECT 1;", "SELECT 1"),
        ("checkpoint_frequency", None, 10),
    ],
)
def test_values_parse_to_their_kind(name: str, value: object, expected: object) -> None:
    assert settings.parse(name, value) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("tracker_port", "0", "Hyperparameter tracker_port must be between 1 and 65535, got 0"),
        ("num_round", "ten", "Hyperparameter num_round must be a whole number"),
        ("num_round", True, "Hyperparameter num_round must be a whole number"),
        ("validation_fraction", "1", "must be between 0 and 1 (exclusive)"),
        ("external_memory", "maybe", "must be true or false"),
        ("table", "a b", "is not a valid Snowflake table name"),
        ("exclude", "I D", "'I D' is not a valid Snowflake column name"),
    ],
)
def test_bad_values_are_refused_naming_the_hyperparameter(
    name: str, value: object, message: str
) -> None:
    with pytest.raises(UserError) as raised:
        settings.parse(name, value)
    assert message in str(raised.value)


def test_api_arguments_are_named_as_arguments() -> None:
    with pytest.raises(UserError, match=r"^Argument tracker_port must be between 1 and 65535"):
        settings.parse("tracker_port", 0, settings.Origin.ARGUMENT)


def test_every_other_hyperparameter_goes_to_xgboost_except_the_sdks_own() -> None:
    params = settings.xgboost_params(
        {
            "num_round": "5",
            "eta": "0.1",
            "eval_metric": "rmse,mae",
            "sagemaker_program": "train.py",
            "_tuning_objective_metric": "validation:rmse",
        }
    )
    assert params == {"eta": "0.1", "eval_metric": ["rmse", "mae"]}

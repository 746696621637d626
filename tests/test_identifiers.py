"""Snowflake's name rules: which column a setting or a request field names (pure logic)."""

from __future__ import annotations

from snowflake_xgb.identifiers import columns_named

NAMES = ["MEDINC", "MedInc2", "Income", "income", "HOUSE AGE"]


def test_an_unquoted_name_is_the_upper_case_name_snowflake_stores() -> None:
    assert columns_named("medinc", NAMES) == ["MEDINC"]
    assert columns_named(" MedInc ", NAMES) == ["MEDINC"]


def test_a_quoted_name_matches_exactly_and_only_exactly() -> None:
    assert columns_named('"MedInc2"', NAMES) == ["MedInc2"]
    assert columns_named('"medinc2"', NAMES) == []
    assert columns_named('"MEDINC"', NAMES) == ["MEDINC"]


def test_an_unquoted_name_finds_a_mixed_case_column_that_differs_only_in_case() -> None:
    assert columns_named("medinc2", NAMES) == ["MedInc2"]
    assert columns_named("MedInc2", NAMES) == ["MedInc2"]
    assert columns_named("house age", NAMES) == ["HOUSE AGE"]


def test_columns_that_differ_only_in_case_are_ambiguous_unquoted() -> None:
    assert columns_named("INCOME", NAMES) == ["Income", "income"]
    assert columns_named('"income"', NAMES) == ["income"]


def test_a_name_of_no_column_matches_nothing() -> None:
    assert columns_named("price", NAMES) == []

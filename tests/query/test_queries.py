"""Column resolution and the SQL built from it (pure logic; no database)."""

from __future__ import annotations

import pytest

from snowflake_xgb.config.job_config import DataSpec, Source
from snowflake_xgb.errors import UserError
from snowflake_xgb.identifiers import quote
from snowflake_xgb.model_files.encoding import Kind
from snowflake_xgb.query.queries import (
    distinct_values_sql,
    group_sizes_sql,
    job_queries,
    select_columns,
    source_sql,
)
from snowflake_xgb.query.snowflake_session import Column

COLUMNS = [
    Column("ID", "FIXED"), Column("AGE", "FIXED"), Column("Income", "REAL"),
    Column("CITY", "TEXT"), Column("PRICE", "REAL"),
]  # fmt: skip


def config(**overrides) -> DataSpec:
    return DataSpec(source=Source(table="DB.S.T"), label="price", **overrides)


def test_unquoted_names_ignore_case_and_quoted_names_do_not() -> None:
    chosen = select_columns(COLUMNS, config(features=("age", '"Income"')))
    assert chosen.features == ("AGE", "Income") and chosen.label == "PRICE"
    with pytest.raises(UserError, match='"income"'):
        select_columns(COLUMNS, config(features=('"income"',)))


def test_a_quoted_mixed_case_column_is_found_by_its_name_in_any_case() -> None:
    columns = [Column("MedInc", "REAL"), Column("PRICE", "REAL")]
    for written in ("medinc", "MedInc", '"MedInc"'):
        assert select_columns(columns, config(features=(written,))).features == ("MedInc",)
    twins = [*columns, Column("MEDINC", "REAL"), Column("medinc", "REAL")]
    assert select_columns(twins, config(features=("medinc",))).features == ("MEDINC",)
    without_upper = [c for c in twins if c.name != "MEDINC"]
    with pytest.raises(UserError, match=r'differ only in case: write "MedInc" or "medinc"'):
        select_columns(without_upper, config(features=("medinc",)))


def test_default_features_are_all_but_label_and_excluded() -> None:
    chosen = select_columns(COLUMNS, config(exclude=("id", "city")))
    assert chosen.features == ("AGE", "Income")


def test_each_feature_gets_the_encoding_of_its_type() -> None:
    chosen = select_columns(COLUMNS, config(exclude=("id",)))
    kinds = [(f.name, f.kind) for f in chosen.encoding.features]
    assert kinds == [("AGE", Kind.NUMBER), ("Income", Kind.NUMBER), ("CITY", Kind.CATEGORY)]
    assert chosen.encoding.feature_types == ["q", "q", "c"]
    overridden = select_columns(COLUMNS, config(exclude=("id",), categorical=("age",)))
    assert overridden.encoding.features[0].kind is Kind.CATEGORY
    with pytest.raises(UserError, match=r"Column\(s\) ID \(numeric\) are not features"):
        select_columns(COLUMNS, config(exclude=("id",), numeric=("id",)))


def test_a_column_xgboost_cannot_read_is_refused_by_name() -> None:
    columns = [*COLUMNS, Column("PAYLOAD", "VARIANT")]
    with pytest.raises(UserError, match=r"Column PAYLOAD is VARIANT.*exclude=PAYLOAD"):
        select_columns(columns, config())


def test_weight_and_group_are_read_but_are_not_features() -> None:
    chosen = select_columns(COLUMNS, config(weight="age", query_group="city", exclude=("id",)))
    assert chosen.features == ("Income",)
    assert chosen.all == ("Income", "PRICE", "AGE", "CITY")
    with pytest.raises(UserError, match="Column AGE is the weight; remove it from features"):
        select_columns(COLUMNS, config(weight="age", features=("age", "id")))
    with pytest.raises(UserError, match=r"Column CITY \(weight\) is TEXT: it must be a number"):
        select_columns(COLUMNS, config(weight="city"))


def test_ranking_reads_rows_ordered_by_group_and_splits_whole_groups() -> None:
    chosen = select_columns(COLUMNS, config(query_group="id", exclude=("city",)))
    queries = job_queries(config(query_group="id", validation_fraction=0.25), chosen)
    order = 'ORDER BY "ID", "AGE", "Income", "PRICE"'
    assert queries.train.endswith(f'MOD(ABS(HASH("ID")), 1000000) >= 250000 {order}')
    assert queries.validation.endswith(f'MOD(ABS(HASH("ID")), 1000000) < 250000 {order}')
    assert group_sizes_sql("SELECT 1", "ID") == (
        'SELECT "ID" IS NULL, COUNT(*) FROM (SELECT 1) AS job_rows GROUP BY "ID" ORDER BY "ID"'
    )


def test_category_discovery_is_bounded() -> None:
    assert distinct_values_sql("SELECT 1", "CITY", 1001) == (
        'SELECT DISTINCT "CITY" FROM (SELECT 1) AS job_rows WHERE "CITY" IS NOT NULL LIMIT 1001'
    )


def test_missing_label_lists_the_columns_available() -> None:
    with pytest.raises(UserError, match=r"Column nope .*ID, AGE, Income, CITY, PRICE"):
        select_columns(COLUMNS, DataSpec(Source(table="T"), label="nope"))


def test_identifiers_are_quoted_and_escaped() -> None:
    assert quote('we"ird') == '"we""ird"'


def test_validation_fraction_splits_by_a_row_hash_into_complements() -> None:
    chosen = select_columns(COLUMNS, config(exclude=("id", "city")))
    queries = job_queries(config(validation_fraction=0.25), chosen)
    listed = '"AGE", "Income", "PRICE"'
    assert queries.train.startswith(f"SELECT {listed} FROM (SELECT * FROM DB.S.T)")
    assert queries.train.endswith(f"MOD(ABS(HASH({listed})), 1000000) >= 250000")
    assert queries.validation.endswith(f"MOD(ABS(HASH({listed})), 1000000) < 250000")


def test_user_query_is_wrapped_not_edited() -> None:
    chosen = select_columns(COLUMNS, config(exclude=("id", "city")))
    user_query = "SELECT * FROM T WHERE AGE > 3"
    queries = job_queries(DataSpec(Source(query=user_query), "price"), chosen)
    assert f"FROM ({user_query}) AS source_rows" in queries.train
    assert queries.validation is None


def test_tables_read_as_of_a_point_get_the_time_travel_clause() -> None:
    at_time = Source(table="DB.S.T", as_of="2026-11-27T09:30:00.123456+00:00")
    assert source_sql(at_time) == (
        "SELECT * FROM DB.S.T AT(TIMESTAMP => '2026-11-27T09:30:00.123456+00:00'::TIMESTAMP_TZ)"
    )
    at_query = Source(table="T", as_of="01b2c3d4-0000-1234-0000-00012345abcd")
    assert source_sql(at_query) == (
        "SELECT * FROM T AT(STATEMENT => '01b2c3d4-0000-1234-0000-00012345abcd')"
    )
    query = Source(query="SELECT 1 AS A")
    assert query.read_as_of("2026-11-27") == query  # a query runs as written

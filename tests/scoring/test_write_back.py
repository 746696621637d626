"""The write path's names and statements: the job's own table beside the target, its stage,
and the typed SELECT that makes it."""

from __future__ import annotations

import pytest

from snowflake_xgb.errors import UserError
from snowflake_xgb.query.snowflake_session import Column
from snowflake_xgb.scoring.scoring_model import OutputColumn
from snowflake_xgb.scoring.write_back import Tables, check_target, output_select


@pytest.mark.parametrize(
    ("target", "job_table", "stage"),
    [
        ("DB.S.SCORES", 'DB.S."SCORES_SCORING"', '@DB.S.%"SCORES_SCORING"'),
        ("scores", '"SCORES_SCORING"', '@%"SCORES_SCORING"'),
        ('db."My Scores"', 'db."My Scores_SCORING"', '@db.%"My Scores_SCORING"'),
    ],
)
def test_the_jobs_table_sits_beside_the_target_with_its_own_stage(
    target: str, job_table: str, stage: str
) -> None:
    tables = Tables.for_target(target)
    assert tables.job_table == job_table
    assert tables.job_table_stage == stage


def test_the_jobs_table_is_typed_by_a_select_without_rows() -> None:
    sql = output_select("SELECT * FROM T", ["id"], [OutputColumn("PREDICTION", "FLOAT")])
    assert (
        sql == 'SELECT "ID", CAST(NULL AS FLOAT) AS "PREDICTION" FROM (SELECT * FROM T) WHERE FALSE'
    )


def test_a_target_with_other_columns_is_refused_and_a_missing_one_accepted() -> None:
    wanted = [Column("ID", "FIXED"), Column("PREDICTION", "REAL")]
    check_target(None, wanted, "T")
    check_target(list(wanted), wanted, "T")
    with pytest.raises(UserError, match=r"T exists with other columns \(ID FIXED, SCORE REAL\)"):
        check_target([Column("ID", "FIXED"), Column("SCORE", "REAL")], wanted, "T")

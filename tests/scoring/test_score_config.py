"""``job=score``'s settings: what is required, what training-only settings it refuses."""

from __future__ import annotations

import pytest

from snowflake_xgb.config.job_config import Source
from snowflake_xgb.errors import UserError
from snowflake_xgb.scoring.score_config import is_scoring_job, parse_score_hyperparameters

VALID = {"job": "score", "table": "DB.S.T", "key": "ID", "target_table": "DB.S.SCORES"}


def test_a_valid_scoring_job_is_parsed() -> None:
    config = parse_score_hyperparameters({**VALID, "key": "ID, REGION", "contributions": "true"})
    assert config.source == Source(table="DB.S.T")
    assert config.keys == ("ID", "REGION")
    assert config.target_table == "DB.S.SCORES"
    assert config.contributions is True


def test_job_selects_scoring_and_defaults_to_training() -> None:
    assert is_scoring_job(VALID)
    assert not is_scoring_job({"table": "T"})
    with pytest.raises(UserError, match="job must be one of train, score"):
        is_scoring_job({"job": "predict"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table": None}, "Set the rows to score"),
        ({"query": "SELECT 1"}, "Set the rows to score"),
        ({"key": None}, "Set hyperparameter key"),
        ({"key": "ID,id"}, "key names a column twice"),
        ({"target_table": None}, "Set hyperparameter target_table"),
        ({"target_table": "a b"}, "not a valid Snowflake table name"),
        ({"label": "Y"}, "remove label"),
        ({"num_round": "10"}, "remove num_round"),
        ({"model_format": "native"}, "remove model_format"),
    ],
)
def test_bad_scoring_settings_are_refused_before_any_network_call(
    change: dict, message: str
) -> None:
    values = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    with pytest.raises(UserError, match=message):
        parse_score_hyperparameters(values)

"""XGBoost's learning parameters, checked by the installed XGBoost before any I/O: what passes,
which hyperparameter a refusal names, and what it tells the user to do.

Pure logic against the real XGBoost (no job, no stand-ins); the same refusals through the whole
``train`` command are in ``test_bad_input``.
"""

from __future__ import annotations

import re

import pytest

from snowflake_xgb.config.xgboost_params import PARAMETERS_URL, check_xgboost_params
from snowflake_xgb.errors import UserError


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"max_depth": "4", "eta": "0.3", "subsample": "0.8"},
        {"objective": "binary:logistic", "eval_metric": ["logloss", "auc"]},
        {"objective": "multi:softprob", "num_class": "3"},
        {"objective": "rank:ndcg", "lambdarank_pair_method": "topk"},
        {"booster": "gblinear", "lambda": "0.1", "updater": "coord_descent"},
        {"booster": "dart", "rate_drop": "0.1"},
        {"objective": "reg:quantileerror", "quantile_alpha": "[0.1, 0.5, 0.9]"},
        {"objective": "reg:expectileerror", "expectile_alpha": "0.5"},
    ],
    ids=lambda params: ",".join(params) or "none",
)
def test_parameters_xgboost_accepts_pass(params: dict) -> None:
    check_xgboost_params(params)


def test_an_unknown_name_is_refused_with_where_to_look() -> None:
    with pytest.raises(UserError) as refused:
        check_xgboost_params({"maxdepth": "6", "eta": "0.3"})
    message = str(refused.value)
    assert message.startswith("Unknown hyperparameter(s): maxdepth.")
    assert "eta" not in message.split(".")[0]  # only the names XGBoost does not use
    assert PARAMETERS_URL in message


def test_every_unknown_name_is_listed_in_order() -> None:
    with pytest.raises(UserError, match=r"Unknown hyperparameter\(s\): alpha_x, zeta\. "):
        check_xgboost_params({"zeta": "1", "alpha_x": "2"})


def test_a_parameter_of_another_booster_is_refused_as_unused() -> None:
    """``max_depth`` is a tree parameter: with the linear booster XGBoost would ignore it."""
    with pytest.raises(UserError, match=r"Unknown hyperparameter\(s\): max_depth\. "):
        check_xgboost_params({"booster": "gblinear", "max_depth": "4"})


@pytest.mark.parametrize(
    ("params", "named", "reason"),
    [
        ({"eta": "-1"}, "eta=-1", "should be greater equal to 0"),
        # XGBoost names the canonical alias (eta); the message keeps the user's spelling.
        ({"max_depth": "4", "learning_rate": "-1"}, "learning_rate=-1", "greater equal to 0"),
        ({"subsample": "2"}, "subsample=2", "exceed bound [0,1]"),
        ({"max_depth": "four"}, "max_depth=four", "expect int"),
        ({"objective": "reg:nonsense"}, "objective=reg:nonsense", "Unknown objective function"),
        ({"eval_metric": "nonsense"}, "eval_metric=nonsense", "Unknown metric function"),
        ({"tree_method": "gpu_hist"}, "tree_method=gpu_hist", "valid values are"),
        ({"objective": "multi:softmax"}, "objective=multi:softmax", "num_class"),
    ],
    ids=lambda case: case if isinstance(case, str) and "=" in case else None,
)
def test_a_value_xgboost_rejects_names_the_hyperparameter_and_the_reason(
    params: dict, named: str, reason: str
) -> None:
    with pytest.raises(UserError) as refused:
        check_xgboost_params(params)
    message = str(refused.value)
    assert message.startswith(f"Hyperparameter {named} is not valid for XGBoost: ")
    assert reason in message and message.endswith(f"See {PARAMETERS_URL}.")
    assert "\n" not in message
    assert not re.search(r"\[\d\d:\d\d:\d\d\]|/workspace/src/", message)  # XGBoost's log prefix


def test_a_value_valid_only_for_another_booster_is_named() -> None:
    """``grow_histmaker`` is a tree updater: with the linear booster, the updater is wrong."""
    with pytest.raises(UserError, match=r"^Hyperparameter updater=grow_histmaker is not valid"):
        check_xgboost_params({"booster": "gblinear", "updater": "grow_histmaker"})

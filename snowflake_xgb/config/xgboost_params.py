"""XGBoost's learning parameters, checked by XGBoost itself before any I/O.

Every hyperparameter that is not one of the job's own settings is handed to XGBoost. XGBoost
validates values (ranges, objective, tree method) and reports the names it does not use; an
unused name is almost always a typo or a parameter of another booster or objective, which
XGBoost would only warn about, so the job refuses it instead. No list of XGBoost's parameters
is kept here: the installed XGBoost is the reference.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import xgboost as xgb

from ..errors import UserError

PARAMETERS_URL = "https://xgboost.readthedocs.io/en/stable/parameter.html"
_UNUSED = re.compile(r"Parameters: \{ (.*?) \} are not used")


def _configure(params: dict[str, Any]) -> list[str]:
    """Configure a booster on a tiny matrix; return the names XGBoost says it does not use."""
    # A label, because some objectives (quantile, expectile) check its shape when configured;
    # 1 is a valid label for every objective.
    ones = np.ones((2, 2), dtype=np.float32)
    probe = xgb.DMatrix(ones, label=ones[:, 0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # num_feature stands in for the data XGBoost would otherwise want before configuring.
        xgb.Booster(
            {**params, "num_feature": 2, "validate_parameters": True}, [probe]
        ).save_config()
    unused: list[str] = []
    for warning in caught:
        for match in _UNUSED.finditer(str(warning.message)):
            unused += [name.strip().strip('"') for name in match.group(1).split(",")]
    return unused


def _reason(error: xgb.core.XGBoostError) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return re.sub(r"^\[[\d:]+\] \S+: ", "", lines[0] if lines else "")


def check_xgboost_params(params: dict[str, Any]) -> None:
    """Refuse values XGBoost rejects and names it does not use, naming the hyperparameter."""
    try:
        unused = _configure(params)
    except xgb.core.XGBoostError as error:
        # Name the hyperparameter as the user wrote it (XGBoost names the canonical alias).
        context = {k: v for k, v in params.items() if k in ("objective", "booster")}
        for name, value in params.items():
            try:
                _configure({**context, name: value})
            except xgb.core.XGBoostError:
                raise UserError(
                    f"Hyperparameter {name}={value} is not valid for XGBoost: {_reason(error)}. "
                    f"See {PARAMETERS_URL}."
                ) from None
        raise UserError(f"Invalid XGBoost hyperparameters: {_reason(error)}.") from None
    if unused:
        raise UserError(
            f"Unknown hyperparameter(s): {', '.join(sorted(unused))}. XGBoost does not use them "
            "with these settings (a typo, or a parameter of another booster or objective). Use "
            "this job's own settings (table, query, label, features, exclude, validation_*, "
            f"num_round, ...) or XGBoost's learning parameters ({PARAMETERS_URL})."
        )

"""The opt-in model file that AWS's SageMaker XGBoost serving images predict correctly.

AWS's images (1.7-1 with XGBoost 1.7.4, 3.0-5 with 3.0.5) read our model but predict wrongly:
from XGBoost 3.1 the intercept is saved as a vector string (``"base_score": "[4.92E-1]"``),
which older readers ignore, using 0.5 instead, without an error. And with their default
``SAGEMAKER_INFERENCE_ENSEMBLE=true`` they load every file in the model folder as a model, so
``metadata.json`` beside the model fails ``/ping``.

``model_format=aws-xgboost`` writes, for single-output models only (not multi-class, not
several label columns), the JSON model with a scalar intercept as the only file in the model
folder; the metadata goes to ``output/data``.
This module owns that conversion (pure) and the rule for which models it applies to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    import xgboost as xgb

NATIVE = "native"
AWS_XGBOOST = "aws-xgboost"
MODEL_FORMATS = (NATIVE, AWS_XGBOOST)

_VECTOR_INTERCEPT = re.compile(rb'"base_score":"\[([^\],]*)\]"')


def _refusal(what: str) -> UserError:
    return UserError(
        f"model_format={AWS_XGBOOST} writes single-output models only (AWS's XGBoost 1.7/3.0 "
        f"images read one intercept); this job trains {what}. Remove model_format, and serve "
        "the model with this image's own `serve`."
    )


def check_single_output(xgboost_params: Mapping[str, Any], label_columns: int = 1) -> None:
    """Refuse, before any work, a job that trains a model with several outputs."""
    if label_columns > 1:
        raise _refusal(f"a multi-output model ({label_columns} label columns)")
    objective = str(xgboost_params.get("objective", ""))
    num_class = str(xgboost_params.get("num_class", "0")).strip()
    if objective.startswith("multi:") or (num_class.isdigit() and int(num_class) > 1):
        raise _refusal(f"a multi-class model ({objective or 'num_class > 1'})")


def aws_xgboost_model(booster: xgb.Booster) -> bytes:
    """``booster`` as JSON with a scalar intercept, which XGBoost 1.7.x and 3.0.x read right."""
    parameters = json.loads(booster.save_config())["learner"]["learner_model_param"]
    if int(parameters.get("num_class", "0")) > 1 or int(parameters.get("num_target", "1")) > 1:
        raise _refusal("a model with several outputs")
    model = bytes(booster.save_raw(raw_format="json"))
    # Only the intercept's spelling changes: "[4.92E-1]" -> "4.92E-1" (the same float32).
    return _VECTOR_INTERCEPT.sub(rb'"base_score":"\1"', model, count=1)

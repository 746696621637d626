"""The opt-in model file that AWS's SageMaker XGBoost serving images predict correctly.

AWS's images (1.7-1 with XGBoost 1.7.4, 3.0-5 with 3.0.5) read our model but predict wrongly:
from XGBoost 3.1 the intercept is saved as a vector string (``"base_score": "[4.92E-1]"``),
which older readers ignore, using 0.5 instead, without an error. And with their default
``SAGEMAKER_INFERENCE_ENSEMBLE=true`` they load every file in the model folder as a model, so
``metadata.json`` beside the model fails ``/ping``.

``model_format=aws-xgboost`` writes, for single-output models only (not multi-class, not
several label columns), the JSON model with a scalar intercept as the only file in the model
folder; the metadata goes to ``output/data``.
A model from XGBoost 3.4 has the same JSON layout as one from 3.2, which all three images read;
only an objective newer than an image's XGBoost fails there ("Unknown objective function"):
such a job is refused when no image loads it, and warned about when some do not.
This module owns that conversion (pure) and the rules for which models it applies to.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    import xgboost as xgb


class ModelFormat(StrEnum):
    """The ``model_format`` setting: XGBoost's own model file, or the one AWS's images read."""

    NATIVE = "native"
    AWS_XGBOOST = "aws-xgboost"


# AWS's SageMaker XGBoost images and the XGBoost each serves with.
AWS_IMAGES = {"1.7-1": (1, 7, 4), "3.0-5": (3, 0, 5), "3.2-0": (3, 2, 0)}
# Objectives newer than one of those: the first XGBoost that has each (src/objective/ at the
# v1.7.4, v2.0.0, v3.2.0 and v3.3.0 tags of dmlc/xgboost).
OBJECTIVE_SINCE = {"reg:quantileerror": (2, 0, 0), "reg:expectileerror": (3, 3, 0)}

logger = logging.getLogger(__name__)

_VECTOR_INTERCEPT = re.compile(rb'"base_score":"\[([^\],]*)\]"')


def _refusal(what: str) -> UserError:
    return UserError(
        f"model_format={ModelFormat.AWS_XGBOOST} writes single-output models only (AWS's "
        f"XGBoost 1.7/3.0 images read one intercept); this job trains {what}. Remove "
        "model_format, and serve the model with this image's own `serve`."
    )


def check_single_output(xgboost_params: Mapping[str, Any], label_columns: int = 1) -> None:
    """Refuse, before any work, a job that trains a model with several outputs."""
    if label_columns > 1:
        raise _refusal(f"a multi-output model ({label_columns} label columns)")
    objective = str(xgboost_params.get("objective", ""))
    num_class = str(xgboost_params.get("num_class", "0")).strip()
    if objective.startswith("multi:") or (num_class.isdigit() and int(num_class) > 1):
        raise _refusal(f"a multi-class model ({objective or 'num_class > 1'})")


def images_without(objective: str) -> list[str]:
    """AWS's images whose XGBoost has no ``objective`` (and so cannot load its models)."""
    since = OBJECTIVE_SINCE.get(objective)
    return [image for image, xgboost in AWS_IMAGES.items() if since and xgboost < since]


def check_aws_images(xgboost_params: Mapping[str, Any]) -> None:
    """Refuse, before any work, an objective that none of AWS's images loads; name the images
    that cannot load it when only some cannot."""
    objective = str(xgboost_params.get("objective", ""))
    missing = images_without(objective)
    since = ".".join(map(str, OBJECTIVE_SINCE.get(objective, ())))
    if len(missing) == len(AWS_IMAGES):
        raise UserError(
            f"model_format={ModelFormat.AWS_XGBOOST}: objective={objective} (XGBoost {since}+) "
            f"loads in none of AWS's SageMaker XGBoost images ({', '.join(AWS_IMAGES)}). Remove "
            "model_format, and serve the model with this image's own `serve`."
        )
    if missing:
        logger.warning(
            "model_format=%s: objective=%s (XGBoost %s+) does not load in AWS's %s image; "
            "serve it with %s.",
            ModelFormat.AWS_XGBOOST,
            objective,
            since,
            " and ".join(missing),
            " or ".join(image for image in AWS_IMAGES if image not in missing),
        )


def aws_xgboost_model(booster: xgb.Booster) -> bytes:
    """``booster`` as JSON with a scalar intercept, which XGBoost 1.7.x and 3.0.x read right."""
    parameters = json.loads(booster.save_config())["learner"]["learner_model_param"]
    if int(parameters.get("num_class", "0")) > 1 or int(parameters.get("num_target", "1")) > 1:
        raise _refusal("a model with several outputs")
    model = bytes(booster.save_raw(raw_format="json"))
    # Only the intercept's spelling changes: "[4.92E-1]" -> "4.92E-1" (the same float32).
    return _VECTOR_INTERCEPT.sub(rb'"base_score":"\1"', model, count=1)

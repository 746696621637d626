"""The names of a job's data sets, in one place.

A data set has two names: what the job reads (``training``, ``validation``, ``fold-<k>``: the
keys of query ids, shard reports and log lines) and what XGBoost evaluates (``train``,
``validation``: the prefixes of the metric lines, ``train-rmse``, that SageMaker's metric
definitions and users' tuning jobs parse). A fold's curves are named for both
(``fold-1-train``, in the report and ``cv.json``).
"""

import re

TRAINING, VALIDATION = "training", "validation"
TRAIN_EVAL, VALIDATION_EVAL = "train", "validation"
# A fold's curves, in the report and cv.json: ``<fold>-<evaluated as>`` (``fold-1-train``).
_FOLD_CURVE = re.compile(r"^fold-(?P<fold>\d+)-(?P<evaluated_as>.+)$")


def fold_name(fold: int) -> str:
    """The data set name of cross-validation fold ``fold`` (0-based): ``fold-1``, ``fold-2``..."""
    return f"fold-{fold + 1}"


def fold_curve_name(fold: str, evaluated_as: str) -> str:
    """The name of fold ``fold``'s curve on one of its data sets: ``fold-1-train``."""
    return f"{fold}-{evaluated_as}"


def fold_curve_data_set(curve: str) -> str | None:
    """What a fold's curve was evaluated as (``train`` of ``fold-1-train``); None when
    ``curve`` is not a fold's."""
    match = _FOLD_CURVE.match(curve)
    return match["evaluated_as"] if match else None

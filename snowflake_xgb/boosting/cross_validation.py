"""k-fold cross-validation across the hosts, like ``xgboost.cv``: k boosters, round by round.

Fold ``k``'s booster trains on every other fold's rows and is evaluated on fold ``k``'s; every
host holds its exactly-once slice of each fold, so each round's update and metrics span all
hosts (XGBoost's collective). Each round the folds' metrics are aggregated as ``xgboost.cv``
does (mean and population standard deviation over the folds) into the history shape its
callbacks read, so XGBoost's own ``EarlyStopping`` stops over the folds' mean. (XGBoost's
callback container refuses its cross-validation mode when distributed, so this module drives the
callbacks itself.) The result (:class:`CVResult`) holds each fold's learning curves, the mean
and standard deviation per round and the rounds chosen; ``output/data/cv.json`` is its
serialisation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from ..data_sets import TRAIN_EVAL, VALIDATION_EVAL, fold_curve_name
from ..model_files.outputs import write_json
from . import interruption
from .callbacks import CVMetricPrinter, cv_metric_line
from .trained import best_iteration

logger = logging.getLogger(__name__)

CV_FILE_NAME = "cv.json"
RESTART_AFTER_STOP = (
    "Cross-validation saves no checkpoints: a restarted job cross-validates again (on the same "
    "rows when a checkpoint folder is configured)."
)

# One data set's history: metric name -> value per round.
History = dict[str, list[float]]


@dataclass(frozen=True)
class CVResult:
    """Cross-validation's outcome.

    ``folds[k]`` is fold ``k``'s history per data set (``train``, ``validation``), like
    ``xgb.train``'s ``evals_result``; ``mean``/``std`` are over the folds, per round, keyed
    ``<data set>-<metric>``; the chosen number of rounds is ``best_iteration + 1``.
    """

    fold_names: tuple[str, ...]
    folds: tuple[dict[str, History], ...]
    mean: dict[str, list[float]]
    std: dict[str, list[float]]
    best_iteration: int
    early_stopped: bool

    @property
    def best_rounds(self) -> int:
        return self.best_iteration + 1

    def evals_result(self) -> dict[str, History]:
        """Every fold's curves as data sets named ``<fold>-<data set>`` (``fold-1-train``)."""
        return {
            fold_curve_name(name, data_set): history
            for name, fold in zip(self.fold_names, self.folds, strict=True)
            for data_set, history in fold.items()
        }

    def best_scores(self) -> dict[str, float]:
        """Mean and standard deviation of each metric at the chosen round."""
        scores = {}
        for key in self.mean:
            scores[f"{key}-mean"] = self.mean[key][self.best_iteration]
            scores[f"{key}-std"] = self.std[key][self.best_iteration]
        return scores

    def to_json(self) -> dict[str, Any]:
        return {
            "folds": len(self.folds),
            "fold_names": list(self.fold_names),
            "rounds_trained": len(next(iter(self.mean.values()), [])),
            "best_iteration": self.best_iteration,
            "best_rounds": self.best_rounds,
            "early_stopped": self.early_stopped,
            "best_scores": self.best_scores(),
            "mean": self.mean,
            "std": self.std,
            "evals_result": self.evals_result(),
        }


def parse_eval_line(line: str) -> dict[str, dict[str, float]]:
    """``[3]\\ttrain-rmse:0.5\\tvalidation-rmse:0.6`` -> {"train": {"rmse": 0.5}, ...}."""
    scores: dict[str, dict[str, float]] = {}
    for item in line.split("\t")[1:]:
        name, value = item.rsplit(":", 1)
        data_set, metric = name.split("-", 1)
        scores.setdefault(data_set, {})[metric] = float(value)
    return scores


class _Fold:
    """One fold's booster and matrices, and its history."""

    def __init__(self, params: dict[str, Any], train: xgb.DMatrix, validation: xgb.DMatrix) -> None:
        self.train, self.validation = train, validation
        self.booster = xgb.Booster(params, [train, validation])
        self.history: dict[str, History] = {}

    def eval(self, iteration: int) -> str:
        line = self.booster.eval_set(
            [(self.train, TRAIN_EVAL), (self.validation, VALIDATION_EVAL)], iteration
        )
        for data_set, metrics in parse_eval_line(line).items():
            for metric, value in metrics.items():
                self.history.setdefault(data_set, {}).setdefault(metric, []).append(value)
        return line


class _Folds:
    """The folds as one model, as XGBoost's callbacks see the model of ``xgboost.cv``."""

    def __init__(self, folds: list[_Fold]) -> None:
        self.folds = folds

    def update(self, iteration: int) -> None:
        for fold in self.folds:
            fold.booster.update(fold.train, iteration)

    def eval(self, iteration: int) -> list[dict[str, dict[str, float]]]:
        return [parse_eval_line(fold.eval(iteration)) for fold in self.folds]

    def set_attr(self, **kwargs: Any) -> None:
        for fold in self.folds:
            fold.booster.set_attr(**kwargs)

    def attr(self, key: str) -> str | None:
        return self.folds[0].booster.attr(key)

    def num_boosted_rounds(self) -> int:
        return self.folds[0].booster.num_boosted_rounds()


def aggregate(
    scores: list[dict[str, dict[str, float]]],
) -> dict[str, dict[str, tuple[float, float]]]:
    """Each data set's metric over the folds: (mean, population std), as ``xgboost.cv``."""
    return {
        data_set: {
            metric: (
                float(np.mean([fold[data_set][metric] for fold in scores])),
                float(np.std([fold[data_set][metric] for fold in scores])),
            )
            for metric in metrics
        }
        for data_set, metrics in scores[0].items()
    }


def cross_validate(
    params: dict[str, Any],
    fold_matrices: Sequence[tuple[xgb.DMatrix, xgb.DMatrix]],
    fold_names: Sequence[str],
    num_round: int,
    early_stopping_rounds: int | None,
    print_metrics: bool,
) -> CVResult:
    """Train one booster per fold, round by round, on every host; the coordinator prints."""
    folds = _Folds([_Fold(params, train, validation) for train, validation in fold_matrices])
    callbacks: list[xgb.callback.TrainingCallback] = []
    if print_metrics:
        callbacks.append(CVMetricPrinter())
    if early_stopping_rounds:
        callbacks.append(xgb.callback.EarlyStopping(rounds=early_stopping_rounds))
    # Every host: stop at the same round. Cross-validation saves no checkpoints.
    callbacks.append(interruption.StopOnSignal(None, RESTART_AFTER_STOP))
    for callback in callbacks:
        callback.before_training(folds)
    history: dict[str, dict[str, list[tuple[float, float]]]] = {}
    stopped = False
    for iteration in range(num_round):
        folds.update(iteration)
        for data_set, metrics in aggregate(folds.eval(iteration)).items():
            for metric, score in metrics.items():
                history.setdefault(data_set, {}).setdefault(metric, []).append(score)
        # Every callback runs each round (StopOnSignal takes part in a collective step).
        stopped = any([c.after_iteration(folds, iteration, history) for c in callbacks])
        if stopped:
            break
    for callback in callbacks:
        callback.after_training(folds)
    best = best_iteration(folds)
    if print_metrics:
        # The chosen round's line once more, last: the value a metric definition (and so
        # automatic model tuning) takes from the log is the chosen round's.
        print(cv_metric_line(best, history), flush=True)
    mean = {
        f"{d}-{m}": [v[0] for v in values] for d, ms in history.items() for m, values in ms.items()
    }
    std = {
        f"{d}-{m}": [v[1] for v in values] for d, ms in history.items() for m, values in ms.items()
    }
    result = CVResult(
        tuple(fold_names),
        tuple(fold.history for fold in folds.folds),
        mean,
        std,
        best,
        stopped,
    )
    logger.info(
        "Cross-validation chose %d rounds: %s",
        result.best_rounds,
        ", ".join(f"{k} {v:.5f}" for k, v in result.best_scores().items() if math.isfinite(v)),
    )
    return result


def write_cv_results(output_data_dir: Path, result: CVResult, extra: dict[str, Any]) -> Path:
    """``output/data/cv.json``: the result, with the job's facts (query ids, rows per fold)."""
    path = output_data_dir / CV_FILE_NAME
    write_json(path, {**result.to_json(), **extra})
    return path

"""A multi-output model's metrics per label, each round, over every host's rows.

XGBoost evaluates a multi-output model with one number per metric (the mean over its
outputs). :class:`TargetMetrics` adds, after each round, each label's own value of the
metrics it knows (:data:`PER_TARGET`) to the history as data sets named
``<data set>-<label>`` (``validation-Y1-rmse``), so the metric lines, MLflow, ``metadata.json``
and the report show them. Sums are taken over the hosts (one ``allreduce`` per round), so
every host must run it. XGBoost's own metric stays last, so early stopping still follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xgboost as xgb


@dataclass(frozen=True)
class RowMetric:
    """A metric XGBoost computes row by row, computed the same way: each row's loss from its
    prediction and label, then the metric from the loss's weighted mean over the rows."""

    row_loss: Callable[[np.ndarray, np.ndarray], np.ndarray]
    from_mean: Callable[[np.ndarray], np.ndarray] = np.asarray


def _log_loss(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(y * np.log(np.clip(p, 1e-16, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-16, 1)))


PER_TARGET: dict[str, RowMetric] = {
    "rmse": RowMetric(lambda p, y: (p - y) ** 2, np.sqrt),
    "mae": RowMetric(lambda p, y: np.abs(p - y)),
    "logloss": RowMetric(_log_loss),
    "error": RowMetric(lambda p, y: ((p > 0.5) != (y > 0.5)).astype(np.float64)),
}


def target_data_set(data_set: str, label: str) -> str:
    """The history's name for one label's metrics on ``data_set``: ``validation-Y1``."""
    return f"{data_set}-{label}"


class TargetMetrics(xgb.callback.TrainingCallback):
    """Adds each label's metrics to the history after every round (on every host)."""

    def __init__(
        self,
        evals: Sequence[tuple[xgb.DMatrix, str]],
        labels: Sequence[str],
        host_sum: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self._evals = evals
        self._labels = tuple(labels)
        self._host_sum = host_sum

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        metric_names = {
            data_set: [m for m in metrics if m in PER_TARGET]
            for data_set, metrics in evals_log.items()
        }
        for matrix, data_set in self._evals:
            names = metric_names.get(data_set, [])
            if not names:
                continue
            values = self._per_target(model, matrix, names)
            for index, label in enumerate(self._labels):
                history = evals_log.setdefault(target_data_set(data_set, label), {})
                for position, name in enumerate(names):
                    history.setdefault(name, []).append(float(values[position, index]))
        for data_set in metric_names:  # XGBoost's own data sets last: early stopping reads them
            evals_log[data_set] = evals_log.pop(data_set)
        return False

    def _per_target(self, model: xgb.Booster, matrix: xgb.DMatrix, names: list[str]) -> np.ndarray:
        """(metrics, labels) values over every host's rows of ``matrix``."""
        targets = len(self._labels)
        predictions = model.predict(matrix).reshape(-1, targets).astype(np.float64)
        labels = matrix.get_label().reshape(-1, targets).astype(np.float64)
        weights = matrix.get_weight()
        weights = weights.astype(np.float64) if len(weights) else np.ones(len(labels))
        sums = np.array(
            [weights @ PER_TARGET[name].row_loss(predictions, labels) for name in names]
            + [np.full(targets, weights.sum())]
        )
        sums = self._host_sum(sums)
        means = sums[:-1] / np.maximum(sums[-1], np.finfo(np.float64).tiny)
        return np.array(
            [PER_TARGET[name].from_mean(mean) for name, mean in zip(names, means, strict=True)]
        )

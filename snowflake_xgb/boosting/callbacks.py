"""What the first host prints while training: one metric line per round, in XGBoost's form.

Cross-validation prints each metric's mean and standard deviation over the folds instead,
as ``<data set>-<metric>-mean`` and ``-std`` (``xgboost.cv``'s column names).
"""

from __future__ import annotations

from collections.abc import Sequence

import xgboost as xgb


def value_at_round(values: Sequence[float], index: int) -> float:
    """A metric's value at round ``index`` of its history (clamped to the rounds it has: a
    resumed job's history starts at the checkpoint, early stopping's ends past the best)."""
    return float(values[max(0, min(index, len(values) - 1))])


def final_metrics(evals_result: dict[str, dict[str, list[float]]], index: int) -> dict[str, float]:
    """``<data set>-<metric>`` -> its value at round ``index`` of the histories."""
    return {
        f"{data_set}-{metric}": value_at_round(values, index)
        for data_set, metrics in evals_result.items()
        for metric, values in metrics.items()
        if values
    }


class MetricPrinter(xgb.callback.TrainingCallback):
    """Prints ``[round]<TAB>train-rmse:...<TAB>validation-rmse:...``, one line per round.

    This is XGBoost's own monitor format, which SageMaker metric definitions parse; XGBoost's
    monitor itself prefixes a timestamp when distributed, so the coordinator prints instead.
    """

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        scores = "".join(
            f"\t{data_name}-{metric}:{values[-1]:.5f}"
            for data_name, metrics in evals_log.items()
            for metric, values in metrics.items()
        )
        # Rounds of a resumed job go on from the checkpoint's (XGBoost's epoch starts at 0).
        print(f"[{model.num_boosted_rounds() - 1}]{scores}", flush=True)
        return False


def cv_metric_line(iteration: int, history: dict) -> str:
    """``[round]<TAB>train-rmse-mean:...<TAB>train-rmse-std:...<TAB>validation-rmse-mean:...``."""
    scores = "".join(
        f"\t{data_set}-{metric}-mean:{values[iteration][0]:.5f}"
        f"\t{data_set}-{metric}-std:{values[iteration][1]:.5f}"
        for data_set, metrics in history.items()
        for metric, values in metrics.items()
    )
    return f"[{iteration}]{scores}"


class CVMetricPrinter(xgb.callback.TrainingCallback):
    """Prints :func:`cv_metric_line` each round of cross-validation (history of (mean, std))."""

    def after_iteration(self, model: object, epoch: int, evals_log: dict) -> bool:
        print(cv_metric_line(epoch, evals_log), flush=True)
        return False

"""What the first host prints while training: one metric line per round, in XGBoost's form."""

from __future__ import annotations

import xgboost as xgb


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

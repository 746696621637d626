"""What ``xgb.train`` leaves: the booster, its metric history and the round it resumed from;
the model as saved (cut at the best round) and the metrics at that round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import xgboost as xgb

from .callbacks import final_metrics


class _Model(Protocol):
    """A booster, or cross-validation's folds as one model (what XGBoost's callbacks see)."""

    def attr(self, key: str) -> str | None: ...
    def num_boosted_rounds(self) -> int: ...


def best_iteration(model: _Model) -> int:
    """The round a model ends at: early stopping's best (XGBoost's ``best_iteration``
    attribute, set by ``EarlyStopping``), else its last round."""
    best = model.attr("best_iteration")
    return int(best) if best is not None else model.num_boosted_rounds() - 1


@dataclass
class TrainedBooster:
    """A booster after training on every host (the same on each)."""

    booster: xgb.Booster
    evals_result: dict[str, Any] = field(default_factory=dict)
    first_round: int = 0  # rounds already in the checkpoint it resumed from

    @property
    def best_iteration(self) -> int:
        """The round the saved model ends at: early stopping's best, else the last."""
        return best_iteration(self.booster)

    @property
    def rounds_trained(self) -> int:
        return self.booster.num_boosted_rounds()

    def model(self) -> xgb.Booster:
        """The model to save: the booster cut after its best round."""
        if self.best_iteration + 1 < self.rounds_trained:
            return self.booster[: self.best_iteration + 1]
        return self.booster

    def final_metrics(self) -> dict[str, float]:
        """``<data set>-<metric>`` at the best round (the history starts at ``first_round``)."""
        return final_metrics(self.evals_result, self.best_iteration - self.first_round)

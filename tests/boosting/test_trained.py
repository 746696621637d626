"""The best round: early stopping's, else the last; the model as saved ends there."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from snowflake_xgb.boosting.trained import TrainedBooster, best_iteration


def _matrices() -> tuple[xgb.DMatrix, xgb.DMatrix]:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(200, 3))
    label = rows[:, 0] + rng.normal(scale=2.0, size=200)  # mostly noise: it stops early
    return xgb.DMatrix(rows[:100], label=label[:100]), xgb.DMatrix(rows[100:], label=label[100:])


def test_without_early_stopping_the_best_round_is_the_last() -> None:
    train, _ = _matrices()
    booster = xgb.train({"nthread": 1}, train, num_boost_round=7)
    assert best_iteration(booster) == 6
    assert TrainedBooster(booster).model().num_boosted_rounds() == 7


def test_early_stopping_ends_the_saved_model_at_its_best_round() -> None:
    train, validation = _matrices()
    params = {"nthread": 1, "eta": 1.0, "max_depth": 6}
    booster = xgb.train(
        params, train, 200, evals=[(validation, "validation")], early_stopping_rounds=2,
        verbose_eval=False,
    )  # fmt: skip
    best = best_iteration(booster)
    assert best == booster.best_iteration and booster.num_boosted_rounds() == best + 3
    assert TrainedBooster(booster).model().num_boosted_rounds() == best + 1

"""Per-label metrics of a multi-output model: each label's own weighted value of the metric,
added to the history after each round; XGBoost's own (mean) metric stays last, so early
stopping still follows it."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from snowflake_xgb.boosting.target_metrics import TargetMetrics


def test_each_label_gets_its_own_weighted_metric_and_xgboosts_stays_last() -> None:
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(400, 3)).astype(np.float32)
    labels = np.column_stack([rows[:, 0] * 2, rows[:, 1] > 0]).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, 400).astype(np.float32)
    train = xgb.DMatrix(rows, label=labels, weight=weights)
    history: dict = {}
    booster = xgb.train(
        {"eval_metric": ["rmse", "mae"], "multi_strategy": "multi_output_tree"},
        train, 4, evals=[(train, "train")], evals_result=history,
        callbacks=[TargetMetrics([(train, "train")], ("A", "B"), lambda sums: sums)],
        early_stopping_rounds=2, verbose_eval=False,
    )  # fmt: skip
    assert list(history) == ["train-A", "train-B", "train"]
    assert len(history["train-A"]["rmse"]) == len(history["train"]["rmse"]) == 4
    residuals = booster.predict(train) - labels
    for index, name in enumerate(("A", "B")):
        residual = residuals[:, index].astype(np.float64)
        rmse = np.sqrt(np.average(residual**2, weights=weights))
        mae = np.average(np.abs(residual), weights=weights)
        assert history[f"train-{name}"]["rmse"][-1] == pytest.approx(rmse, rel=1e-6)
        assert history[f"train-{name}"]["mae"][-1] == pytest.approx(mae, rel=1e-6)
    # XGBoost's own metric is over every label at once.
    overall = np.sqrt(np.average((residuals.astype(np.float64) ** 2).mean(1), weights=weights))
    assert history["train"]["rmse"][-1] == pytest.approx(overall, rel=1e-5)

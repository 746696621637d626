"""How well a model fits, compared as a user compares two models: the RMSE of each one's
predictions against the labels (``assert_fits_as_well``).
"""

from __future__ import annotations

import numpy as np
import xgboost as xgb


def predict(model: xgb.Booster, features: np.ndarray) -> np.ndarray:
    """The model's predictions for rows whose columns are the model's features, in order."""
    return model.predict(xgb.DMatrix(features, feature_names=model.feature_names))


def rmse(predictions: np.ndarray, label: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predictions - label) ** 2)))


def assert_fits_as_well(
    ours: np.ndarray, reference: np.ndarray, label: np.ndarray, within: float
) -> None:
    """Predictions ``ours`` fit ``label`` as well as ``reference`` do: their RMSEs differ by
    less than ``within`` of the reference's (0.01: one percent)."""
    ours_rmse, reference_rmse = rmse(ours, label), rmse(reference, label)
    assert abs(ours_rmse - reference_rmse) / reference_rmse < within, (
        f"RMSE {ours_rmse:.5f}, the reference's {reference_rmse:.5f}: more than {within:.0%} apart"
    )

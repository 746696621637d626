"""Raw margins -> class probabilities: the one sigmoid and softmax, for the report's counts
and for serving (both read margins of the same model).
"""

from __future__ import annotations

import numpy as np


def class_probabilities(margins: np.ndarray, num_class: int = 2) -> np.ndarray:
    """Raw margins (``predict(output_margin=True)``) -> one probability column per class.

    Two classes: the sigmoid of the margin gives columns (P(0), P(1)); more: the softmax of
    each row's margins (shifted by the row's largest, so no ``exp`` overflows).
    """
    margins = np.asarray(margins, dtype=np.float64)
    if num_class == 2:
        positive = 1.0 / (1.0 + np.exp(-margins.reshape(-1)))
        return np.column_stack([1.0 - positive, positive])
    margins = margins.reshape(-1, num_class)
    shifted = np.exp(margins - margins.max(axis=1, keepdims=True, initial=-np.inf))
    return shifted / shifted.sum(axis=1, keepdims=True)

"""Classification quality on validation rows spread over hosts, without moving a row.

Each host turns its own validation slice into fixed-size counts (:func:`count_scores`): a
confusion matrix, and for each class a histogram of its predicted probability over fixed bins,
split by whether the row truly is of that class (one-vs-rest). Counts add up, so one sum over
the hosts (:func:`sum_over_hosts`, a single allreduce) gives the counts of all validation rows,
and the ROC curve and its area follow from the summed histograms (:func:`roc_curves`), the
same on one host or many. The bins bound the curve's resolution, not its coverage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SCORE_BINS = 1000
BINARY_THRESHOLD = 0.5


def is_classification(objective: str) -> bool:
    """Objectives whose predictions are classes (``binary:*``, ``multi:*``)."""
    return objective.startswith(("binary:", "multi:"))


@dataclass(frozen=True)
class ScoreCounts:
    """Counts over some validation rows; counts of disjoint rows add up.

    ``confusion[true, predicted]`` counts rows; ``histograms[c, is_c, bin]`` counts rows whose
    probability of class ``c`` falls in ``bin`` of ``SCORE_BINS`` equal bins over [0, 1],
    ``is_c`` being 1 for rows truly of class ``c``. A binary problem keeps class 1 only.
    """

    confusion: np.ndarray
    histograms: np.ndarray

    @property
    def num_class(self) -> int:
        return self.confusion.shape[0]

    @property
    def rows(self) -> int:
        return int(self.confusion.sum())

    def flat(self) -> np.ndarray:
        return np.concatenate([self.confusion.ravel(), self.histograms.ravel()]).astype(np.float64)

    @classmethod
    def from_flat(cls, values: np.ndarray, num_class: int) -> ScoreCounts:
        values = np.rint(values).astype(np.int64)
        confusion = values[: num_class * num_class].reshape(num_class, num_class)
        histograms = values[num_class * num_class :].reshape(-1, 2, SCORE_BINS)
        return cls(confusion, histograms)


def count_scores(probabilities: np.ndarray, labels: np.ndarray) -> ScoreCounts:
    """The counts of these rows: predicted class probabilities (rows x classes), true classes.

    The predicted class is the most probable one (for two classes: P(1) >= 0.5); labels are
    rounded to classes (binary objectives accept probabilities as labels).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_class = probabilities.shape[1]
    truth = np.rint(np.asarray(labels, dtype=np.float64)).astype(np.int64).reshape(-1)
    if truth.size and (truth.min() < 0 or truth.max() >= num_class):
        raise ValueError(f"labels must be classes 0..{num_class - 1}")
    if num_class == 2:
        predicted = (probabilities[:, 1] >= BINARY_THRESHOLD).astype(np.int64)
    else:
        predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((num_class, num_class), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)

    classes = [1] if num_class == 2 else list(range(num_class))
    histograms = np.zeros((len(classes), 2, SCORE_BINS), dtype=np.int64)
    for index, cls in enumerate(classes):
        bins = np.clip((probabilities[:, cls] * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1)
        is_class = (truth == cls).astype(np.int64)
        np.add.at(histograms[index], (is_class, bins), 1)
    return ScoreCounts(confusion, histograms)


def sum_over_hosts(
    counts: ScoreCounts, allreduce_sum: Callable[[np.ndarray], np.ndarray]
) -> ScoreCounts:
    """The counts of every host's rows: ``allreduce_sum`` is the hosts' sum of an array."""
    return ScoreCounts.from_flat(allreduce_sum(counts.flat()), counts.num_class)


@dataclass(frozen=True)
class RocCurve:
    """One class against the rest: false and true positive rates from the strictest cut down."""

    positive_class: int
    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    area: float
    positives: int
    negatives: int


def roc_curves(counts: ScoreCounts) -> list[RocCurve]:
    """One ROC curve per kept class, cutting at each bin edge from 1 down to 0.

    Rows in one bin count as tied, so the area is the trapezoid rule's (like scikit-learn's
    ``roc_auc_score`` with ties), exact up to the bin width.
    """
    classes = [1] if counts.num_class == 2 else list(range(counts.num_class))
    curves = []
    for index, cls in enumerate(classes):
        negatives, positives = counts.histograms[index]
        # Cumulative counts above each cut, from the highest bin down; (0, 0) first.
        false_positives = np.concatenate([[0], np.cumsum(negatives[::-1])])
        true_positives = np.concatenate([[0], np.cumsum(positives[::-1])])
        fpr = false_positives / max(int(negatives.sum()), 1)
        tpr = true_positives / max(int(positives.sum()), 1)
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        if not negatives.sum() or not positives.sum():
            area = float("nan")  # undefined without both kinds of row
        curves.append(RocCurve(cls, fpr, tpr, area, int(positives.sum()), int(negatives.sum())))
    return curves

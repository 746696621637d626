"""Validation counts: confusion matrix and ROC from per-host counts that add up."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from snowflake_xgb.model_files.margins import class_probabilities
from snowflake_xgb.report.validation_scores import (
    SCORE_BINS,
    ScoreCounts,
    count_scores,
    roc_curves,
    sum_over_hosts,
)


def exact_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(a positive row scores above a negative one), ties counting half (Mann-Whitney)."""
    pos, neg = scores[positive], scores[~positive]
    above = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(above / (len(pos) * len(neg)))


def binary_rows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    margins = labels * 1.2 + rng.normal(size=n)
    return margins, labels


def test_binary_probabilities_are_the_sigmoid_of_the_margin() -> None:
    probabilities = class_probabilities(np.array([0.0, 2.0, -1.0]))
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities[:, 1], 1 / (1 + np.exp(-np.array([0.0, 2, -1]))))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1)


def test_multiclass_probabilities_are_the_softmax() -> None:
    margins = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, 0.0]])
    probabilities = class_probabilities(margins, 3)
    np.testing.assert_allclose(probabilities[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(probabilities[1], [1, 0, 0])  # no overflow


def test_a_host_without_validation_rows_counts_nothing_of_the_same_shape() -> None:
    for num_class in (2, 4):
        counts = count_scores(class_probabilities(np.zeros(0), num_class), np.zeros(0))
        assert counts.rows == 0 and counts.confusion.shape == (num_class, num_class)


def test_binary_confusion_matrix_counts_each_row_once() -> None:
    margins, labels = binary_rows(5000)
    counts = count_scores(class_probabilities(margins), labels)
    predicted = (margins >= 0).astype(int)
    for truth in (0, 1):
        for guess in (0, 1):
            expected = int(np.sum((labels == truth) & (predicted == guess)))
            assert counts.confusion[truth, guess] == expected
    assert counts.rows == 5000
    assert counts.histograms.shape == (1, 2, SCORE_BINS)
    assert counts.histograms[0, 1].sum() == labels.sum()


def test_roc_area_matches_the_exact_area_within_the_bin_width() -> None:
    margins, labels = binary_rows(3000, seed=1)
    probabilities = class_probabilities(margins)
    (curve,) = roc_curves(count_scores(probabilities, labels))
    assert abs(curve.area - exact_auc(probabilities[:, 1], labels == 1)) < 1e-3
    assert curve.false_positive_rate[0] == curve.true_positive_rate[0] == 0
    assert curve.false_positive_rate[-1] == curve.true_positive_rate[-1] == 1
    assert np.all(np.diff(curve.false_positive_rate) >= 0)
    assert (curve.positives, curve.negatives) == (labels.sum(), len(labels) - labels.sum())


def test_counts_of_slices_summed_equal_the_counts_of_all_rows() -> None:
    """What the hosts do: each counts its own slice, one sum gives the counts of all rows."""
    margins, labels = binary_rows(3001, seed=2)
    probabilities = class_probabilities(margins)
    whole = count_scores(probabilities, labels)
    cuts = [0, 1000, 1001, 3001]  # uneven slices, one of a single row
    slices = [count_scores(probabilities[a:b], labels[a:b]) for a, b in itertools.pairwise(cuts)]
    total = sum_over_hosts(slices[0], lambda flat: sum(s.flat() for s in slices))
    np.testing.assert_array_equal(total.confusion, whole.confusion)
    np.testing.assert_array_equal(total.histograms, whole.histograms)
    assert roc_curves(total)[0].area == roc_curves(whole)[0].area


def test_flat_form_round_trips() -> None:
    counts = count_scores(class_probabilities(np.random.default_rng(3).normal(size=(50, 3)), 3),
                          np.arange(50) % 3)  # fmt: skip
    again = ScoreCounts.from_flat(counts.flat(), 3)
    np.testing.assert_array_equal(again.confusion, counts.confusion)
    np.testing.assert_array_equal(again.histograms, counts.histograms)


def test_multiclass_gives_one_roc_per_class_and_argmax_predictions() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 2000)
    margins = np.eye(3)[labels] * 1.5 + rng.normal(size=(2000, 3))
    probabilities = class_probabilities(margins, 3)
    counts = count_scores(probabilities, labels)
    predicted = probabilities.argmax(axis=1)
    assert counts.confusion[2, 1] == np.sum((labels == 2) & (predicted == 1))
    curves = roc_curves(counts)
    assert [c.positive_class for c in curves] == [0, 1, 2]
    for curve in curves:
        exact = exact_auc(probabilities[:, curve.positive_class], labels == curve.positive_class)
        assert abs(curve.area - exact) < 1e-3


def test_perfect_and_reversed_rankings() -> None:
    labels = np.array([0, 0, 1, 1])
    (perfect,) = roc_curves(count_scores(class_probabilities(np.array([-3, -2, 2, 3])), labels))
    (reversed_,) = roc_curves(count_scores(class_probabilities(np.array([3, 2, -2, -3])), labels))
    assert perfect.area == 1.0 and reversed_.area == 0.0


def test_area_is_undefined_without_both_classes() -> None:
    (curve,) = roc_curves(count_scores(class_probabilities(np.array([0.1, 0.2])), [1, 1]))
    assert math.isnan(curve.area)


def test_labels_outside_the_classes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"classes 0\.\.1"):
        count_scores(class_probabilities(np.array([0.1, 0.2])), [0, 2])

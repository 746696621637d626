"""The training report's charts, as inline SVG markup (drawn with :mod:`report.svg_plot`).

One colour per data set role in every chart (train blue, validation orange) and per host.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data_sets import TRAIN_EVAL, VALIDATION_EVAL
from .svg_plot import (
    DASHED,
    DOTTED,
    FONT_SIZE,
    PALETTE,
    Canvas,
    legend_width,
    nice_ticks,
    plot_area,
    text_width,
    tick_labels,
)
from .validation_scores import RocCurve

MAX_IMPORTANCE_BARS = 20
GUESS_COLOR = "#999"


def _color(data_set: str, known: list[str]) -> str:
    """One colour per data set role, the same in every chart: train blue, validation orange."""
    if data_set not in known:
        known.append(data_set)
    return PALETTE[known.index(data_set) % len(PALETTE)]


def _left_margin(ticks: Sequence[float], extra: float = 0) -> float:
    """Room for the y tick labels (and ``extra``, an upright axis label)."""
    return 14 + extra + max(text_width(t) for t in tick_labels(ticks))


def learning_curve(
    metric: str,
    rounds: Sequence[int],
    lines: dict[str, Sequence[float]],
    folds: dict[str, list[Sequence[float]]],
    best_round: int | None,
) -> str:
    """One metric over the rounds: a line per data set; per role, faint fold lines and their
    mean (dashed) within one standard deviation (shaded)."""
    known = [TRAIN_EVAL, VALIDATION_EVAL]
    legend = [(name, _color(name, known), None, False) for name in lines]
    bands = []
    for role, fold_values in folds.items():
        color = _color(role, known)
        shortest = min(len(v) for v in fold_values)
        stacked = np.array([v[:shortest] for v in fold_values], dtype=float)
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
        bands.append((color, fold_values, rounds[:shortest], mean, std))
        legend += [(f"folds ({role})", color, None, False)]
        legend += [(f"folds' mean ({role})", color, DASHED, False)]
    if best_round is not None:
        legend.append(("best round", GUESS_COLOR, DOTTED, False))
    values = [float(v) for vs in lines.values() for v in vs]
    values += [float(v) for *_, mean, std in bands for v in (*(mean - std), *(mean + std))]
    values += [float(v) for _, fold_values, *_ in bands for vs in fold_values for v in vs]
    finite = [v for v in values if np.isfinite(v)] or [0.0]
    y_ticks = nice_ticks(min(finite), max(finite))
    x_low, x_high = rounds[0], max(rounds[-1], rounds[0] + 1)
    left, right, height = _left_margin(y_ticks), 470, 300
    canvas = Canvas(right + 20 + legend_width([label for label, *_ in legend]), height)
    area = plot_area(
        canvas, (left, 30, right, height - 40), (x_low, x_high), (y_ticks[0], y_ticks[-1])
    )
    area.y_axis(y_ticks)
    x_ticks = [t for t in nice_ticks(x_low, x_high, integer=True) if x_low <= t <= x_high]
    area.x_axis(x_ticks, "round")
    area.title(metric)
    for color, fold_values, fold_rounds, mean, std in bands:
        band = area.points(fold_rounds, mean - std) + area.points(fold_rounds, mean + std)[::-1]
        canvas.polygon(band, color, 0.15)
        for values_of_fold in fold_values:
            canvas.line(area.points(rounds, values_of_fold), color, 0.7, opacity=0.4)
        canvas.line(area.points(fold_rounds, mean), color, 1.6, DASHED)
    for name, values_of_line in lines.items():
        canvas.line(area.points(rounds, values_of_line), _color(name, known))
    if best_round is not None:
        x = area.x(best_round)
        canvas.line([(x, area.top), (x, area.bottom)], GUESS_COLOR, 1, DOTTED)
    canvas.legend(area.right + 14, area.top + 4, legend)
    return canvas.svg()


def feature_importance(
    features: Sequence[str], gain: Sequence[float], cover: Sequence[float]
) -> str:
    """Gain and cover per feature, side by side, the features with most gain on top."""
    order = np.argsort(-np.asarray(gain, dtype=float), kind="stable")[:MAX_IMPORTANCE_BARS]
    names = [features[i] for i in order]
    names_width = 10 + max(text_width(name) for name in names)
    panel, gap = 280, 30
    height = 70 + 20 * len(names)
    canvas = Canvas(names_width + 2 * panel + gap + 20, height)
    for index, (values, title) in enumerate(
        ((gain, "gain (average per split)"), (cover, "cover (average rows per split)"))
    ):
        shown = [float(values[i]) for i in order]
        ticks = nice_ticks(0, max(max(shown), 1e-12), 4)
        left = names_width + index * (panel + gap)
        area = plot_area(canvas, (left, 30, left + panel, height - 40), (0, ticks[-1]), (0, 1))
        area.x_axis(ticks)
        area.title(title)
        middles = area.categories(names, show=index == 0)
        for value, y in zip(shown, middles, strict=True):
            canvas.rect(area.left, y - 7, area.x(value) - area.left, 14, PALETTE[index])
    return canvas.svg()


def host_split(
    data_sets: dict[str, list[tuple[str, int, int]]], seconds: dict[str, list[float]]
) -> str:
    """Each data set's row range cut into the hosts' slices; load time per host beside it.

    ``data_sets`` maps a data set to ``(host, row_start, row_end)`` per host, ``seconds`` to
    the hosts' load times in the same order.
    """
    hosts = sorted({host for slices in data_sets.values() for host, _, _ in slices})
    colors = {host: PALETTE[i % len(PALETTE)] for i, host in enumerate(hosts)}
    names = list(data_sets)
    names_width = 10 + max(text_width(name) for name in names)
    height = 90 + 44 * len(names)
    split_width, timing_width, gap = 380, 220, 50
    canvas = Canvas(names_width + split_width + gap + timing_width + legend_width(hosts), height)
    last_row = max(end for slices in data_sets.values() for _, _, end in slices)
    ticks = nice_ticks(0, max(last_row, 1), 5, integer=True)
    split = plot_area(
        canvas, (names_width, 30, names_width + split_width, height - 50), (0, ticks[-1]), (0, 1)
    )
    split.x_axis(ticks, "row number in the query's result")
    split.title("rows read by each host (exactly once)")
    for name, y in zip(names, split.categories(names), strict=True):
        for host, start, end in data_sets[name]:
            x0, x1 = split.x(start), split.x(end)
            canvas.rect(x0, y - 14, x1 - x0, 28, colors[host], edge="white")
            label = f"{end - start:,}"
            if text_width(label, FONT_SIZE - 2) < x1 - x0:  # where it fits; the table has all
                canvas.text((x0 + x1) / 2, y, label, "middle", FONT_SIZE - 2, "white")
    longest = max(max(times) for times in seconds.values())
    ticks = nice_ticks(0, max(longest, 1e-3), 4)
    left = split.right + gap
    timing = plot_area(canvas, (left, 30, left + timing_width, height - 50), (0, ticks[-1]), (0, 1))
    timing.x_axis(ticks, "seconds")
    timing.title("load time per host")
    bar = 28 / max(len(hosts), 1)
    for name, y in zip(names, timing.categories(names, show=False), strict=True):
        for (host, _, _), value in zip(data_sets[name], seconds[name], strict=True):
            top = y - 14 + hosts.index(host) * bar  # the first host on top
            canvas.rect(timing.left, top, timing.x(value) - timing.left, bar, colors[host])
    canvas.legend(timing.right + 14, timing.top + 4, [(h, colors[h], None, True) for h in hosts])
    return canvas.svg()


def _blue(share: float) -> str:
    """White to dark blue as ``share`` goes from 0 to 1 (a count against the largest)."""
    light, dark = (247, 251, 255), (8, 48, 107)
    rgb = (round(a + (b - a) * share) for a, b in zip(light, dark, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str]) -> str:
    """Counts of true class (rows) against predicted class (columns), as shaded cells."""
    cell = max(44, 10 + max(text_width(name) for name in class_names))
    names_width = 30 + max(text_width(name) for name in class_names)
    size = cell * len(class_names)
    canvas = Canvas(names_width + size + 10, size + 60)
    largest = matrix.max() if matrix.size else 0
    top = 10
    for (row, column), count in np.ndenumerate(matrix):
        x, y = names_width + column * cell, top + row * cell
        canvas.rect(x, y, cell, cell, _blue(count / largest if largest else 0), edge="white")
        color = "white" if count > largest / 2 else "black"
        canvas.text(x + cell / 2, y + cell / 2, f"{count:,}", "middle", color=color)
    for index, name in enumerate(class_names):
        canvas.text(names_width - 5, top + (index + 0.5) * cell, name, "end")
        canvas.text(names_width + (index + 0.5) * cell, top + size + 10, name, "middle")
    canvas.text(names_width + size / 2, top + size + 28, "predicted", "middle")
    canvas.text(12, top + size / 2, "true", "middle", vertical=True)
    return canvas.svg()


def roc(curves: Sequence[RocCurve], class_names: Sequence[str]) -> str:
    """ROC curve(s) with their areas; the diagonal is a model that guesses."""
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    canvas = Canvas(360, 340)
    area = plot_area(canvas, (64, 12, 344, 292), (0, 1), (0, 1.01))
    area.y_axis(ticks, "true positive rate")
    area.x_axis(ticks, "false positive rate")
    canvas.line(area.points([0, 1], [0, 1]), GUESS_COLOR, 0.8, DOTTED)
    legend = []
    for index, curve in enumerate(curves):
        color = PALETTE[index % len(PALETTE)]
        canvas.line(area.points(curve.false_positive_rate, curve.true_positive_rate), color)
        label = f"class {class_names[curve.positive_class]} (AUC {curve.area:.4f})"
        legend.append((label, color, None, False))
    labels_width = legend_width([label for label, *_ in legend])
    bottom = area.bottom - 8 - (FONT_SIZE + 5) * len(legend)
    canvas.legend(area.right - labels_width, bottom + 8, legend)
    return canvas.svg()

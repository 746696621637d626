"""The training report's charts, drawn with matplotlib and returned as inline SVG markup.

Figures are built with matplotlib's object API (``Figure``, no pyplot), so rendering touches
no global backend state; style settings apply only inside :func:`_svg`. Text stays text in the
SVG (``svg.fonttype: none``): smaller files, and a browser can search and select it. Each
figure's element ids (and the references to them) get the figure's own prefix, so several SVGs
share one HTML page without two elements of the same id.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..data_sets import TRAIN_EVAL, VALIDATION_EVAL
from .validation_scores import RocCurve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib is imported where a chart is drawn, never at import: importing it creates its
# configuration and cache folders in the home folder.

_figure_numbers = itertools.count(1)
STYLE = {
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
MAX_IMPORTANCE_BARS = 20


# matplotlib's SVG names elements with id="..." and refers to them as url(#...) or href="#...".
_ID_OR_REFERENCE = re.compile(r'(\bid="|url\(#|href="#)')


def _svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML prolog), ready to inline in HTML."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    markup = buffer.getvalue()
    prefix = f"f{next(_figure_numbers)}-"
    return _ID_OR_REFERENCE.sub(lambda m: m[1] + prefix, markup[markup.index("<svg") :])


def _figure(width: float, height: float, columns: int = 1) -> tuple[Figure, list]:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(width, height), layout="constrained")
        axes = [figure.add_subplot(1, columns, i + 1) for i in range(columns)]
    return figure, axes


def _color(data_set: str, known: list[str]) -> str:
    """One colour per data set role, the same in every chart: train blue, validation orange."""
    if data_set not in known:
        known.append(data_set)
    return f"C{known.index(data_set) % 10}"


def learning_curve(
    metric: str,
    rounds: Sequence[int],
    lines: dict[str, Sequence[float]],
    folds: dict[str, list[Sequence[float]]],
    best_round: int | None,
) -> str:
    """One metric over the rounds: a line per data set; per role, faint fold lines and their
    mean (dashed) within one standard deviation (shaded)."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    figure, (axes,) = _figure(4.4, 3.0)
    known = [TRAIN_EVAL, VALIDATION_EVAL]
    with matplotlib.rc_context(STYLE):
        for name, values in lines.items():
            axes.plot(
                rounds[: len(values)], values, linewidth=1.6, label=name, color=_color(name, known)
            )
        for role, fold_values in folds.items():
            color = _color(role, known)
            for k, values in enumerate(fold_values):
                axes.plot(
                    rounds[: len(values)],
                    values,
                    linewidth=0.7,
                    alpha=0.4,
                    color=color,
                    label=f"folds ({role})" if k == 0 else None,
                )
            shortest = min(len(v) for v in fold_values)
            stacked = np.array([v[:shortest] for v in fold_values], dtype=float)
            mean, std = stacked.mean(axis=0), stacked.std(axis=0)
            axes.plot(
                rounds[:shortest],
                mean,
                linewidth=1.6,
                linestyle="--",
                color=color,
                label=f"folds' mean ({role})",
            )
            axes.fill_between(rounds[:shortest], mean - std, mean + std, color=color, alpha=0.15)
        if best_round is not None:
            axes.axvline(best_round, color="0.4", linestyle=":", linewidth=1, label="best round")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("round")
        axes.set_title(metric)
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return _svg(figure)


def feature_importance(
    features: Sequence[str], gain: Sequence[float], cover: Sequence[float]
) -> str:
    """Gain and cover per feature, side by side, the features with most gain on top."""
    import matplotlib

    order = np.argsort(-np.asarray(gain, dtype=float), kind="stable")[:MAX_IMPORTANCE_BARS]
    names = [features[i] for i in order][::-1]
    height = 1.2 + 0.22 * len(names)
    figure, (left, right) = _figure(7.2, height, columns=2)
    with matplotlib.rc_context(STYLE):
        for axes, values, title, color in (
            (left, gain, "gain (average per split)", "tab:blue"),
            (right, cover, "cover (average rows per split)", "tab:orange"),
        ):
            axes.barh(names, [values[i] for i in order][::-1], color=color)
            axes.set_title(title)
            axes.grid(axis="y", visible=False)
        right.set_yticklabels([])
    return _svg(figure)


def host_split(
    data_sets: dict[str, list[tuple[str, int, int]]], seconds: dict[str, list[float]]
) -> str:
    """Each data set's row range cut into the hosts' slices; load time per host beside it.

    ``data_sets`` maps a data set to ``(host, row_start, row_end)`` per host, ``seconds`` to
    the hosts' load times in the same order.
    """
    import matplotlib
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    figure, (split, timing) = _figure(8.0, 1.0 + 0.55 * len(data_sets), columns=2)
    colors = matplotlib.colormaps["tab10"]
    hosts = sorted({host for slices in data_sets.values() for host, _, _ in slices})
    with matplotlib.rc_context(STYLE):
        names = list(data_sets)[::-1]
        for y, name in enumerate(names):
            for host, start, end in data_sets[name]:
                color = colors(hosts.index(host) % 10)
                split.barh(y, end - start, left=start, color=color, edgecolor="white")
                if end > start:
                    split.text(
                        (start + end) / 2,
                        y,
                        f"{end - start:,}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white",
                    )
        split.set_yticks(range(len(names)), names)
        split.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        split.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        split.set_xlabel("row number in the query's result")
        split.set_title("rows read by each host (exactly once)")
        split.grid(axis="y", visible=False)
        bar_height = 0.8 / max(len(hosts), 1)
        for y, name in enumerate(names):
            for (host, _, _), value in zip(data_sets[name], seconds[name], strict=True):
                offset = ((len(hosts) - 1) / 2 - hosts.index(host)) * bar_height  # first on top
                timing.barh(y + offset, value, height=bar_height, color=colors(hosts.index(host)))
        timing.set_yticks(range(len(names)), [""] * len(names))
        timing.set_xlabel("seconds")
        timing.set_title("load time per host")
        timing.grid(axis="y", visible=False)
        handles = [Patch(color=colors(i % 10)) for i in range(len(hosts))]
        timing.legend(handles, hosts, fontsize=7, loc="lower right")
    return _svg(figure)


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str]) -> str:
    """Counts of true class (rows) against predicted class (columns), as shaded cells."""
    import matplotlib

    size = 1.6 + 0.5 * len(class_names)
    figure, (axes,) = _figure(size, size)
    with matplotlib.rc_context(STYLE):
        axes.pcolormesh(matrix, cmap="Blues", edgecolors="white", linewidth=1)  # vector cells
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(
                column + 0.5,
                row + 0.5,
                f"{count:,}",
                ha="center",
                va="center",
                color="white" if count > threshold else "black",
            )
        ticks = np.arange(len(class_names)) + 0.5
        axes.set_xticks(ticks, class_names)
        axes.set_yticks(ticks, class_names)
        axes.invert_yaxis()
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
        axes.set_aspect("equal")
        axes.grid(False)
        axes.tick_params(length=0)
        for spine in axes.spines.values():
            spine.set_visible(False)
    return _svg(figure)


def roc(curves: Sequence[RocCurve], class_names: Sequence[str]) -> str:
    """ROC curve(s) with their areas; the diagonal is a model that guesses."""
    import matplotlib

    figure, (axes,) = _figure(4.2, 4.0)
    with matplotlib.rc_context(STYLE):
        for curve in curves:
            axes.plot(
                curve.false_positive_rate,
                curve.true_positive_rate,
                linewidth=1.6,
                label=f"class {class_names[curve.positive_class]} (AUC {curve.area:.4f})",
            )
        axes.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=0.8)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.01)
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
        axes.legend(fontsize=8, loc="lower right")
    return _svg(figure)

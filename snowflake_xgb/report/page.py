"""The training report: one self-contained HTML page (``output/data/report.html``).

Built from a plain :class:`TrainingSummary`, which says everything the page shows: learning
curves per metric and data set, feature importance, the rows and load time of each host, the
data snapshot (query ids and times), parameters and library versions, and for classification
the confusion matrix and ROC curve on all validation rows. Every chart has a table of the same
numbers beside it. The page has no script and fetches nothing: charts are inline SVG
(:mod:`report.charts`), styles are inline.

Cross-validation folds enter the learning curves as data sets named ``fold-<k>-<role>``
(e.g. ``fold-1-train``, ``fold-1-validation``): each fold is drawn faint, with the folds' mean
and standard deviation per role drawn over them.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..boosting.callbacks import value_at_round
from ..data_sets import fold_curve_data_set
from ..model_files.outputs import write_atomically
from . import charts as report_charts
from .validation_scores import ScoreCounts, roc_curves

REPORT_FILE_NAME = "report.html"
IMPORTANCE_TYPES = ("gain", "cover")


@dataclass(frozen=True)
class HostRows:
    """The rows one host read of one data set (``[row_start, row_end)``), and how long it took."""

    host: str
    data_set: str
    row_start: int
    row_end: int
    load_seconds: float

    @property
    def rows(self) -> int:
        return self.row_end - self.row_start


@dataclass(frozen=True)
class QueryRecord:
    """One query the job trained on: the data snapshot, as Snowflake identifies it."""

    data_set: str
    query_id: str
    started_at: str | None = None  # when Snowflake started it (its clock, ISO 8601), when known
    read_as: str | None = None  # how a resumed job read it again, when it did


@dataclass(frozen=True)
class Classification:
    """Counts over all validation rows (summed over the hosts) and the classes' names."""

    counts: ScoreCounts
    class_names: Sequence[str]


@dataclass(frozen=True)
class TrainingSummary:
    """Everything the report shows, as plain values.

    ``evals_result`` is XGBoost's (data set -> metric -> one value per round), its first value
    being round ``first_round`` (a resumed job's continue from the checkpoint's).
    ``importance`` maps an importance type (``gain``, ``cover``) to a value per feature.
    """

    title: str
    objective: str
    label: str
    features: Sequence[str]
    evals_result: dict[str, dict[str, list[float]]]
    best_iteration: int | None
    rounds_trained: int
    importance: dict[str, dict[str, float]]
    host_slices: Sequence[HostRows]
    queries: Sequence[QueryRecord]
    parameters: dict[str, Any]
    versions: dict[str, str]
    first_round: int = 0
    classification: Classification | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def number(value: float) -> str:
    """How every number appears in the report's tables (6 significant digits, exact ints)."""
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if math.isnan(value):
        return "n/a"
    return f"{value:.6g}"


def _table(headers: Sequence[str] | None, rows: Iterable[Sequence[Any]], caption: str = "") -> str:
    def cell(value: Any, tag: str) -> str:
        text = number(value) if isinstance(value, (float, int, np.number)) else str(value)
        numeric = ' class="num"' if isinstance(value, (float, int, np.number)) else ""
        return f"<{tag}{numeric}>{html.escape(text)}</{tag}>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers or ())
    body = "".join("<tr>" + "".join(cell(v, "td") for v in row) + "</tr>" for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{title}{head}<tbody>{body}</tbody></table>"


def _section(section_id: str, title: str, *parts: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{"".join(parts)}</section>'


def _chart(svg: str) -> str:
    return f'<div class="chart">{svg}</div>'


def final_metrics(summary: TrainingSummary) -> dict[tuple[str, str], float]:
    """(data set, metric) -> its value at the best round (the model's last round)."""
    index = (
        summary.best_iteration - summary.first_round
        if summary.best_iteration is not None
        else summary.rounds_trained - summary.first_round - 1
    )
    return {
        (data_set, metric): value_at_round(values, index)
        for data_set, metrics in summary.evals_result.items()
        for metric, values in metrics.items()
        if values
    }


def _overview(summary: TrainingSummary) -> str:
    facts = [
        ("objective", summary.objective),
        ("label", summary.label),
        ("features", len(summary.features)),
        ("rounds trained", summary.rounds_trained),
        ("best round", "n/a" if summary.best_iteration is None else summary.best_iteration),
        ("hosts", len({s.host for s in summary.host_slices})),
    ]
    for data_set in dict.fromkeys(s.data_set for s in summary.host_slices):
        rows = sum(s.rows for s in summary.host_slices if s.data_set == data_set)
        facts.append((f"{data_set} rows", rows))
    metrics = sorted(final_metrics(summary).items())
    notes = "".join(f"<p class='note'>{html.escape(note)}</p>" for note in summary.notes)
    return _section(
        "overview",
        "Overview",
        notes,
        _table(None, facts),
        _table(
            ["data set", "metric", "value at the best round"],
            [(data_set, metric, value) for (data_set, metric), value in metrics],
            "Final metrics",
        ),
    )


def _learning_curves(summary: TrainingSummary) -> str:
    metrics = list(dict.fromkeys(m for ms in summary.evals_result.values() for m in ms))
    if not metrics:
        return _section("learning-curves", "Learning curves", "<p>No metrics were recorded.</p>")
    length = max(len(v) for ms in summary.evals_result.values() for v in ms.values())
    rounds = list(range(summary.first_round, summary.first_round + length))
    charts = []
    for metric in metrics:
        lines: dict[str, list[float]] = {}
        folds: dict[str, list[list[float]]] = {}
        for data_set, values in summary.evals_result.items():
            if metric not in values:
                continue
            role = fold_curve_data_set(data_set)
            if role:
                folds.setdefault(role, []).append(values[metric])
            else:
                lines[data_set] = values[metric]
        charts.append(
            _chart(
                report_charts.learning_curve(metric, rounds, lines, folds, summary.best_iteration)
            )
        )
    columns = [(d, m) for d, ms in summary.evals_result.items() for m in ms]
    per_round = _table(
        ["round"] + [f"{d}-{m}" for d, m in columns],
        (
            [rounds[i]]
            + [
                float(summary.evals_result[d][m][i]) if i < len(summary.evals_result[d][m]) else ""
                for d, m in columns
            ]
            for i in range(length)
        ),
    )
    return _section(
        "learning-curves",
        "Learning curves",
        '<div class="row">',
        *charts,
        "</div>",
        f"<details><summary>Values per round</summary>{per_round}</details>",
    )


def _feature_importance(summary: TrainingSummary) -> str:
    values = {
        kind: [float(summary.importance.get(kind, {}).get(f, 0.0)) for f in summary.features]
        for kind in IMPORTANCE_TYPES
    }
    order = np.argsort(-np.asarray(values["gain"]), kind="stable")
    rows = [(summary.features[i], values["gain"][i], values["cover"][i]) for i in order]
    return _section(
        "feature-importance",
        "Feature importance",
        "<p>XGBoost's <em>gain</em> (average loss reduction of the splits on a feature) and "
        "<em>cover</em> (average number of rows those splits decide); 0 for unused features.</p>",
        _chart(report_charts.feature_importance(summary.features, values["gain"], values["cover"])),
        _table(["feature", "gain", "cover"], rows),
    )


def _host_slices(summary: TrainingSummary) -> str:
    data_sets: dict[str, list[tuple[str, int, int]]] = {}
    seconds: dict[str, list[float]] = {}
    for s in summary.host_slices:
        data_sets.setdefault(s.data_set, []).append((s.host, s.row_start, s.row_end))
        seconds.setdefault(s.data_set, []).append(s.load_seconds)
    rows = [
        (s.data_set, s.host, s.rows, f"[{s.row_start:,}, {s.row_end:,})", s.load_seconds)
        for s in summary.host_slices
    ]
    return _section(
        "hosts",
        "Rows and load time per host",
        "<p>Each host reads its own contiguous range of each query's result, every row exactly "
        "once.</p>",
        _chart(report_charts.host_split(data_sets, seconds)) if data_sets else "",
        _table(["data set", "host", "rows", "row range", "load seconds"], rows),
    )


def _snapshot(summary: TrainingSummary) -> str:
    rows = [
        (q.data_set, q.query_id, q.started_at or "not recorded", q.read_as or "as submitted")
        for q in summary.queries
    ]
    return _section(
        "snapshot",
        "Data snapshot",
        "<p>The Snowflake queries the model was trained on; a query id opens its result (for "
        "24 hours) and its history in Snowflake.</p>",
        _table(["data set", "query id", "started by Snowflake", "read"], rows),
    )


def _classification(classification: Classification) -> str:
    counts = classification.counts
    names = list(classification.class_names)
    curves = roc_curves(counts)
    matrix = _table(
        ["true \\ predicted", *names],
        ([names[i], *(int(c) for c in row)] for i, row in enumerate(counts.confusion)),
        "Confusion matrix (rows: true class)",
    )
    areas = _table(
        ["positive class", "AUC", "positive rows", "negative rows"],
        [(names[c.positive_class], c.area, c.positives, c.negatives) for c in curves],
        "ROC",
    )
    correct = int(np.trace(counts.confusion))
    accuracy = correct / counts.rows if counts.rows else float("nan")
    rule = "P(class 1) >= 0.5" if counts.num_class == 2 else "the most probable class"
    return _section(
        "classification",
        "Validation: confusion matrix and ROC",
        f"<p>All {counts.rows:,} validation rows, predicted on the host that read them; the "
        f"predicted class is {html.escape(rule)}. Accuracy {number(accuracy)}.</p>",
        '<div class="row">',
        _chart(report_charts.confusion_matrix(counts.confusion, names)),
        _chart(report_charts.roc(curves, names)),
        "</div>",
        matrix,
        areas,
    )


def _parameter_text(value: Any) -> str:
    """As it was given: a list (``eval_metric=rmse,mae``) comma-separated."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _parameters(summary: TrainingSummary) -> str:
    return _section(
        "parameters",
        "Parameters and library versions",
        _table(
            ["parameter", "value"],
            sorted((k, _parameter_text(v)) for k, v in summary.parameters.items()),
            "Parameters",
        ),
        _table(["library", "version"], sorted(summary.versions.items()), "Library versions"),
    )


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;
 padding:1.5em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
 margin-top:1.8em}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}caption{text-align:left;
 font-weight:600;padding:.3em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}td.num{text-align:right;
 font-variant-numeric:tabular-nums}thead th{background:#f4f4f4}
.chart svg{max-width:100%;height:auto}.row{display:flex;flex-wrap:wrap;gap:1em;
 align-items:flex-start}
nav a{margin-right:1em}.note{background:#fff6d6;padding:.4em .8em;border-radius:4px}
details{margin:.8em 0}summary{cursor:pointer}
"""


def render_report(summary: TrainingSummary) -> str:
    """The whole page, as text."""
    sections = [
        _overview(summary),
        _learning_curves(summary),
        _feature_importance(summary),
        _host_slices(summary),
        _snapshot(summary),
    ]
    if summary.classification is not None:
        sections.append(_classification(summary.classification))
    sections.append(_parameters(summary))
    nav = "".join(
        f'<a href="#{m[1]}">{m[2]}</a>'
        for m in (re.match(r'<section id="([^"]+)"><h2>(.*?)</h2>', s) for s in sections)
    )
    title = html.escape(summary.title)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1><nav>{nav}</nav>{''.join(sections)}</body></html>\n"
    )


def write_report(output_data_dir: Path, summary: TrainingSummary) -> Path:
    """Write ``report.html`` whole (or not at all) into the job's output data folder."""
    path = output_data_dir / REPORT_FILE_NAME
    write_atomically(path, render_report(summary).encode())
    return path

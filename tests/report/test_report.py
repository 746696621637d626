"""The training report built from known numbers: each section shows those numbers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from support.report_dom import ReportDom

from snowflake_xgb.model_files.margins import class_probabilities
from snowflake_xgb.report.page import (
    Classification,
    HostRows,
    QueryRecord,
    TrainingSummary,
    number,
    render_report,
    write_report,
)
from snowflake_xgb.report.validation_scores import count_scores, roc_curves

ODD_FEATURE = "<b>odd</b> & co"


def regression_summary(**changes) -> TrainingSummary:
    values = dict(
        title="Training report: housing",
        objective="reg:squarederror",
        label="MEDHOUSEVAL",
        features=["MEDINC", "HOUSEAGE", ODD_FEATURE],
        evals_result={
            "train": {"rmse": [3.0, 2.0, 1.5, 1.25]},
            "validation": {"rmse": [3.125, 2.25, 1.875, 2.0]},
        },
        best_iteration=2,
        rounds_trained=4,
        importance={
            "gain": {"MEDINC": 12.5, "HOUSEAGE": 3.25},
            "cover": {"MEDINC": 100.0, "HOUSEAGE": 40.0},
        },
        host_slices=[
            HostRows("algo-1", "training", 0, 600, 1.25),
            HostRows("algo-2", "training", 600, 1000, 2.5),
            HostRows("algo-1", "validation", 0, 100, 0.5),
            HostRows("algo-2", "validation", 100, 250, 0.75),
        ],
        queries=[
            QueryRecord("training", "01bc-0000-aaaa", "2026-11-27T20:00:01.000Z"),
            QueryRecord("validation", "01bc-0000-bbbb", read_as="reopened by id"),
        ],
        parameters={
            "max_depth": 5,
            "objective": "reg:squarederror",
            "eval_metric": ["rmse", "mae"],
        },
        versions={"xgboost": "3.2.0", "python": "3.11.7"},
    )
    values.update(changes)
    return TrainingSummary(**values)


def test_sections_in_reading_order_and_nothing_fetched() -> None:
    dom = ReportDom(render_report(regression_summary()))
    assert list(dom.sections) == [
        "overview", "learning-curves", "feature-importance", "hosts", "snapshot", "parameters",
    ]  # fmt: skip
    assert dom.title == "Training report: housing"
    # Self-contained: no script, no stylesheet or image to load, no link off the page.
    assert dom.fetched == []
    assert not {"script", "link", "img", "iframe", "object"} & dom.elements
    # Several inline SVGs share the page: no id may be defined twice.
    assert [i for i, n in Counter(dom.ids).items() if n > 1] == []


def test_overview_holds_the_rows_rounds_and_final_metrics() -> None:
    overview = ReportDom(render_report(regression_summary())).sections["overview"]
    facts = dict(row for row in overview.table("objective"))
    assert facts["rounds trained"] == "4"
    assert facts["best round"] == "2"
    assert facts["hosts"] == "2"
    assert facts["training rows"] == "1,000" and facts["validation rows"] == "250"
    finals = {(r["data set"], r["metric"]): r["value at the best round"]
              for r in overview.rows("Final metrics")}  # fmt: skip
    assert finals == {("train", "rmse"): "1.5", ("validation", "rmse"): "1.875"}


def test_learning_curves_draw_each_metric_and_list_every_round() -> None:
    section = ReportDom(render_report(regression_summary())).sections["learning-curves"]
    assert section.charts == 1
    assert {"rmse", "train", "validation", "best round", "round"} <= set(section.chart_texts)
    rows = section.rows("round")
    assert [r["round"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[3] == {"round": "3", "train-rmse": "1.25", "validation-rmse": "2"}


def test_a_resumed_job_numbers_rounds_from_the_checkpoint() -> None:
    summary = regression_summary(first_round=10, best_iteration=12, rounds_trained=14)
    dom = ReportDom(render_report(summary))
    assert [r["round"] for r in dom.sections["learning-curves"].rows("round")] == [
        "10", "11", "12", "13",
    ]  # fmt: skip
    finals = dom.sections["overview"].rows("Final metrics")
    assert {r["value at the best round"] for r in finals} == {"1.5", "1.875"}


def test_cross_validation_folds_are_drawn_with_their_mean() -> None:
    folds = {
        f"fold-{k}-{role}": {"rmse": [3.0 + k, 2.0 + k, 1.0 + k]}
        for k in (1, 2, 3)
        for role in ("train", "validation")
    }
    summary = regression_summary(evals_result=folds, best_iteration=1, rounds_trained=3)
    section = ReportDom(render_report(summary)).sections["learning-curves"]
    assert {"folds (train)", "folds (validation)", "folds' mean (validation)"} <= set(
        section.chart_texts
    )
    assert section.rows("round")[1]["fold-3-validation-rmse"] == "5"


def test_feature_importance_lists_every_feature_by_gain() -> None:
    dom = ReportDom(render_report(regression_summary()))
    section = dom.sections["feature-importance"]
    assert section.rows("feature") == [
        {"feature": "MEDINC", "gain": "12.5", "cover": "100"},
        {"feature": "HOUSEAGE", "gain": "3.25", "cover": "40"},
        {"feature": ODD_FEATURE, "gain": "0", "cover": "0"},
    ]
    assert section.charts == 1 and ODD_FEATURE in section.chart_texts
    assert "b" not in dom.elements  # a column name is text, never markup


def test_hosts_section_draws_the_exactly_once_split() -> None:
    section = ReportDom(render_report(regression_summary())).sections["hosts"]
    assert section.charts == 1
    assert {"600", "400", "100", "150", "algo-1", "algo-2"} <= set(section.chart_texts)
    assert section.rows("host")[1] == {
        "data set": "training", "host": "algo-2", "rows": "400", "row range": "[600, 1,000)",
        "load seconds": "2.5",
    }  # fmt: skip


def test_snapshot_lists_the_query_ids_and_times() -> None:
    rows = ReportDom(render_report(regression_summary())).sections["snapshot"].rows("query id")
    assert [tuple(r.values()) for r in rows] == [
        ("training", "01bc-0000-aaaa", "2026-11-27T20:00:01.000Z", "as submitted"),
        ("validation", "01bc-0000-bbbb", "not recorded", "reopened by id"),
    ]


def test_parameters_and_versions() -> None:
    section = ReportDom(render_report(regression_summary())).sections["parameters"]
    assert dict(section.table("Parameters")[1:]) == {
        "max_depth": "5", "objective": "reg:squarederror", "eval_metric": "rmse,mae",
    }  # fmt: skip
    assert dict(section.table("Library versions")[1:])["xgboost"] == "3.2.0"


def test_classification_section_shows_the_counts_and_the_roc_area() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 800)
    counts = count_scores(class_probabilities(labels * 1.5 + rng.normal(size=800)), labels)
    summary = regression_summary(
        objective="binary:logistic", classification=Classification(counts, ["no", "yes"])
    )
    dom = ReportDom(render_report(summary))
    assert list(dom.sections)[-2:] == ["classification", "parameters"]
    section = dom.sections["classification"]
    assert section.charts == 2
    matrix = section.rows("Confusion matrix (rows: true class)")
    assert [[r["no"], r["yes"]] for r in matrix] == [
        [f"{c:,}" for c in row] for row in counts.confusion.tolist()
    ]
    (curve,) = roc_curves(counts)
    assert section.rows("ROC") == [
        {"positive class": "yes", "AUC": number(curve.area),
         "positive rows": f"{labels.sum():,}", "negative rows": f"{800 - labels.sum():,}"}
    ]  # fmt: skip
    assert f"All {800:,} validation rows" in section.text
    assert f"Accuracy {number(np.trace(counts.confusion) / 800)}" in section.text
    assert any(text.startswith("class yes (AUC ") for text in section.chart_texts)


def test_write_report_leaves_one_whole_file(tmp_path: Path) -> None:
    path = write_report(tmp_path, regression_summary())
    assert path == tmp_path / "report.html"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert ReportDom(path.read_text()).sections["overview"].charts == 0

"""The report's SVG canvas: axes a reader can read (round ticks, labels written exactly) and
text that stays text."""

from __future__ import annotations

import pytest
from support.report_dom import ReportDom

from snowflake_xgb.report.svg_plot import Canvas, nice_ticks, plot_area, tick_labels


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (0.0, 1.0, False, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (1.25, 3.125, False, [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]),
        (0, 1000, True, [0, 250, 500, 750, 1000]),
        (0, 3, True, [0, 1, 2, 3]),
        (10, 13, True, [10, 11, 12, 13]),
        (5.0, 5.0, False, [4.0, 6.0, 8.0, 10.0]),  # one value: a range that holds it
    ],
)
def test_ticks_are_round_steps_covering_the_values(low, high, integer, expected) -> None:
    assert nice_ticks(low, high, integer=integer) == pytest.approx(expected)


def test_tick_labels_use_the_fewest_decimals_that_write_each_tick() -> None:
    assert tick_labels([0.0, 0.25, 0.5]) == ["0.00", "0.25", "0.50"]
    assert tick_labels([0, 2500, 5000]) == ["0", "2,500", "5,000"]
    assert tick_labels([-0.0, 1.5]) == ["0.0", "1.5"]


def test_a_label_is_text_never_markup() -> None:
    canvas = Canvas(200, 100)
    area = plot_area(canvas, (60, 20, 190, 80), (0, 1), (0, 1))
    area.categories(["<b>odd</b> & co"])
    page = f"<section id='s'><h2>s</h2>{canvas.svg()}</section>"
    dom = ReportDom(page)
    assert dom.sections["s"].chart_texts == ["<b>odd</b> & co"]
    assert "b" not in dom.elements

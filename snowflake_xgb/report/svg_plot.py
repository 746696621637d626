"""A small SVG canvas for the report's charts: plot areas with ticks and a grid, lines, bands,
bars, text and legends, returned as inline ``<svg>`` markup.

No plotting library: the report's charts are drawn in milliseconds, where importing and running
matplotlib took about two seconds of every job that wrote a report. Text stays text (a browser
can search and select it); no element has an ``id``, so any number of charts share one page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# matplotlib's "tab10" (the report's colours before): train blue, validation orange, ...
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
FONT_SIZE = 11  # px; titles are one larger, legends one smaller
TEXT_COLOR = "#222"
GRID_COLOR = "#e4e4e4"
AXIS_COLOR = "#999"
DOTTED = "1.5,2.5"
DASHED = "5,3"


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """About how wide ``text`` is drawn (a sans-serif glyph's average width), for margins."""
    return 0.65 * size * len(text)


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """About ``count`` round values (steps of 1, 2, 2.5 or 5 times a power of ten) from at or
    below ``low`` to at or above ``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + max(abs(low), 1.0)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    if integer:
        step = max(1, math.ceil(step))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [i * step for i in range(first, last + 1)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """The ticks as text with the fewest decimals that still write each one exactly."""
    for decimals in range(7):
        labels = [f"{t + 0.0:,.{decimals}f}" for t in ticks]
        if all(
            abs(float(s.replace(",", "")) - t) <= 1e-9 * max(1.0, abs(t))
            for s, t in zip(labels, ticks, strict=True)
        ):
            return labels
    return [f"{t:,.6g}" for t in ticks]


@dataclass(frozen=True)
class Scale:
    """Data values from ``low`` to ``high`` -> pixels from ``start`` to ``end`` (an upward y
    axis has ``end`` above ``start``, a smaller number)."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return self.start + (value - self.low) / span * (self.end - self.start)


@dataclass
class Canvas:
    """One chart: SVG elements in drawing order, later ones on top."""

    width: float
    height: float
    elements: list[str] = field(default_factory=list)

    def line(
        self,
        points: Sequence[tuple[float, float]],
        color: str,
        width: float = 1.6,
        dash: str | None = None,
        opacity: float = 1.0,
    ) -> None:
        """A polyline through ``points`` (pixels); a point with a NaN breaks it."""
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in points:
            if math.isfinite(x) and math.isfinite(y):
                runs[-1].append((x, y))
            elif runs[-1]:
                runs.append([])
        style = f' stroke-dasharray="{dash}"' if dash else ""
        style += f' stroke-opacity="{opacity}"' if opacity < 1 else ""
        for run in runs:
            if run:
                self.elements.append(
                    f'<polyline points="{_points(run)}" fill="none" stroke="{color}" '
                    f'stroke-width="{width}"{style}/>'
                )

    def polygon(self, points: Sequence[tuple[float, float]], color: str, opacity: float) -> None:
        """A filled area (a band within one standard deviation, say)."""
        self.elements.append(
            f'<polygon points="{_points(points)}" fill="{color}" fill-opacity="{opacity}"/>'
        )

    def rect(
        self, x: float, y: float, width: float, height: float, color: str, edge: str = ""
    ) -> None:
        stroke = f' stroke="{edge}"' if edge else ""
        self.elements.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" '
            f'height="{max(height, 0):.1f}" fill="{color}"{stroke}/>'
        )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        anchor: str = "start",
        size: float = FONT_SIZE,
        color: str = TEXT_COLOR,
        bold: bool = False,
        vertical: bool = False,
    ) -> None:
        """``content`` (escaped: a column name is text, never markup), centred on ``y``."""
        extra = ' font-weight="600"' if bold else ""
        extra += f' transform="rotate(-90 {x:.1f} {y:.1f})"' if vertical else ""
        self.elements.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" dominant-baseline="central" '
            f'font-size="{size}" fill="{color}"{extra}>{html.escape(content)}</text>'
        )

    def legend(
        self, x: float, y: float, entries: Sequence[tuple[str, str, str | None, bool]]
    ) -> None:
        """Entries ``(label, color, dash, filled)`` from ``(x, y)`` down: a line sample, or a
        filled square when ``filled``, then the label."""
        for index, (label, color, dash, filled) in enumerate(entries):
            row = y + index * (FONT_SIZE + 5)
            if filled:
                self.rect(x, row - 4, 10, 8, color)
            else:
                self.line([(x, row), (x + 18, row)], color, 1.6, dash)
            self.text(x + 24, row, label, size=FONT_SIZE - 1)

    def svg(self) -> str:
        """The chart as an ``<svg>`` element, sized in pixels and scalable (``viewBox``)."""
        width, height = round(self.width), round(self.height)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif">'
            + "".join(self.elements)
            + "</svg>"
        )


def legend_width(labels: Sequence[str]) -> float:
    return 36 + max((text_width(label, FONT_SIZE - 1) for label in labels), default=0)


@dataclass(frozen=True)
class PlotArea:
    """A rectangle of a canvas with its x and y scales."""

    canvas: Canvas
    x: Scale
    y: Scale

    @property
    def left(self) -> float:
        return min(self.x.start, self.x.end)

    @property
    def right(self) -> float:
        return max(self.x.start, self.x.end)

    @property
    def top(self) -> float:
        return min(self.y.start, self.y.end)

    @property
    def bottom(self) -> float:
        return max(self.y.start, self.y.end)

    def points(self, xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
        return [(self.x(float(a)), self.y(float(b))) for a, b in zip(xs, ys, strict=False)]

    def x_axis(self, ticks: Sequence[float], label: str = "", grid: bool = True) -> None:
        """Tick labels under the area (and grid lines up through it), ``label`` below them."""
        for tick, text in zip(ticks, tick_labels(ticks), strict=True):
            x = self.x(tick)
            if grid:
                self.canvas.line([(x, self.top), (x, self.bottom)], GRID_COLOR, 1)
            self.canvas.text(x, self.bottom + 10, text, anchor="middle")
        self.canvas.line([(self.left, self.bottom), (self.right, self.bottom)], AXIS_COLOR, 1)
        if label:
            self.canvas.text((self.left + self.right) / 2, self.bottom + 27, label, "middle")

    def y_axis(self, ticks: Sequence[float], label: str = "") -> None:
        """Tick labels left of the area, grid lines across it, ``label`` upright beside them."""
        texts = tick_labels(ticks)
        for tick, text in zip(ticks, texts, strict=True):
            y = self.y(tick)
            self.canvas.line([(self.left, y), (self.right, y)], GRID_COLOR, 1)
            self.canvas.text(self.left - 5, y, text, anchor="end")
        self.canvas.line([(self.left, self.top), (self.left, self.bottom)], AXIS_COLOR, 1)
        if label:
            widest = max((text_width(t) for t in texts), default=0)
            middle = (self.top + self.bottom) / 2
            self.canvas.text(self.left - widest - 16, middle, label, "middle", vertical=True)

    def categories(self, names: Sequence[str], show: bool = True) -> list[float]:
        """``names`` from the top down, one band each; the y (pixels) of each band's middle,
        the names left of the area when ``show``."""
        band = (self.bottom - self.top) / max(len(names), 1)
        middles = [self.top + band * (i + 0.5) for i in range(len(names))]
        if show:
            for name, y in zip(names, middles, strict=True):
                self.canvas.text(self.left - 5, y, name, anchor="end")
        return middles

    def title(self, text: str) -> None:
        self.canvas.text(
            (self.left + self.right) / 2, self.top - 12, text, "middle", FONT_SIZE + 1, bold=True
        )


def plot_area(
    canvas: Canvas,
    box: tuple[float, float, float, float],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
) -> PlotArea:
    """The area ``(left, top, right, bottom)`` of ``canvas`` (pixels), y upward."""
    left, top, right, bottom = box
    return PlotArea(canvas, Scale(*x_range, left, right), Scale(*y_range, bottom, top))


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)

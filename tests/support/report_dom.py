"""Reads a training report's HTML (as written, or as a browser rendered it) into its sections.

A test then checks what a reader sees: each section's tables (cell texts), its charts (SVG
elements and the texts drawn in them) and every link or source it would fetch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Table:
    caption: str = ""
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Section:
    title: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: int = 0
    chart_texts: list[str] = field(default_factory=list)
    text: str = ""

    def table(self, caption_or_header: str) -> list[list[str]]:
        """The rows (header first) of the table with this caption or this header cell."""
        for table in self.tables:
            if table.caption == caption_or_header or (
                table.rows and caption_or_header in table.rows[0]
            ):
                return table.rows
        raise KeyError(f"no table {caption_or_header!r} in {[t.rows[:1] for t in self.tables]}")

    def rows(self, caption_or_header: str) -> list[dict[str, str]]:
        """A table's body rows, as header cell -> cell."""
        header, *body = self.table(caption_or_header)
        return [dict(zip(header, row, strict=True)) for row in body]


class ReportDom(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, Section] = {}
        self.title = ""
        self.fetched: list[str] = []  # src/href values other than in-page anchors and data
        self.elements: set[str] = set()
        self.ids: list[str] = []
        self._section: Section | None = None
        self._stack: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._svg_depth = 0
        self._caption: list[str] | None = None
        self._in_title = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.add(tag)
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(attributes["id"] or "")
        for name in ("src", "href", "xlink:href", "data"):
            value = attributes.get(name)
            if value and not value.startswith(("#", "data:")):
                self.fetched.append(value)
        if tag == "title":
            self._in_title = True
        if tag == "section":
            self._section = self.sections.setdefault(attributes.get("id") or "", Section())
        section = self._section
        if section is None:
            return
        if tag == "svg":
            if self._svg_depth == 0:
                section.charts += 1
            self._svg_depth += 1
        elif tag == "table":
            section.tables.append(Table())
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        section = self._section
        if tag == "title":
            self._in_title = False
        if tag == "section":
            self._section = None
            return
        if section is None:
            return
        if tag == "svg":
            self._svg_depth -= 1
        elif tag == "caption" and self._caption is not None:
            section.tables[-1].caption = "".join(self._caption).strip()
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            section.tables[-1].rows.append(self._row)
            self._row = None
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        section = self._section
        if section is None:
            return
        if self._stack and self._stack[-1] == "h2":
            section.title += data
        if self._svg_depth and data.strip():
            section.chart_texts.append(data.strip())
        if self._caption is not None:
            self._caption.append(data)
        elif self._cell is not None:
            self._cell.append(data)
        section.text += data

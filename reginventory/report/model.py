"""The report's view model: plain frozen objects that the templates only read.

Everything a template shows is decided here (or in :mod:`reginventory.report.build`): texts are
already formatted, sort keys and exact figures are precomputed, chart geometry is in SVG user
units. Templates never see SQL, DataFrames or Arrow tables; values from images (tags, labels,
annotations, error messages) are plain strings that the autoescaping environment escapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, and what sorting, tooltips and links need."""

    text: str
    sort: str | int | float = ""  # the data-sort value: exact numbers, full digests
    title: str = ""  # tooltip: exact bytes, full digest, full list
    href: str = ""  # a same-page anchor (#repo-...) or a relative file link
    kind: str = "text"  # text | num | code | muted: a CSS class
    items: tuple[str, ...] = ()  # a list value, one item a line (text is their summary)
    more: int = 0  # list items left out of ``items``


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    anchor: str = ""  # an id on the row: the compact anchor of a repository without a section


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False
    help: str = ""


@dataclass(frozen=True)
class Table:
    """A table as the page shows it: the first rows of a query result, and where the rest is."""

    id: str
    title: str
    description: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    total: int  # rows of the full result
    order: str = ""  # how the shown rows were chosen: "largest first"
    csv: str = ""  # relative link to the full table, when the page shows only part of it
    empty: str = "Nothing found."
    page_size: int = 25
    query: str = ""  # the query of queries/ it comes from

    @property
    def cut(self) -> bool:
        return self.total > len(self.rows)

    @property
    def shown(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Figure:
    """A headline figure: a number with its exact value and its change since the previous crawl."""

    key: str
    label: str
    text: str
    value: int | float
    title: str = ""
    delta: str = ""
    delta_title: str = ""
    trend: str = ""  # up | down | flat | "": a CSS class
    note: str = ""
    href: str = ""


@dataclass(frozen=True)
class Bar:
    label: str
    title: str
    href: str
    y: float
    segments: tuple[tuple[float, float, str], ...]  # (x, width, css class)
    value_text: str
    label_text: str  # the label as drawn, possibly cut


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: str  # "x,y x,y ..." for a polyline
    dots: tuple[tuple[float, float, str], ...]  # (x, y, tooltip)


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart: a horizontal bar chart, vertical columns, or lines."""

    id: str
    title: str
    description: str
    kind: str  # bars | columns | lines
    width: int
    height: int
    bars: tuple[Bar, ...] = ()
    series: tuple[Series, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    legend: tuple[tuple[str, str], ...] = ()  # (css class, text)
    plot: tuple[float, float, float, float] = (0, 0, 0, 0)  # left, top, right, bottom
    empty: str = ""
    caption: str = ""


@dataclass(frozen=True)
class CrawlInfo:
    registry: str
    crawl_id: str
    started: str
    finished: str
    duration: str
    status: str
    partial: bool
    errors: int
    mode: str
    previous_id: str = ""
    previous_started: str = ""


@dataclass(frozen=True)
class Check:
    """One ``--fail-on`` threshold and how the report measured against it."""

    expression: str
    metric: str
    actual: str
    limit: str
    breached: bool


@dataclass(frozen=True)
class RepoSection:
    """A per-repository section (``#repo-<slug>``) for one of the largest repositories."""

    anchor: str
    registry: str
    repository: str
    figures: tuple[Figure, ...]
    tags: Table
    platforms: tuple[tuple[str, str, str], ...]  # (platform, coverage text, title)
    links: tuple[tuple[str, str], ...]  # (text, href) to the findings of this repository


@dataclass(frozen=True)
class Link:
    text: str
    href: str


@dataclass(frozen=True)
class Report:
    title: str
    generated: str
    tool_version: str
    source: str
    registries: tuple[str, ...]
    crawls: tuple[CrawlInfo, ...]
    partial: bool
    headline: tuple[Figure, ...]
    findings: tuple[Figure, ...]
    change_note: str
    policy_note: str
    checks: tuple[Check, ...]
    charts: tuple[Chart, ...]
    tables: tuple[Table, ...]  # in page order; "repositories" first
    repo_sections: tuple[RepoSection, ...]
    repo_note: str
    toc: tuple[Link, ...]
    metrics: dict[str, Any] = field(default_factory=dict)  # what --fail-on measures
    timings: tuple[tuple[str, float], ...] = ()
    build_seconds: float = 0.0

    def table(self, table_id: str) -> Table:
        for table in self.tables:
            if table.id == table_id:
                return table
        raise KeyError(table_id)

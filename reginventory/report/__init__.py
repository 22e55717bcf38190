"""Reports: a self-contained HTML page and a Markdown summary of a snapshot, from the queries.

::

    from reginventory.report import generate_report

    written = generate_report("snapshots/", "report.html")            # or fmt="md"
    written.report.metrics["reclaimable_bytes"]

The steps, each usable alone: :func:`collect` runs the queries once into a :class:`ReportData`;
:func:`build` makes the view model (:class:`Report`, plain objects); :func:`render_html` and
:func:`render_markdown` render it with the templates of ``reports/``; :func:`write_report`
writes the page, and the CSV files of the tables it cut, next to it.
"""

from __future__ import annotations

from reginventory.report.build import (
    MAX_REPOSITORY_ROWS,
    MAX_ROWS,
    REPOSITORY_SECTIONS,
    Options,
    ReportData,
    build,
    collect,
    repo_anchors,
)
from reginventory.report.model import Report
from reginventory.report.policy import DEFAULT_POLICY_NOTE, Reclaimable, reclaimable_for_policy
from reginventory.report.render import environment, render_html, render_markdown
from reginventory.report.thresholds import METRICS, Threshold, ThresholdError, parse_threshold
from reginventory.report.writer import Written, generate_report, write_report

__all__ = [
    "DEFAULT_POLICY_NOTE",
    "MAX_REPOSITORY_ROWS",
    "MAX_ROWS",
    "METRICS",
    "REPOSITORY_SECTIONS",
    "Options",
    "Reclaimable",
    "Report",
    "ReportData",
    "Threshold",
    "ThresholdError",
    "Written",
    "build",
    "collect",
    "environment",
    "generate_report",
    "parse_threshold",
    "reclaimable_for_policy",
    "render_html",
    "render_markdown",
    "repo_anchors",
    "write_report",
]

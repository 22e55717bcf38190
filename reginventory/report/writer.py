"""Writing a report: the page (HTML or Markdown), the CSV files of cut tables, or standard output."""

from __future__ import annotations

import sys
import urllib.parse
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from reginventory.analysis import open_inventory
from reginventory.report.build import Options, ReportData, build, collect
from reginventory.report.cache import CACHE_NAME, load_totals, save_totals
from reginventory.report.model import Report
from reginventory.report.render import (
    FORMATS,
    files_dir_for,
    render_html,
    render_markdown,
    write_csv_files,
    write_text_atomic,
)
from reginventory.report.thresholds import Threshold

#: ``--out -``: write the page to standard output (no CSV files then).
STDOUT = "-"


@dataclass(frozen=True)
class Written:
    """What a report run produced."""

    report: Report
    path: Path | None  # None: standard output
    size: int  # bytes of the page
    files: tuple[Path, ...] = ()
    timings: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    @property
    def breached(self) -> tuple[str, ...]:
        return tuple(c.expression for c in self.report.checks if c.breached)


def write_report(report: Report, data: ReportData, out: str | Path, fmt: str = "html") -> Written:
    """Render and write a report; for HTML, also the CSV files of the tables the page cut."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    began = time.perf_counter()
    text = render_html(report) if fmt == "html" else render_markdown(report)
    rendered = time.perf_counter()
    encoded = text.encode("utf-8")
    if str(out) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return Written(report, None, len(encoded), (), (("render", rendered - began),))
    path = Path(out)
    files: list[Path] = []
    if fmt == "html":
        files = write_csv_files(report, data, files_dir_for(path))
    write_text_atomic(path, text)
    return Written(
        report, path, len(encoded), tuple(files),
        (("render", rendered - began), ("write", time.perf_counter() - rendered)),
    )


def generate_report(
    source: str | Path,
    out: str | Path,
    *,
    fmt: str = "html",
    crawl: str | None = None,
    policy: str | Path | None = None,
    thresholds: Sequence[Threshold] = (),
    options: Options | None = None,
) -> Written:
    """Open a snapshot store, collect, build and write its report."""
    options = options or Options()
    cache_path: Path | None = None
    cached: dict[str, dict[str, Any]] = {}
    if str(out) != STDOUT:
        files_dir = files_dir_for(Path(out))
        options = replace(options, files_href=urllib.parse.quote(files_dir.name))
        cache_path = files_dir / CACHE_NAME
        cached = load_totals(cache_path, str(source))
    with open_inventory(source, crawl) as inventory:
        data = collect(inventory, policy=policy, sections=options.sections, totals_cache=cached)
    report = build(data, options, thresholds)
    written = write_report(report, data, out, fmt)
    if cache_path is not None:
        save_totals(cache_path, str(source), cached, data.computed_totals)
    return replace(written, timings=report.timings + written.timings)

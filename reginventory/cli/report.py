"""The ``report`` command: an HTML page or a Markdown summary of a snapshot, with CI thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from reginventory.cli.app import EXIT_ERROR, app, handle_errors
from reginventory.report.build import MAX_ROWS, REPOSITORY_SECTIONS, Options
from reginventory.report.format import human_bytes
from reginventory.report.render import FORMATS
from reginventory.report.thresholds import METRICS, ThresholdError, parse_threshold
from reginventory.report.writer import STDOUT, generate_report

_METRIC_HELP = ", ".join(METRICS)


@app.command("report")
@handle_errors
def report_command(
    data: Annotated[str, typer.Option("--data", help="Snapshot folder (or s3:// URL) that the crawl wrote.")],
    crawl: Annotated[Optional[str], typer.Option("--crawl", help="Crawl id to report on (default: each registry's latest).")] = None,
    out: Annotated[
        Optional[str], typer.Option("--out", "-o", help="File to write (default: report.html or report.md); '-' for standard output.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html (a self-contained page) or md (a Markdown summary).")] = "html",
    policy: Annotated[
        Optional[Path], typer.Option("--policy", help="Retention policy (TOML) for the reclaimable bytes (default: the report's default policy).")
    ] = None,
    fail_on: Annotated[
        Optional[list[str]],
        typer.Option(
            "--fail-on",
            help=f"Exit 1 when a threshold is breached, e.g. 'reclaimable_bytes>10GB', 'untagged>100', 'errors>0', partial. Repeatable. Metrics: {_METRIC_HELP}.",
        ),
    ] = None,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows of each table the page holds; the full table goes to a CSV file next to it.")] = MAX_ROWS,
    sections: Annotated[int, typer.Option("--sections", min=0, help="Largest repositories that get a section of their own.")] = REPOSITORY_SECTIONS,
    title: Annotated[str, typer.Option("--title", help="Title of the report.")] = Options.title,
) -> None:
    """Write a report of a snapshot: headline figures, charts, findings, per-repository details.

    The HTML page is one file that opens offline (tables that do not fit are cut, with the full
    table in REPORT-files/TABLE.csv next to it); the Markdown summary holds the headline figures
    and the top rows of each table, for chat, pull requests and CI logs. Both state the crawl
    time and whether the crawl was partial.

    Thresholds (--fail-on METRIC>LIMIT, >=, <, <=, or the flag partial) make a scheduled or CI
    run exit 1 after writing the report, printing each breached threshold. Byte limits take
    kB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024).

    Example: reginventory report --data snapshots/ --out report.html --fail-on 'untagged>100'
    """
    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}", param_hint="--format")
    try:
        thresholds = [parse_threshold(text) for text in fail_on or []]
    except ThresholdError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fail-on") from None
    target = out or f"report.{fmt}"
    options = Options(title=title, max_rows=rows, sections=sections)
    written = generate_report(data, target, fmt=fmt, crawl=crawl, policy=policy, thresholds=thresholds, options=options)
    report = written.report
    summary = (
        f"wrote {written.path} ({human_bytes(written.size)})"
        + (f" and {len(written.files)} CSV file(s) in {written.files[0].parent}" if written.files else "")
        + f"; crawl {', '.join(c.crawl_id for c in report.crawls)}"
        + (" (PARTIAL)" if report.partial else "")
    )
    if target != STDOUT:
        typer.echo(summary)
    breached = [c for c in report.checks if c.breached]
    for result in breached:
        typer.echo(f"threshold breached: {result.expression} (measured {result.actual})", err=True)
    if breached:
        raise typer.Exit(EXIT_ERROR)



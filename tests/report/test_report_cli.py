"""The report command, driven as a scheduled job or a CI step would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reginventory.cli.app import app
from reginventory.cli.main import load_commands


@pytest.fixture
def cli() -> Any:
    load_commands()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, ["report", *args], catch_exceptions=False)

    return invoke


def test_help_ends_with_an_example(cli: Any) -> None:
    result = cli("--help")
    assert result.exit_code == 0 and "Example: reginventory report --data" in result.stdout


def test_html_report_with_thresholds_that_pass_and_csv_files(cli: Any, snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "weekly.html"
    result = cli("--data", str(snapshot), "--out", str(out), "--rows", "3", "--fail-on", "errors>0", "--fail-on", "partial")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout and "weekly-files" in result.stdout
    html = out.read_text()
    assert 'href="weekly-files/stale_tags.csv"' in html and (tmp_path / "weekly-files" / "stale_tags.csv").is_file()
    assert "errors&gt;0" in html and "passed" in html
    # A later run that cuts nothing removes the CSV files it no longer links; the crawl totals
    # of the first run are reused from the cache.
    cache = tmp_path / "weekly-files" / "crawl-totals.json"
    assert set(json.loads(cache.read_text())["crawls"]) == {"registry.test:5000 c1", "registry.test:5000 c2"}
    result = cli("--data", str(snapshot), "--out", str(out), "--rows", "1000")
    assert result.exit_code == 0 and list((tmp_path / "weekly-files").glob("*.csv")) == []


def test_breached_threshold_exits_1_after_writing_the_report(cli: Any, snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    result = cli("--data", str(snapshot), "--out", str(out), "--format", "md",
                 "--fail-on", "untagged>0", "--fail-on", "reclaimable_bytes>1TB")
    assert result.exit_code == 1
    assert "threshold breached: untagged>0 (measured 1)" in result.stderr
    assert "reclaimable_bytes" not in result.stderr
    assert "**breached**" in out.read_text()


def test_partial_crawl_threshold(cli: Any, partial_snapshot: Path, tmp_path: Path) -> None:
    result = cli("--data", str(partial_snapshot), "--out", "-", "--format", "md", "--fail-on", "partial")
    assert result.exit_code == 1 and "threshold breached: partial (measured yes)" in result.stderr
    assert result.stdout.startswith("# Registry inventory report") and "**partial**" in result.stdout


def test_unknown_metric_is_a_usage_error_naming_it(cli: Any, snapshot: Path, tmp_path: Path) -> None:
    result = cli("--data", str(snapshot), "--out", str(tmp_path / "r.html"), "--fail-on", "bananas>3")
    assert result.exit_code == 2 and "bananas" in result.output
    assert not (tmp_path / "r.html").exists()


def test_unknown_format_and_missing_data(cli: Any, snapshot: Path, tmp_path: Path) -> None:
    assert cli("--data", str(snapshot), "--format", "pdf").exit_code == 2
    result = cli("--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1 and result.stderr.startswith("error: no snapshot folder")


def test_crawl_option_reports_an_earlier_crawl(cli: Any, snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "c1.md"
    result = cli("--data", str(snapshot), "--crawl", "c1", "--out", str(out), "--format", "md")
    assert result.exit_code == 0 and "crawl `c1`" in out.read_text() and "first crawl" in out.read_text()

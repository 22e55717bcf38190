"""Formatting, thresholds and chart geometry: pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from reginventory.report import charts
from reginventory.report.build import repo_anchors
from reginventory.report.format import (
    exact_bytes,
    human_bytes,
    iso_time,
    short_digest,
    signed_bytes,
    slug,
)
from reginventory.report.thresholds import METRICS, ThresholdError, check, parse_threshold


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.50 KiB"), (10 * 1024**2, "10.0 MiB"), (123 * 1024**3, "123 GiB"), (None, "–")],
)
def test_human_bytes(value: int | None, text: str) -> None:
    assert human_bytes(value) == text


def test_exact_and_signed() -> None:
    assert exact_bytes(1234567) == "1,234,567 bytes"
    assert signed_bytes(-2048) == "-2.00 KiB" and signed_bytes(0) == "±0 B"


def test_times_are_utc_iso() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    assert iso_time(dt.datetime(2024, 1, 15, 2, 0, 0, 999, tzinfo=paris)) == "2024-01-15T00:00:00Z"
    assert iso_time(dt.datetime(2024, 1, 15)) == "2024-01-15T00:00:00Z"  # naive means UTC
    assert iso_time(None) == "–"


def test_slugs_and_anchors_are_unique_and_safe() -> None:
    assert slug("Team-A/App_1") == "team-a-app-1"
    assert short_digest("sha256:" + "a" * 64) == "sha256:" + "a" * 12
    anchors = repo_anchors([("r", "team/app"), ("r", "team-app"), ("r", "<x>")], False)
    assert list(anchors.values()) == ["repo-team-app", "repo-team-app-2", "repo-x"]
    both = repo_anchors([("a.io", "app"), ("b.io", "app")], True)
    assert list(both.values()) == ["repo-a-io-app", "repo-b-io-app"]


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("reclaimable_bytes>10GB", "reclaimable_bytes", ">", 10 * 1000**3),
        ("reclaimable_bytes >= 1.5GiB", "reclaimable_bytes", ">=", int(1.5 * 1024**3)),
        ("untagged>100", "untagged", ">", 100),
        ("errors>0", "errors", ">", 0),
        ("tags<1", "tags", "<", 1),
        ("partial", "partial", "", 0),
    ],
)
def test_parse_threshold(text: str, metric: str, op: str, limit: int) -> None:
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op, threshold.limit) == (metric, op, limit)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus>1", "unknown metric 'bogus'"),
        ("untagged>1GB", "whole number"),
        ("untagged", "needs a limit"),
        ("partial>1", "is a flag"),
        ("reclaimable_bytes>10XB", "unknown unit"),
        (">5", "cannot read threshold"),
    ],
)
def test_bad_thresholds_say_why(text: str, message: str) -> None:
    with pytest.raises(ThresholdError, match=message):
        parse_threshold(text)


def test_check_measures_each_threshold() -> None:
    metrics = {name: 0 for name in METRICS} | {"untagged": 120, "partial": True, "reclaimable_bytes": 5 * 1000**3}
    results = check([parse_threshold(t) for t in ("untagged>100", "partial", "reclaimable_bytes>10GB")], metrics)
    assert [r.breached for r in results] == [True, True, False]
    assert results[0].actual == "120" and "5,000,000,000 bytes" in results[2].actual


def test_bar_chart_scales_the_longest_bar_to_the_plot() -> None:
    chart = charts.bar_chart("c", "t", "d", [
        charts.BarInput("a", ((60.0, "s1"), (40.0, "s2")), "100", "a"),
        charts.BarInput("b", ((50.0, "s1"),), "50", "b"),
    ])
    left, _, right, _ = chart.plot
    first, second = chart.bars
    assert first.segments[0][0] == left and round(first.segments[-1][0] + first.segments[-1][1]) == right
    assert second.segments[0][1] == pytest.approx((right - left) / 2)


def test_line_chart_axis_is_round_and_covers_the_values() -> None:
    chart = charts.line_chart("c", "t", "d", ["1", "2", "3"], [("r", [10163.0, 10328.0, 10295.0], ["", "", ""])],
                              value_format=lambda v: f"{v:.0f}")
    assert [t.text for t in chart.y_ticks] == ["10150", "10200", "10250", "10300", "10350"]
    assert "not at zero" in chart.caption
    assert len(chart.series[0].dots) == 3


@pytest.mark.parametrize(("top", "ticks"), [(10, ["0", "5", "10"]), (3, ["0", "1", "2", "3"]), (4800, ["0", "2000", "4000", "6000"])])
def test_column_chart_counts_have_whole_ticks(top: int, ticks: list[str]) -> None:
    chart = charts.column_chart("c", "t", "d", ["a", "b"], [float(top), 1.0], ["", ""], value_format=lambda v: f"{v:.0f}")
    assert [t.text for t in chart.y_ticks] == ticks

"""Chart geometry: turn plain numbers into :class:`~reginventory.report.model.Chart` objects.

The templates draw inline SVG from these objects as they are: every coordinate is computed here,
in SVG user units of a fixed ``viewBox`` that the page scales to its width. Pure functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from reginventory.report.format import truncate
from reginventory.report.model import Bar, Chart, Series, Tick

WIDTH = 640
#: Height of one bar of a horizontal bar chart, and the gap under it.
BAR_HEIGHT = 16
BAR_GAP = 6
#: Room for the labels left of horizontal bars, in characters and user units.
LABEL_CHARS = 26
LABEL_WIDTH = 190
VALUE_WIDTH = 110
#: Series colours are CSS classes (the page's stylesheet decides the colours, and dark mode).
SERIES_CLASSES = ("s1", "s2", "s3", "s4", "s5", "s6")


@dataclass(frozen=True)
class BarInput:
    label: str
    parts: tuple[tuple[float, str], ...]  # (value, css class), stacked left to right
    value_text: str
    title: str
    href: str = ""


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    items: Sequence[BarInput],
    *,
    legend: tuple[tuple[str, str], ...] = (),
    empty: str = "No data.",
    caption: str = "",
) -> Chart:
    """Horizontal bars, one per item, longest = full width; stacked parts share a bar."""
    left = LABEL_WIDTH
    right = WIDTH - VALUE_WIDTH
    span = right - left
    biggest = max((sum(v for v, _ in item.parts) for item in items), default=0)
    bars = []
    for number, item in enumerate(items):
        x = float(left)
        segments = []
        for value, css in item.parts:
            width = 0.0 if biggest <= 0 else span * max(0.0, value) / biggest
            if width > 0:
                segments.append((round(x, 2), round(max(width, 0.5), 2), css))
            x += width
        bars.append(
            Bar(
                label=item.label,
                label_text=truncate(item.label, LABEL_CHARS),
                title=item.title,
                href=item.href,
                y=float(number * (BAR_HEIGHT + BAR_GAP) + 4),
                segments=tuple(segments),
                value_text=item.value_text,
            )
        )
    height = max(1, len(bars)) * (BAR_HEIGHT + BAR_GAP) + 8
    return Chart(
        id=chart_id, title=title, description=description, kind="bars", width=WIDTH,
        height=height, bars=tuple(bars), legend=legend, plot=(left, 0, right, height),
        empty=empty if not items else "", caption=caption,
    )


def column_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[float],
    titles: Sequence[str],
    *,
    value_format: Callable[[float], str],
    empty: str = "No data.",
    caption: str = "",
) -> Chart:
    """Vertical columns over categories (a histogram), with a value axis."""
    height = 220
    left, top, right, bottom = 56.0, 12.0, float(WIDTH - 8), float(height - 34)
    # Counts: a whole, round step (1, 2, 5 x 10^n), so that no tick reads 2.5 tags.
    step = nice_ceiling(max(values, default=0) / 4, factors=(1, 2, 5, 10))
    step = max(1.0, step)
    top_value = step * max(1, math.ceil(max(values, default=0) / step))
    count = max(1, len(values))
    slot = (right - left) / count
    width = slot * 0.7
    bars = []
    for number, (label, value, tip) in enumerate(zip(labels, values, titles)):
        h = 0.0 if top_value <= 0 else (bottom - top) * value / top_value
        x = left + slot * number + (slot - width) / 2
        bars.append(
            Bar(
                label=label, label_text=label, title=tip, href="",
                y=round(bottom - h, 2), segments=((round(x, 2), round(width, 2), "s1"),),
                value_text=value_format(value),
            )
        )
    x_ticks = tuple(Tick(round(left + slot * (n + 0.5), 2), label) for n, label in enumerate(labels))
    y_ticks = value_ticks(top_value, top, bottom, value_format, count=round(top_value / step))
    return Chart(
        id=chart_id, title=title, description=description, kind="columns", width=WIDTH,
        height=height, bars=tuple(bars), x_ticks=x_ticks, y_ticks=y_ticks,
        plot=(left, top, right, bottom), empty=empty if not any(values) else "", caption=caption,
    )


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], Sequence[str]]],
    *,
    value_format: Callable[[float], str],
    binary: bool = False,
    empty: str = "No data.",
    caption: str = "",
) -> Chart:
    """Lines over ordered points (crawls): one series per registry, points with tooltips."""
    height = 220
    left, top, right, bottom = 72.0, 12.0, float(WIDTH - 40), float(height - 34)
    values = [v for _, vs, _ in series for v in vs if v is not None]
    floor, ceiling, step = nice_scale(min(values, default=0.0), max(values, default=0.0), binary=binary)
    n = len(x_labels)

    def x_of(i: int) -> float:
        return left + (right - left) / 2 if n <= 1 else left + (right - left) * i / (n - 1)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * (v - floor) / (ceiling - floor)

    drawn = []
    for number, (name, vs, tips) in enumerate(series):
        points = [(round(x_of(i), 2), round(y_of(v), 2), tips[i]) for i, v in enumerate(vs) if v is not None]
        drawn.append(
            Series(
                name=name,
                css=SERIES_CLASSES[number % len(SERIES_CLASSES)],
                points=" ".join(f"{x},{y}" for x, y, _ in points),
                dots=tuple(points),
            )
        )
    every = max(1, math.ceil(n / 8))  # at most about 8 labels under the axis
    x_ticks = tuple(Tick(round(x_of(i), 2), x_labels[i]) for i in range(0, n, every))
    axis_format = bytes_axis_format(ceiling, step) if binary else value_format
    y_ticks = value_ticks(ceiling, top, bottom, axis_format, floor=floor, count=max(1, round((ceiling - floor) / step)))
    legend = tuple((s.css, s.name) for s in drawn) if len(drawn) > 1 else ()
    return Chart(
        id=chart_id, title=title, description=description, kind="lines", width=WIDTH,
        height=height, series=tuple(drawn), x_ticks=x_ticks, y_ticks=y_ticks, legend=legend,
        plot=(left, top, right, bottom), empty=empty if not values else "",
        caption=caption or (f"The axis starts at {value_format(floor)}, not at zero." if floor > 0 else ""),
    )


def value_ticks(
    ceiling: float, top: float, bottom: float, fmt: Callable[[float], str], *, floor: float = 0.0, count: int = 4
) -> tuple[Tick, ...]:
    if ceiling <= floor:
        return (Tick(bottom, fmt(floor)),)
    ticks = []
    for k in range(count + 1):
        value = floor + (ceiling - floor) * k / count
        ticks.append(Tick(round(bottom - (bottom - top) * k / count, 2), fmt(value)))
    return tuple(ticks)


def bytes_axis_format(ceiling: float, step: float) -> Callable[[float], str]:
    """Tick labels in the unit of the axis's top, with as many decimals as the step needs."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = 0
    while power < len(units) - 1 and ceiling >= 1024 ** (power + 1):
        power += 1
    scale = 1024.0**power
    decimals = 0 if step >= scale else min(3, max(0, -math.floor(math.log10(step / scale))))

    def fmt(value: float) -> str:
        return f"{value / scale:,.{decimals}f} {units[power]}"

    return fmt


def nice_ceiling(value: float, factors: tuple[float, ...] = (1, 2, 2.5, 5, 10)) -> float:
    """The next 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 0.0
    exponent = math.floor(math.log10(value))
    base = 10.0**exponent
    for factor in factors:
        if value <= factor * base * (1 + 1e-9):
            return factor * base
    return 10 * base


def nice_step(span: float, *, unit: float = 1.0) -> float:
    """A round step near ``span``: 1, 2, 2.5 or 5 times a power of ten, counted in ``unit``."""
    if span <= 0:
        return unit
    return nice_ceiling(span / unit) * unit


def binary_unit(value: float) -> float:
    """The power of 1024 that bytes around ``value`` are shown in (KiB, MiB, GiB...)."""
    unit = 1.0
    while value >= 1024 * unit and unit < 1024.0**5:
        unit *= 1024
    return unit


def nice_scale(low: float, high: float, *, binary: bool = False, ticks: int = 4) -> tuple[float, float, float]:
    """(floor, ceiling, step) of a value axis: round numbers around [low, high].

    The axis starts at zero unless the values sit far from it (a big registry that grows a
    little), so that a change stays visible.
    """
    if high <= 0 and low >= 0:
        return 0.0, 1.0, 0.25
    if high == low:
        low, high = low * 0.9, high * 1.1
    unit = binary_unit(high) if binary else 1.0
    if low > 0 and low > high * 0.5:
        step = nice_step((high - low) / ticks, unit=unit)
        floor = math.floor(low / step) * step
        ceiling = math.ceil(high / step) * step
        if ceiling == floor:
            ceiling = floor + step
        return floor, ceiling, step
    step = nice_step(high / ticks, unit=unit)
    return 0.0, math.ceil(high / step) * step, step

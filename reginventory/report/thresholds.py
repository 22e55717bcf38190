"""``--fail-on`` thresholds: parse ``metric>limit`` (or a bare flag such as ``partial``), check them.

::

    --fail-on 'reclaimable_bytes>10GB' --fail-on 'untagged>100' --fail-on 'errors>0' --fail-on partial

Operators: ``>``, ``>=``, ``<``, ``<=``. Byte limits take decimal (kB, MB, GB, TB: powers of
1000) or binary units (KiB, MiB, GiB, TiB: powers of 1024), case-insensitive; count limits are
whole numbers. Parsing is pure and raises :class:`ThresholdError` naming the metric or the text.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from reginventory.errors import IllegalArgumentError
from reginventory.report.format import exact_bytes, human_bytes, human_count
from reginventory.report.model import Check

#: What --fail-on can measure: metric -> (kind, meaning). ``bytes`` limits take units,
#: ``count`` limits are whole numbers, ``flag`` metrics take no comparison.
METRICS: dict[str, tuple[str, str]] = {
    "reclaimable_bytes": ("bytes", "bytes reclaimable under the default or given policy"),
    "stored_bytes": ("bytes", "bytes of distinct blobs stored"),
    "growth_bytes": ("bytes", "change of stored bytes since the previous crawl"),
    "untagged": ("count", "untagged manifests"),
    "stale_tags": ("count", "stale tags (stale_tags query defaults)"),
    "dangling_referrers": ("count", "referrers whose subject is gone"),
    "duplicates": ("count", "groups of duplicate tags or images"),
    "errors": ("count", "errors the crawl recorded"),
    "repositories": ("count", "repositories"),
    "tags": ("count", "tags"),
    "images": ("count", "tagged images (distinct digests per repository)"),
    "partial": ("flag", "the crawl is partial (it recorded errors and skipped something)"),
}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4, "p": 1000**5, "pb": 1000**5,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4, "pib": 1024**5,
}
_EXPRESSION = re.compile(r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?:(?P<op>>=|<=|>|<)\s*(?P<limit>.+?))?\s*$")
_NUMBER = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]*)$")


class ThresholdError(IllegalArgumentError):
    """A --fail-on expression that does not parse or names an unknown metric."""


@dataclass(frozen=True)
class Threshold:
    expression: str
    metric: str
    op: str  # "" for a flag
    limit: int  # bytes or a count; 0 for a flag

    def breached(self, value: Any) -> bool:
        if self.op == "":
            return bool(value)
        return OPERATORS[self.op](value, self.limit)


def parse_threshold(text: str) -> Threshold:
    """``"reclaimable_bytes>10GB"`` -> Threshold(metric, ">", 10_000_000_000)."""
    match = _EXPRESSION.match(text)
    if not match:
        raise ThresholdError(
            f"cannot read threshold {text!r}: expected METRIC>LIMIT (or >=, <, <=) or a flag such as partial"
        )
    metric, op, limit_text = match["metric"], match["op"] or "", match["limit"]
    if metric not in METRICS:
        raise ThresholdError(f"unknown metric {metric!r} in --fail-on {text!r}; metrics: {', '.join(METRICS)}")
    kind = METRICS[metric][0]
    if kind == "flag":
        if op:
            raise ThresholdError(f"--fail-on {text!r}: {metric} is a flag; write it alone: --fail-on {metric}")
        return Threshold(text.strip(), metric, "", 0)
    if not op:
        raise ThresholdError(f"--fail-on {text!r}: {metric} needs a limit, e.g. {metric}>{_example(kind)}")
    return Threshold(text.strip(), metric, op, parse_limit(limit_text, kind, metric))


def parse_limit(text: str, kind: str, metric: str) -> int:
    """A limit: ``10GB``, ``1.5GiB``, ``100``."""
    match = _NUMBER.match(text.strip())
    if not match:
        raise ThresholdError(f"--fail-on {metric}: cannot read limit {text!r}; e.g. {metric}>{_example(kind)}")
    number = float(match["number"])
    unit = match["unit"].lower()
    if kind == "count":
        if unit or not number.is_integer():
            raise ThresholdError(f"--fail-on {metric}: the limit is a whole number, got {text!r}")
        return int(number)
    if unit not in UNITS:
        raise ThresholdError(
            f"--fail-on {metric}: unknown unit {match['unit']!r}; use B, kB, MB, GB, TB or KiB, MiB, GiB, TiB"
        )
    return int(round(number * UNITS[unit]))


def check(thresholds: list[Threshold], metrics: Mapping[str, Any]) -> tuple[Check, ...]:
    """Measure the report's metrics against each threshold."""
    results = []
    for threshold in thresholds:
        value = metrics[threshold.metric]
        kind = METRICS[threshold.metric][0]
        results.append(
            Check(
                expression=threshold.expression,
                metric=threshold.metric,
                actual=show(value, kind),
                limit="" if kind == "flag" else f"{threshold.op} {show(threshold.limit, kind)}",
                breached=threshold.breached(value),
            )
        )
    return tuple(results)


def show(value: Any, kind: str) -> str:
    if kind == "flag":
        return "yes" if value else "no"
    if kind == "bytes":
        return f"{human_bytes(value)} ({exact_bytes(value)})"
    return human_count(value)


def _example(kind: str) -> str:
    return "10GB" if kind == "bytes" else "100"

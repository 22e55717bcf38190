"""Human formatting for the report: bytes, counts, times, anchors. Pure functions, no I/O.

Bytes are shown in binary units (KiB, MiB, GiB: what ``du -h`` and registries' UIs show), with
the exact number kept for a title attribute; times are UTC ISO 8601 (``2024-01-15T00:00:00Z``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from reginventory.units import BYTE_UNITS, human_bytes  # noqa: F401 - re-exported for templates

#: Shown digests keep this many hex digits: enough to tell images apart at a glance.
SHORT_DIGEST_HEX = 12
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


def exact_bytes(value: int | None) -> str:
    """``1536`` -> ``1,536 bytes``: the exact figure behind a human one."""
    if value is None:
        return "unknown"
    return f"{int(value):,} bytes"


def human_count(value: int | float | None) -> str:
    """Thousands separated: ``1234567`` -> ``1,234,567``."""
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def plural(count: int, word: str) -> str:
    """``1 tag``, ``2 tags``, ``1,000 tags``."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def signed_count(value: int) -> str:
    """A change in a count: ``+12``, ``-3``, ``±0``."""
    if value == 0:
        return "±0"
    return f"{value:+,}"


def signed_bytes(value: int) -> str:
    """A change in bytes: ``+1.5 GiB``, ``-20 MiB``, ``±0 B``."""
    if value == 0:
        return "±0 B"
    return ("+" if value > 0 else "-") + human_bytes(abs(value))


def percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value * 100:.0f}%" if value >= 0.1 or value == 0 else f"{value * 100:.1f}%"


def utc(value: Any) -> dt.datetime | None:
    """A datetime (aware or naive UTC, pandas or Python) or ISO text as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        if value != value:  # NaT
            return None
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def iso_time(value: Any) -> str:
    """UTC ISO 8601 to the second: ``2024-01-15T00:00:00Z``; ``–`` when unknown."""
    moment = utc(value)
    if moment is None:
        return "–"
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(value: Any) -> str:
    moment = utc(value)
    return "–" if moment is None else moment.strftime("%Y-%m-%d")


def human_duration(seconds: float) -> str:
    """``75`` -> ``1 min 15 s``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def age_days(created: Any, as_of: dt.datetime) -> int | None:
    moment = utc(created)
    if moment is None:
        return None
    return int((as_of - moment).total_seconds() // 86400)


def short_digest(digest: str | None) -> str:
    """``sha256:0123456789abcdef...`` -> ``sha256:0123456789ab``."""
    if not digest:
        return "–"
    algorithm, _, hex_part = digest.partition(":")
    if not hex_part:
        return digest
    return f"{algorithm}:{hex_part[:SHORT_DIGEST_HEX]}"


def slug(text: str) -> str:
    """A fragment-safe slug: lowercase letters, digits and dashes (``team-a/App_1`` -> ``team-a-app-1``)."""
    value = _SLUG_UNSAFE.sub("-", text.lower()).strip("-")
    return value or "x"


def truncate(text: str, limit: int) -> str:
    """Cut a long label for a chart axis, with an ellipsis."""
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"

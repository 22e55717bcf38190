"""Byte counts for people: one formatting for the CLI, the reports and the plans.

Binary units (KiB, MiB, GiB), what ``du -h`` and most registry UIs show; three significant
digits. Exact numbers stay in the data (and in title attributes of the HTML report).
"""

from __future__ import annotations

BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(value: int | float | None) -> str:
    """``1536`` -> ``1.5 KiB``; three significant digits, binary units."""
    if value is None:
        return "–"
    number = float(value)
    sign = "-" if number < 0 else ""
    number = abs(number)
    unit = 0
    while number >= 1024 and unit < len(BYTE_UNITS) - 1:
        number /= 1024
        unit += 1
    if unit == 0:
        return f"{sign}{int(number)} B"
    digits = 2 if number < 10 else 1 if number < 100 else 0
    return f"{sign}{number:.{digits}f} {BYTE_UNITS[unit]}"

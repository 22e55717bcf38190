"""Query results as text: an aligned table, CSV, JSON (a list of objects), or Parquet.

JSON and CSV write timestamps in ISO 8601 UTC (``2024-05-01T12:00:00Z``); lists stay lists in
JSON and become JSON text in CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reginventory.errors import IllegalArgumentError

FORMATS = ("table", "csv", "json", "parquet")
#: Widest a cell gets in the table format; the full value is in the other formats.
MAX_CELL = 80


def iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    text = value.astimezone(dt.timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """A result value as JSON-ready data."""
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def to_records(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()]


def render_json(table: pa.Table) -> str:
    return json.dumps(to_records(table), indent=2) + "\n"


def render_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for record in to_records(table):
        writer.writerow(
            "" if v is None else json.dumps(v) if isinstance(v, (list, dict)) else v
            for v in record.values()
        )
    return out.getvalue()


def render_table(table: pa.Table) -> str:
    """Columns aligned under their names; numbers to the right."""
    records = to_records(table)
    names = table.column_names
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types]

    def cell(value: Any) -> str:
        if value is None:
            text = ""
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"

    grid = [[cell(r[n]) for n in names] for r in records]
    widths = [max([len(n)] + [len(row[i]) for row in grid]) for i, n in enumerate(names)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    lines = [line(list(names)), line(["-" * w for w in widths])] + [line(row) for row in grid]
    lines.append(f"({len(records)} row{'s' if len(records) != 1 else ''})")
    return "\n".join(lines) + "\n"


def render(table: pa.Table, fmt: str) -> str:
    """A result in a text format."""
    if fmt == "json":
        return render_json(table)
    if fmt == "csv":
        return render_csv(table)
    if fmt == "table":
        return render_table(table)
    raise IllegalArgumentError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path)

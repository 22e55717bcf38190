"""Query parameters: text from the command line or values from Python, checked against the header.

Every error names the parameter and its type. Values are bound as DuckDB named parameters,
never formatted into the SQL.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable, Mapping

from reginventory.analysis.catalog import NOW, Param, Query, SnapshotDefault

#: Works out a snapshot-dependent default from the values bound so far.
DefaultResolver = Callable[[SnapshotDefault, Mapping[str, Any]], Any]
from reginventory.errors import SnapshotError

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _fail(param: Param, value: Any, why: str) -> SnapshotError:
    return SnapshotError(f"parameter {param.name} ({param.type}): {why}, got {value!r}")


def parse_timestamp(text: str) -> dt.datetime:
    """An ISO 8601 date or time; naive values are UTC; ``now`` is the current time."""
    text = text.strip()
    if text.lower() == "now":
        return dt.datetime.now(dt.timezone.utc)
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_text(param: Param, text: str) -> Any:
    """Convert the text of ``--param key=value`` to the parameter's type."""
    kind = param.type
    if text.lower() == "null" and kind != "DELETIONS":
        return None  # --param protect=null: no value
    try:
        if kind == "INTEGER":
            return int(text)
        if kind == "DOUBLE":
            return float(text)
        if kind == "BOOLEAN":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if kind == "TIMESTAMP":
            return parse_timestamp(text)
        if kind == "VARCHAR[]":
            return [part.strip() for part in text.split(",") if part.strip()]
    except ValueError:
        raise _fail(param, text, f"expected {_expected(kind)}") from None
    return text  # VARCHAR, DELETIONS (a file or a table name)


def coerce(param: Param, value: Any) -> Any:
    """Check a Python value against the parameter's type; strings are parsed as on the CLI."""
    if value is None:
        return None
    kind = param.type
    if isinstance(value, str) and kind not in ("VARCHAR", "DELETIONS"):
        return parse_text(param, value)
    if kind == "INTEGER":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _fail(param, value, "expected an integer")
        return value
    if kind == "DOUBLE":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
            raise _fail(param, value, "expected a number")
        return float(value)
    if kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise _fail(param, value, "expected true or false")
        return value
    if kind == "TIMESTAMP":
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
        raise _fail(param, value, "expected a datetime or an ISO 8601 text")
    if kind == "VARCHAR[]":
        if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise _fail(param, value, "expected a list of strings")
    if kind == "VARCHAR":
        if not isinstance(value, str):
            raise _fail(param, value, "expected a string")
        return value
    return value  # DELETIONS: checked when loaded


def bind(
    query: Query, given: Mapping[str, Any], resolve: DefaultResolver | None = None
) -> dict[str, Any]:
    """Every parameter of the query with its value: the given ones checked, defaults filled in.

    Snapshot-dependent defaults are resolved last, by ``resolve`` (null without one).
    """
    known = {p.name for p in query.params}
    unknown = sorted(set(given) - known)
    if unknown:
        listing = ", ".join(p.describe() for p in query.params) or "none"
        raise SnapshotError(
            f"query {query.name} has no parameter {', '.join(unknown)}; its parameters: {listing}"
        )
    values: dict[str, Any] = {}
    deferred: list[Param] = []
    for param in query.params:
        if param.name in given:
            value = coerce(param, given[param.name])
        elif param.required:
            raise SnapshotError(
                f"query {query.name} needs parameter {param.name} ({param.type}): {param.doc}"
            )
        else:
            value = param.default
            if value is NOW:
                value = dt.datetime.now(dt.timezone.utc)
            elif isinstance(value, list):
                value = list(value)
            elif isinstance(value, SnapshotDefault):
                deferred.append(param)
                continue
        if param.choices and value is not None and value not in param.choices:
            raise _fail(param, value, f"expected one of {', '.join(param.choices)}")
        values[param.name] = value
    # plain defaults first, then those that depend on another parameter
    for param in sorted(deferred, key=lambda p: p.default.argument is not None):
        values[param.name] = resolve(param.default, values) if resolve else None
    return {p.name: values[p.name] for p in query.params}


def parse_assignments(query: Query, pairs: list[str]) -> dict[str, Any]:
    """``["days=30", "keep=2"]`` from the command line, converted to the parameters' types."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SnapshotError(f"--param {pair!r}: expected key=value")
        values[key] = parse_text(query.param(key), text)
    return values


def _expected(kind: str) -> str:
    return {
        "INTEGER": "an integer",
        "DOUBLE": "a number",
        "BOOLEAN": "true or false",
        "TIMESTAMP": "an ISO 8601 date or time (2024-05-01, 2024-05-01T12:00:00Z) or now",
        "VARCHAR[]": "a comma-separated list",
    }.get(kind, kind)

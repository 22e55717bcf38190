"""The query catalog: every file documents itself, and the documentation matches the SQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from reginventory.analysis import Inventory, list_queries, parse_query
from reginventory.analysis.catalog import NOW, REQUIRED, SnapshotDefault
from reginventory.analysis.params import bind, parse_assignments
from reginventory.errors import SnapshotError
from tests.analysis.scenario import Scenario

REQUIRED_QUERIES = {
    "tags", "repo_sizes", "duplicates", "stale_tags", "shared_layers", "base_images", "untagged",
    "dangling_referrers", "platforms", "growth", "reclaimable", "cascade",
}

#: DuckDB types as the headers spell them, and the Arrow types they come back as.
ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR[]": pa.list_(pa.string()),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}


def sample_params(name: str, scenario: Scenario) -> dict[str, Any]:
    if name in ("reclaimable", "cascade"):
        return {"deletions": [("tools/cli", scenario.digest("cli_idx"))]}
    return {}


def test_the_required_queries_exist() -> None:
    assert REQUIRED_QUERIES <= {q.name for q in list_queries()}


@pytest.mark.parametrize("query", list_queries(), ids=lambda q: q.name)
def test_header_documents_the_query(query: Any, inventory: Inventory, scenario: Scenario) -> None:
    assert query.summary and query.description, "say what it finds"
    assert query.columns, "list the output columns"
    declared = {p.name for p in query.params if p.type != "DELETIONS" and p.name != "expand"}
    assert declared == set(query.uses), "every parameter is declared and used"
    result = inventory.run_arrow(query.name, sample_params(query.name, scenario))
    assert result.column_names == [c.name for c in query.columns]
    for column in query.columns:
        assert result.schema.field(column.name).type == ARROW_TYPES[column.type], column.name
    assert "read_parquet" not in query.sql and ".parquet" not in query.sql


def test_unknown_query_lists_the_available_ones(inventory: Inventory) -> None:
    with pytest.raises(SnapshotError, match="unknown query 'nope'; available queries: base_images, "):
        inventory.run("nope")


def test_parse_header() -> None:
    query = parse_query("demo", """-- demo: finds things.
--
-- More words.
--
-- Parameters:
--   days INTEGER = 90: minimum age
--   when TIMESTAMP = now: reference time
--   names VARCHAR[] = ['a', 'b']: some names
--   pattern VARCHAR = 'it''s': a text
--   by VARCHAR = 'x' {x|y}: grouping
--   crawl VARCHAR = previous_crawl(other): a crawl
--   needed DOUBLE: no default
--       and a second line
-- Columns:
--   a VARCHAR: the a
SELECT $days, $when, $names, $pattern, $by, $crawl, $needed
""")
    params = {p.name: p for p in query.params}
    assert params["days"].default == 90
    assert params["when"].default is NOW
    assert params["names"].default == ["a", "b"]
    assert params["pattern"].default == "it's"
    assert params["by"].choices == ("x", "y")
    assert params["crawl"].default == SnapshotDefault("previous_crawl", "other")
    assert params["needed"].default is REQUIRED and params["needed"].doc == "no default and a second line"
    assert query.description == "More words."
    assert [c.name for c in query.columns] == ["a"]


@pytest.mark.parametrize("text", [
    "SELECT 1",
    "-- other: wrong name\nSELECT 1",
    "-- demo: ok\n-- Parameters:\n--   x WEIRD: no such type\nSELECT 1",
    "-- demo: no sql\n",
])
def test_bad_headers(text: str) -> None:
    with pytest.raises(SnapshotError):
        parse_query("demo", text)


def test_parameters_from_the_command_line() -> None:
    stale = next(q for q in list_queries() if q.name == "stale_tags")
    values = parse_assignments(stale, ["days=30", "keep=2", "as_of=2024-05-01", "protect=^v1$"])
    assert values == {"days": 30, "keep": 2, "protect": "^v1$",
                      "as_of": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)}
    assert parse_assignments(stale, ["protect=null"]) == {"protect": None}
    bound = bind(stale, {"days": 7})
    assert bound["keep"] == 3 and bound["protect"] == "^latest$"
    assert isinstance(bound["as_of"], dt.datetime) and bound["as_of"].tzinfo is not None


@pytest.mark.parametrize("pair, message", [
    ("days=soon", r"parameter days \(INTEGER\): expected an integer, got 'soon'"),
    ("as_of=yesterday", r"parameter as_of \(TIMESTAMP\): expected an ISO 8601"),
    ("colour=red", r"query stale_tags has no parameter 'colour'; its parameters: days INTEGER = 90"),
    ("days", r"--param 'days': expected key=value"),
])
def test_bad_parameters_name_the_parameter_and_type(pair: str, message: str) -> None:
    stale = next(q for q in list_queries() if q.name == "stale_tags")
    with pytest.raises(SnapshotError, match=message):
        parse_assignments(stale, [pair])


def test_wrong_python_types(inventory: Inventory) -> None:
    with pytest.raises(SnapshotError, match=r"parameter keep \(INTEGER\): expected an integer, got 2.5"):
        inventory.run("stale_tags", keep=2.5)
    with pytest.raises(SnapshotError, match=r"parameter expand \(BOOLEAN\): expected true or false"):
        inventory.run("cascade", deletions=[], expand="maybe")
    with pytest.raises(SnapshotError, match=r"query tags has no parameter days"):
        inventory.run("tags", days=3)


def test_a_sql_error_names_the_query(inventory: Inventory) -> None:
    with pytest.raises(SnapshotError, match="query stale_tags failed"):
        inventory.run("stale_tags", protect="(unclosed")

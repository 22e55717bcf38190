"""The analysis layer: DuckDB views over the Parquet snapshots and the queries of ``queries/``.

::

    from reginventory.analysis import open_inventory

    with open_inventory("snapshots/") as inv:
        inv.run("stale_tags", days=30, keep=5)              # a pandas DataFrame
        inv.run_arrow("reclaimable", deletions="plan.json")  # an Arrow table
"""

from __future__ import annotations

from reginventory.analysis.catalog import Catalog, Column, Param, Query, parse_query
from reginventory.analysis.deletions import expand_deletions
from reginventory.analysis.inventory import Inventory, list_queries, open_inventory

__all__ = [
    "Catalog",
    "Column",
    "Inventory",
    "Param",
    "Query",
    "expand_deletions",
    "list_queries",
    "open_inventory",
    "parse_query",
]

"""The analyst's entry point: the snapshots of a folder or URL, their views and the queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import duckdb
import pandas as pd
import pyarrow as pa

from reginventory.analysis.catalog import Catalog, Query, SnapshotDefault
from reginventory.analysis.runner import execute
from reginventory.errors import SnapshotError
from reginventory.analysis.keyed import (
    KEYED_TABLES, PREVIOUS_TABLES, materialize_keyed, materialize_previous,
)
from reginventory.analysis.views import configure_session, open_connection

#: The keyed tables the deletion cascade joins (sql/cascade_step.sql).
CASCADE_TABLES = ("cascade_edges",)


class Inventory:
    """A DuckDB connection over a snapshot store, with one view per table and the query catalog.

    ``crawls`` are the selected crawls (one per registry), ``history`` every committed crawl.
    """

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        root: str,
        crawls: list[dict[str, Any]],
        history: list[dict[str, Any]],
        catalog: Catalog,
    ) -> None:
        self.connection = connection
        self.root = root
        self.crawls = crawls
        self.history = history
        self.catalog = catalog

    @property
    def registries(self) -> list[str]:
        return sorted({c["registry"] for c in self.crawls})

    def queries(self) -> list[Query]:
        """Every query of the catalog, with its parameters and columns."""
        return self.catalog.queries()

    def query(self, name: str) -> Query:
        """One query by name; an unknown name lists the available ones."""
        return self.catalog.get(name)

    def prepare(self, names: Iterable[str] | None = None, previous: Iterable[str] = ()) -> list[str]:
        """Load keyed tables into memory; returns those loaded.

        ``names`` are tables of the selected crawls, ``previous`` of the crawls before them
        (growth's default comparison); ``names=None`` loads every table of both. Queries do
        this themselves for the tables they read; call it to pay the cost up front.
        """
        if names is None:
            names, previous = KEYED_TABLES, PREVIOUS_TABLES
        loaded = materialize_keyed(self.connection, names)
        return loaded + [f"previous.{n}" for n in materialize_previous(self.connection, previous)]

    def run_arrow(self, name: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> pa.Table:
        """Run a query by name with parameters into an Arrow table."""
        query = self.query(name)
        needed = set(query.keyed)
        if any(p.type == "DELETIONS" for p in query.params):
            needed.update(CASCADE_TABLES)
        self.prepare(needed, previous=query.history_keyed)
        merged = {**(params or {}), **kwargs}
        return execute(
            self.connection, query, merged, registries=self.registries, resolve=self.resolve_default
        )

    def resolve_default(self, default: SnapshotDefault, values: Mapping[str, Any]) -> Any:
        """A snapshot-dependent default; null when the inventory holds several registries."""
        if len(self.registries) != 1:
            return None
        if default.name == "selected_crawl":
            return self.crawls[0]["crawl_id"]
        if default.name == "previous_crawl":
            target = values.get(default.argument or "") or self.crawls[0]["crawl_id"]
            ids = [c["crawl_id"] for c in self.history]  # oldest first
            if target in ids and ids.index(target) > 0:
                return ids[ids.index(target) - 1]
            return None
        raise SnapshotError(f"unknown snapshot default {default!r}")

    def run(self, name: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> pd.DataFrame:
        """Run a query by name with parameters into a pandas DataFrame."""
        return self.run_arrow(name, params, **kwargs).to_pandas()

    def sql(self, text: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Ad hoc SQL over the views, with named parameters."""
        return self.connection.execute(text, dict(params or {})).df()

    def cursor(self, catalog: Catalog | None = None) -> Inventory:
        """The same snapshot over a second connection to the same database, for a query run in
        another thread at the same time. Load what it reads first (:meth:`prepare`): tables are
        shared, the deletion set a query loads is not. ``catalog``: another query catalog."""
        connection = self.connection.cursor()
        configure_session(connection)
        return Inventory(connection, self.root, self.crawls, self.history, catalog or self.catalog)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_inventory(
    source: str | Path,
    crawl: str | None = None,
    *,
    registry: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    queries_dir: str | Path | None = None,
    materialize: bool = False,
    cache: bool | None = None,
) -> Inventory:
    """Open the snapshots under a folder or object-store URL (``s3://bucket/prefix``).

    ``crawl`` selects one crawl id (default: each registry's latest committed crawl);
    ``registry`` restricts to one registry; ``storage_options`` go to the fsspec filesystem
    DuckDB reads an object store through. The selected crawl's keyed tables are loaded into
    memory when a query first needs them, or all at once with ``materialize=True``.
    Those a crawl cached under ``<source>/_derived`` are read from there in place;
    ``cache=True`` also writes what is missing, ``cache=False`` ignores the cache (local folders
    only; default: the environment variable ``REGINVENTORY_DERIVED_CACHE``, see
    :mod:`reginventory.analysis.derived`).
    """
    catalog = Catalog(queries_dir)
    con, selected, committed = open_connection(
        source, crawl, registry=registry, storage_options=storage_options, cache=cache
    )
    inventory = Inventory(con, str(source), selected, committed, catalog)
    if materialize:
        inventory.prepare()
    return inventory


def list_queries(queries_dir: str | Path | None = None) -> list[Query]:
    """Every query of the catalog, without opening any snapshot."""
    return Catalog(queries_dir).queries()

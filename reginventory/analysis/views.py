"""Open the snapshots of a folder or object-store URL as a DuckDB connection with one view per table.

Schemas:

- ``main``: a view per table restricted to the selected crawl of each registry (the latest
  committed crawl by default), the readable derived views ``blob_refs``, ``blobs`` and
  ``manifest_facts``, and ``all_<table>`` aliases of the history views;
- ``history``: the same views over every committed crawl;
- ``keyed`` and ``history_keyed``: the same data with integer join keys, which the queries use.
  ``keyed`` is loaded into memory table by table as queries need it; ``history_keyed`` is
  ``keyed`` plus ``previous_keyed`` (the crawl before the selected one, whose tags and
  per-repository blobs are loaded into memory when a query reads them across crawls) plus
  ``other_keyed`` (the other committed crawls, read from Parquet);
- ``previous`` and ``other``: the snapshot views of those crawls.

Only committed crawls are visible (a ``crawls`` row for every shard, see
:func:`reginventory.inventory.store.merge_shard_rows`). File paths appear only here: the queries
read views.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from reginventory.analysis.derived import register_folders
from reginventory.analysis.keyed import build_keyed
from reginventory.analysis.names import (
    DELETION_CLOSURE, DELETION_FREED, EMPTY, HISTORY, KEYED, OTHER, PREVIOUS, PREVIOUS_KEYED, SCHEMAS,
)
from reginventory.errors import SnapshotError
from reginventory.inventory import schema
from reginventory.inventory.store import SnapshotStore



def fsspec_options(root: str) -> dict[str, Any]:
    """fsspec options equivalent to the query of a pyarrow S3 URL (``?endpoint_override=``...)."""
    parsed = urllib.parse.urlsplit(root)
    if parsed.scheme != "s3" or not parsed.query:
        return {}
    query = dict(urllib.parse.parse_qsl(parsed.query))
    client: dict[str, Any] = {}
    if "endpoint_override" in query:
        endpoint = query["endpoint_override"]
        if "://" not in endpoint:
            endpoint = f"{query.get('scheme', 'https')}://{endpoint}"
        client["endpoint_url"] = endpoint
    if "region" in query:
        client["region_name"] = query["region"]
    return {"client_kwargs": client} if client else {}


def partition_values(path: str) -> tuple[str, str]:
    """The ``(registry, crawl_id)`` that a part file's Hive folders name."""
    values: dict[str, str] = {}
    for segment in path.split("/"):
        key, sep, value = segment.partition("=")
        if sep and key in schema.PARTITION_COLUMNS:
            values[key] = urllib.parse.unquote(value)
    if set(values) != set(schema.PARTITION_COLUMNS):
        raise SnapshotError(f"{path}: not inside registry=<...>/crawl_id=<...> folders")
    return values["registry"], values["crawl_id"]


def select_crawls(
    committed: list[dict[str, Any]], crawl: str | None = None, registry: str | None = None
) -> list[dict[str, Any]]:
    """The crawl to read per registry: ``crawl`` where given, else each registry's latest."""
    rows = [r for r in committed if registry is None or r["registry"] == registry]
    if crawl is not None:
        chosen = [r for r in rows if r["crawl_id"] == crawl]
        if not chosen:
            known = ", ".join(sorted({r["crawl_id"] for r in rows})) or "none"
            raise SnapshotError(f"no committed crawl {crawl!r}; committed crawls: {known}")
        return chosen
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # committed rows come oldest first
        latest[row["registry"]] = row
    return [latest[k] for k in sorted(latest)]


class SnapshotConnection:
    """Builds the views of one snapshot store on a DuckDB connection."""

    def __init__(
        self,
        store: SnapshotStore,
        con: duckdb.DuckDBPyConnection,
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.con = con
        self.storage_options = dict(storage_options or {})
        self._scheme = store.root.split("://", 1)[0] if "://" in store.root else ""

    def duckdb_path(self, path: str) -> str:
        """A filesystem path as DuckDB reads it (through fsspec for object stores)."""
        if self._scheme in ("", "file"):
            return path
        return f"{self._scheme}://{path}"

    def register_filesystem(self) -> None:
        if self._scheme in ("", "file"):
            return
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec ships with the project's deps
            raise SnapshotError(f"reading {self.store.root} needs fsspec: {exc}") from exc
        options = {**fsspec_options(self.store.root), **self.storage_options}
        self.con.register_filesystem(fsspec.filesystem(self._scheme, **options))

    def check_file(self, table: str, path: str) -> pa.Schema:
        """Read a part file's footer: a corrupt file or a missing column names the path."""
        try:
            found = pq.read_schema(path, filesystem=self.store.fs)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SnapshotError(f"corrupt Parquet file {path}: {exc}") from exc
        wanted = [n for n in schema.TABLES[table].names if n not in schema.PARTITION_COLUMNS]
        missing = [n for n in wanted if n not in set(found.names)]
        if missing:
            raise SnapshotError(f"{path}: table {table} lacks column(s) {', '.join(missing)}")
        return found.remove_metadata()

    def table_sql(self, table: str, files: list[str], by_name: bool = True) -> str:
        """The SELECT over a table's part files. ``by_name`` matches columns by name across files
        (needed when their schemas differ, as after a schema change); binding a view then reads
        every file's footer, so it is left off when all the files agree."""
        columns = ", ".join(f'"{n}"' for n in schema.TABLES[table].names)
        if not files:
            return f'SELECT {columns} FROM {EMPTY}."{table}"'
        paths = ", ".join(_literal(self.duckdb_path(p)) for p in files)
        return (
            f"SELECT {columns} FROM read_parquet([{paths}], hive_partitioning = true, "
            "hive_types = {'registry': VARCHAR, 'crawl_id': VARCHAR}, "
            f"union_by_name = {'true' if by_name else 'false'})"
        )

    def build(
        self,
        selected: Iterable[dict[str, Any]],
        committed: Iterable[dict[str, Any]],
        *,
        materialize: bool = False,
        cache: bool | None = None,
    ) -> None:
        """Create the views of both schemas, and the keyed tables the queries join on.

        ``cache``: True reads and writes the derived-table cache, False neither
        (:mod:`reginventory.analysis.derived`); None reads it, or what ``REGINVENTORY_DERIVED_CACHE`` says.
        """
        con = self.con
        self.register_filesystem()
        configure_session(con)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {EMPTY}")
        for name in SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        for table, table_schema in schema.TABLES.items():
            con.register("_arrow_empty", table_schema.empty_table())
            con.execute(f'CREATE OR REPLACE TABLE {EMPTY}."{table}" AS SELECT * FROM _arrow_empty')
            con.unregister("_arrow_empty")

        selected_keys = {(r["registry"], r["crawl_id"]) for r in selected}
        committed_keys = {(r["registry"], r["crawl_id"]) for r in committed}
        previous_keys = previous_crawls(selected, committed)
        # The crawls table is merged per crawl (shards summed) before it becomes a view.
        merged = pa.Table.from_pylist(list(committed), schema=schema.CRAWLS)
        con.register("_arrow_crawls", merged)
        con.execute(f"CREATE OR REPLACE TABLE {EMPTY}.committed_crawls AS SELECT * FROM _arrow_crawls")
        con.unregister("_arrow_crawls")
        con.execute(f"CREATE OR REPLACE VIEW {HISTORY}.crawls AS SELECT * FROM {EMPTY}.committed_crawls")
        pairs = " OR ".join(
            f"(registry = {_literal(r)} AND crawl_id = {_literal(c)})" for r, c in sorted(selected_keys)
        ) or "false"
        con.execute(f"CREATE OR REPLACE VIEW main.crawls AS SELECT * FROM {HISTORY}.crawls WHERE {pairs}")

        for table in schema.TABLES:
            if table == "crawls":
                continue
            current: list[str] = []
            history: list[str] = []
            previous: list[str] = []
            others: list[str] = []
            schemas: set[pa.Schema] = set()
            for path in self.store.table_files(table):
                key = partition_values(path)
                if key not in committed_keys:
                    continue  # an uncommitted or half-committed crawl
                schemas.add(self.check_file(table, path))
                history.append(path)
                if key in selected_keys:
                    current.append(path)
                else:
                    (previous if key in previous_keys else others).append(path)
            by_name = len(schemas) > 1
            for view, files in (
                (f'main."{table}"', current), (f'{HISTORY}."{table}"', history),
                (f'{PREVIOUS}."{table}"', previous), (f'{OTHER}."{table}"', others),
            ):
                con.execute(f"CREATE OR REPLACE VIEW {view} AS {self.table_sql(table, files, by_name)}")

        register_folders(con, self.store.root, {
            KEYED: list(selected),
            PREVIOUS_KEYED: [{"registry": r, "crawl_id": c} for r, c in sorted(previous_keys)],
        }, cache)
        build_keyed(con, materialize)
        for table in schema.TABLES:
            con.execute(f'CREATE OR REPLACE VIEW main."all_{table}" AS SELECT * FROM {HISTORY}."{table}"')


def configure_session(con: duckdb.DuckDBPyConnection) -> None:
    """The settings and temporary tables of every connection to a snapshot database (a cursor's
    too)."""
    con.execute("SET TimeZone = 'UTC'")
    # Views re-read Parquet footers each time a query binds them: keep them in memory.
    con.execute("SET parquet_metadata_cache = true")
    # A deletion set and what it frees live in temporary tables: each connection has its own.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {DELETION_CLOSURE} "
        "(registry VARCHAR, repository VARCHAR, digest VARCHAR, reason VARCHAR, cause VARCHAR, "
        "repo_key UBIGINT, digest_key UBIGINT)"
    )
    # What deletion_closure was loaded from (see deletions.expand_deletions).
    con.execute(f"CREATE OR REPLACE TEMP TABLE {DELETION_CLOSURE}_source (fingerprint VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {DELETION_FREED}_source (fingerprint VARCHAR)")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {DELETION_FREED} "
        "(crawl_key UBIGINT, blob_key UBIGINT, size BIGINT, owner_key UBIGINT, owned_size BIGINT)"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {DELETION_FREED}_repositories "
        "(repo_key UBIGINT, blob_key UBIGINT, size BIGINT)"
    )


def previous_crawls(
    selected: Iterable[dict[str, Any]], committed: Iterable[dict[str, Any]]
) -> set[tuple[str, str]]:
    """Per selected crawl, the committed crawl of its registry that started just before it."""
    committed = list(committed)
    keys = set()
    for crawl in selected:
        earlier = [
            c for c in committed
            if c["registry"] == crawl["registry"] and c["started"] < crawl["started"]
        ]
        if earlier:
            before = max(earlier, key=lambda c: (c["started"], c["crawl_id"]))
            keys.add((before["registry"], before["crawl_id"]))
    return keys


def open_connection(
    source: str | Path,
    crawl: str | None = None,
    *,
    registry: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    materialize: bool = False,
    cache: bool | None = None,
) -> tuple[duckdb.DuckDBPyConnection, list[dict[str, Any]], list[dict[str, Any]]]:
    """A connection with the views of ``source``, the selected crawls and every committed crawl."""
    root = str(source)
    store = SnapshotStore(root)
    if "://" not in root and not Path(root).is_dir():
        raise SnapshotError(f"no snapshot folder at {root}")
    committed = store.committed_crawls()
    if not committed:
        staged = posixpath.join(store.base, "_staging")
        hint = " (only uncommitted crawls in _staging)" if store.fs.get_file_info(staged).type.name == "Directory" else ""
        raise SnapshotError(f"no committed snapshot in {root}: no crawls/ rows{hint}")
    if registry is not None and not any(r["registry"] == registry for r in committed):
        known = ", ".join(sorted({r["registry"] for r in committed}))
        raise SnapshotError(f"no snapshot of registry {registry!r} in {root}; registries: {known}")
    selected = select_crawls(committed, crawl, registry)
    if registry is not None:
        committed = [r for r in committed if r["registry"] == registry]
    con = connection if connection is not None else duckdb.connect()
    SnapshotConnection(store, con, storage_options=storage_options).build(
        selected, committed, materialize=materialize, cache=cache
    )
    return con, selected, committed


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"

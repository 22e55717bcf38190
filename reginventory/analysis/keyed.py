"""Keyed tables: the snapshot tables with integer join keys, and what derives from them.

Joining on 71-character digest strings is several times slower than on integers, so every
table gets ``hash(registry, <digest>)`` keys (64-bit; a collision between two of a registry's
few million digests is about as likely as 1 in 10^6, and would only merge two blobs' rows).
The SQL is in ``sql/keyed/``; ``{source}`` names the schema of snapshot views a file reads and
``{target}`` the schema it builds in (internal names, never user input).
"""

from __future__ import annotations

from typing import Iterable

import duckdb

from reginventory.analysis import derived
from reginventory.analysis.names import (
    HISTORY, HISTORY_KEYED, KEYED, OTHER, OTHER_KEYED, PREVIOUS, PREVIOUS_KEYED, SQL_DIR,
    strip_semicolon,
)

#: ``sql/keyed/*.sql``, in dependency order: ``{source}`` is the schema of the snapshot views,
#: ``{target}`` the schema being built (internal names only, never user input).
KEYED_TABLES = (
    "tags", "manifests", "layers", "index_children", "referrers", "repositories", "blob_names",
    "blob_refs", "repo_blobs", "blob_revisions", "manifest_facts", "tag_facts", "layer_prefixes",
    "layer_shares", "cascade_edges",
)
#: What each keyed table is built from.
KEYED_DEPENDS: dict[str, tuple[str, ...]] = {
    "tags": (),
    "manifests": (),
    "layers": (),
    "index_children": (),
    "referrers": (),
    "repositories": ("tags", "manifests"),
    "blob_names": ("manifests", "layers", "index_children"),
    "blob_refs": ("manifests", "layers", "index_children"),
    "repo_blobs": ("blob_refs",),
    "blob_revisions": ("repo_blobs",),
    "manifest_facts": ("manifests", "index_children"),
    "tag_facts": ("tags", "manifests", "referrers", "manifest_facts"),
    "layer_prefixes": ("layers", "manifests"),
    "cascade_edges": ("manifests", "index_children", "referrers"),
    "layer_shares": ("layers", "manifests"),
}
#: The keyed tables of the previous crawl loaded (attached from the derived cache, which keeps
#: the newest crawls, or built in memory) when a query reads them through ``history_keyed``:
#: growth compares with that crawl by default, untagged looks back at its tags and indexes.
#: The rest, and older crawls, stay views over the Parquet files.
PREVIOUS_TABLES = ("tags", "repo_blobs", "manifests", "index_children")
#: ``sql/views/*.sql``: readable views (digest strings) over the keyed tables.
READABLE_VIEWS = ("blob_refs", "blobs", "manifest_facts")


def build_keyed(con: duckdb.DuckDBPyConnection, materialize: bool = False) -> None:
    """Create the keyed views of every scope, and the readable views on top of them.

    ``keyed`` (the selected crawl) starts as views, which :func:`materialize_keyed` turns into
    in-memory tables when a query first needs them (all of them now if ``materialize``);
    ``history_keyed`` (every crawl) is ``keyed`` plus ``other_keyed``, views over the crawls
    that are not selected. ``blob_refs``, ``blobs`` and ``manifest_facts`` sit on top.
    """
    for name in KEYED_TABLES:
        body = strip_semicolon((SQL_DIR / "keyed" / f"{name}.sql").read_text())
        con.execute(
            f"CREATE OR REPLACE VIEW {KEYED}.{name} AS {body.format(source='main', target=KEYED)}"
        )
        for source, target in ((PREVIOUS, PREVIOUS_KEYED), (OTHER, OTHER_KEYED)):
            con.execute(
                f"CREATE OR REPLACE VIEW {target}.{name} AS "
                f"{body.format(source=source, target=target)}"
            )
        # Every crawl: the selected and previous ones in memory once loaded, the rest from
        # Parquet. A filter on crawl_id reaches every side and prunes the Parquet files.
        con.execute(
            f"CREATE OR REPLACE VIEW {HISTORY_KEYED}.{name} AS "
            + " UNION ALL ".join(
                f"SELECT * FROM {schema}.{name}" for schema in (KEYED, PREVIOUS_KEYED, OTHER_KEYED)
            )
        )
    for name in READABLE_VIEWS:
        body = strip_semicolon((SQL_DIR / "views" / f"{name}.sql").read_text())
        con.execute(f"CREATE OR REPLACE VIEW main.{name} AS {body.format(target=KEYED)}")
        con.execute(
            f"CREATE OR REPLACE VIEW {HISTORY}.{name} AS {body.format(target=HISTORY_KEYED)}"
        )
    if materialize:
        materialize_keyed(con, KEYED_TABLES)


def keyed_closure(names: Iterable[str]) -> list[str]:
    """The keyed tables that ``names`` need, dependencies first."""
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in KEYED_DEPENDS and name not in wanted:
            wanted.add(name)
            stack.extend(KEYED_DEPENDS[name])
    return [n for n in KEYED_TABLES if n in wanted]


def materialize_keyed(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> list[str]:
    """Turn keyed views into in-memory tables (with their dependencies); returns those loaded.

    The connection's catalog says what is loaded already, so inventories that share a
    connection share the work. A table found in the derived cache (see
    :mod:`reginventory.analysis.derived`) becomes a view over its attached file instead, and
    its dependencies are not built.
    """
    return _load(con, list(names), "main", KEYED)


def materialize_previous(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> list[str]:
    """Load the previous crawl's keyed tables among ``names`` (see PREVIOUS_TABLES) into memory.

    Each is built from the views below it (or attached from the derived cache), which are not
    loaded themselves.
    """
    wanted = set(names)
    todo = [n for n in PREVIOUS_TABLES if n in wanted]
    return _load(con, todo, PREVIOUS, PREVIOUS_KEYED, dependencies=False)


def _loaded(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    """The keyed tables of ``schema`` already loaded: in memory, or views over the cache."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]
    ).fetchall()
    return {row[0] for row in rows} | derived.attached(con, schema)


def _load(
    con: duckdb.DuckDBPyConnection, names: list[str], source: str, target: str, dependencies: bool = True
) -> list[str]:
    """Load the views ``target.<name>`` (and, with ``dependencies``, those they need): a view
    over the derived cache when its files are there (its dependencies are then not needed),
    else an in-memory table of the same rows, built and then cached. Returns those loaded."""
    loaded = _loaded(con, target)
    wanted = set(names)
    attached: set[str] = set()
    files: dict[str, list[derived.CacheFile]] = {}
    for name in reversed(KEYED_TABLES):  # dependents before what they need
        if name not in wanted or name in loaded:
            continue
        files[name] = derived.crawl_files(con, target, name, keyed_closure([name]))
        if derived.attach_cached(con, target, name, files[name]):
            attached.add(name)
        elif dependencies:
            wanted.update(KEYED_DEPENDS[name])
    todo = [n for n in KEYED_TABLES if n in wanted and n not in loaded]
    build = [n for n in todo if n not in attached]
    if not build:
        return todo
    con.execute("SET preserve_insertion_order = false")  # parallel, order-free build
    try:
        for name in build:
            body = strip_semicolon((SQL_DIR / "keyed" / f"{name}.sql").read_text())
            con.execute(f"CREATE TABLE {target}._{name} AS {body.format(source=source, target=target)}")
            derived.save(con, f"{target}._{name}", name, files[name])
            con.execute(f"DROP VIEW {target}.{name}")
            con.execute(f"ALTER TABLE {target}._{name} RENAME TO {name}")
    finally:
        con.execute("RESET preserve_insertion_order")
    return todo

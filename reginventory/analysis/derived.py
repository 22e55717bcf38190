"""The derived-table cache: a committed crawl's keyed tables, kept as Parquet next to the snapshot.

Committed crawls never change, so the keyed tables of one (hash keys, blob references...) are
the same every time a snapshot is opened. They are written once to
``<root>/_derived/registry=<r>/crawl_id=<c>/<table>-<fingerprint>.parquet`` (a temporary name,
then a rename) and read back by later opens. The fingerprint covers the table's SQL and that
of its dependencies, and the DuckDB version (whose ``hash`` makes the keys): when either
changes, the old files are simply not looked at. A file that cannot be read, or whose columns
differ from the table's, is ignored and rebuilt. Only local stores are cached (``_derived``
starts with ``_``, so Hive readers skip it); a store that cannot be written is read as before.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb

from reginventory.analysis.names import EMPTY, SQL_DIR

DERIVED_DIR = "_derived"
#: The connection's table of cache folders: per keyed schema, one row per crawl it holds.
FOLDERS = f"{EMPTY}.derived_folders"
FORMAT = 1


def local_folder(root: str) -> Path | None:
    """The cache folder of a store root, or None when the store is not on the local disk."""
    if "://" in root:
        parsed = urllib.parse.urlsplit(root)
        return Path(parsed.path) / DERIVED_DIR if parsed.scheme == "file" else None
    return Path(root) / DERIVED_DIR


def crawl_folder(root: str, registry: str, crawl_id: str) -> Path | None:
    """Where one crawl's derived tables live (Hive-style, names quoted as the store does)."""
    base = local_folder(root)
    if base is None:
        return None
    quote = lambda v: urllib.parse.quote(v, safe="")  # noqa: E731
    return base / f"registry={quote(registry)}" / f"crawl_id={quote(crawl_id)}"


#: Set to 1 to use the cache (off by default: at 1M tags it takes about 850 MB per crawl).
CACHE_ENV = "REGINVENTORY_DERIVED_CACHE"


def cache_enabled(explicit: bool | None = None) -> bool:
    """Whether to read and write the cache: ``explicit`` if given, else the environment's say."""
    if explicit is not None:
        return explicit
    return os.environ.get(CACHE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def register_folders(
    con: duckdb.DuckDBPyConnection, root: str, crawls: dict[str, list[dict[str, Any]]], enabled: bool = True
) -> None:
    """Record, per keyed schema, the cache folder of each crawl it holds (none for remote stores,
    none at all unless ``enabled``)."""
    con.execute(f"CREATE OR REPLACE TABLE {FOLDERS} (target VARCHAR, registry VARCHAR, crawl_id VARCHAR, folder VARCHAR)")
    if not enabled:
        return
    rows = []
    for target, chosen in crawls.items():
        for crawl in chosen:
            folder = crawl_folder(root, crawl["registry"], crawl["crawl_id"])
            if folder is not None:
                rows.append((target, crawl["registry"], crawl["crawl_id"], str(folder)))
    if rows:
        con.executemany(f"INSERT INTO {FOLDERS} VALUES (?, ?, ?, ?)", rows)


def crawl_files(con: duckdb.DuckDBPyConnection, target: str, name: str, closure: list[str]) -> list[tuple[str, str, Path]]:
    """(registry, crawl_id, file) of each crawl of ``target`` for table ``name``; [] when uncached."""
    try:
        rows = con.execute(f"SELECT registry, crawl_id, folder FROM {FOLDERS} WHERE target = ?", [target]).fetchall()
    except duckdb.CatalogException:
        return []
    stamp = fingerprint(tuple(closure))
    return [(r, c, Path(folder) / f"{name}-{stamp}.parquet") for r, c, folder in rows]


@lru_cache(maxsize=None)
def fingerprint(closure: tuple[str, ...]) -> str:
    """A hash of the SQL of a table and its dependencies, and of the DuckDB version."""
    digest = hashlib.sha256(f"{FORMAT} {duckdb.__version__}".encode())
    for name in closure:
        digest.update(name.encode() + b"\0" + (SQL_DIR / "keyed" / f"{name}.sql").read_bytes())
    return digest.hexdigest()[:16]


def load_cached(con: duckdb.DuckDBPyConnection, target: str, name: str, files: list[tuple[str, str, Path]]) -> bool:
    """Create ``target._<name>`` from the cache files; False (and nothing created) when unusable."""
    if not files or not all(f.is_file() for _, _, f in files):
        return False
    paths = ", ".join("'" + str(f).replace("'", "''") + "'" for _, _, f in files)
    try:
        cached = con.execute(f"DESCRIBE SELECT * FROM read_parquet([{paths}], hive_partitioning = false)").fetchall()
        wanted = con.execute(f"DESCRIBE SELECT * FROM {target}.{name}").fetchall()
        if [row[:2] for row in cached] != [row[:2] for row in wanted]:
            return False
        con.execute(f"CREATE TABLE {target}._{name} AS SELECT * FROM read_parquet([{paths}], hive_partitioning = false)")
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {target}._{name}")
        return False
    return True


def save(con: duckdb.DuckDBPyConnection, table: str, files: list[tuple[str, str, Path]]) -> None:
    """Write each crawl's rows of ``table`` to its cache file; a store we cannot write is skipped."""
    for registry, crawl_id, path in files:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM {table} WHERE crawl_key = hash(?, ?)) "
                f"TO '{str(temporary).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)",
                [registry, crawl_id],
            )
            os.replace(temporary, path)
        except (OSError, duckdb.Error):
            temporary.unlink(missing_ok=True)


def build_derived(store_root: str | Path, registry: str, crawl_id: str) -> list[str]:
    """Write the derived tables of one committed crawl (a crawl calls this after its commit).

    Returns the keyed tables loaded; those already cached are read, not rebuilt.
    """
    from reginventory.analysis.inventory import open_inventory

    with open_inventory(store_root, crawl_id, registry=registry, cache=True) as inventory:
        return inventory.prepare()

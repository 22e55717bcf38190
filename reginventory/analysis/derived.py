"""The derived-table cache: a committed crawl's keyed tables, kept as DuckDB files next to the snapshot.

Committed crawls never change, so the keyed tables of one (hash keys, blob references...) are
the same every time a snapshot is opened. They are written once to
``<root>/_derived/registry=<r>/crawl_id=<c>/<table>-<fingerprint>.duckdb`` (a temporary name,
then a rename) and ATTACHed read-only by later opens: ``keyed.<table>`` becomes a view over the
attached table (UNION ALL of the selected crawls' files), so nothing is copied into memory and
DuckDB reads only the blocks a query touches (at 1M tags, opening and loading take 2.1 s instead
of 9.1 s with Parquet copied into memory, and queries run as fast). The fingerprint covers the table's SQL and that of
its dependencies, and the DuckDB version (whose ``hash`` makes the keys and whose storage format
the file has): when either changes, the old files are simply not looked at (and are replaced by
the next write). A file that cannot be attached, is shorter than its header says, or whose
columns differ from the table's is ignored and rebuilt.

When the cache is read and written (:func:`cache_mode`):

- a crawl builds its cache after its commit (:func:`build_derived`, unless ``crawl
  --no-derived``) and then keeps only the folders of the newest :data:`KEEP_CRAWLS` committed
  crawls of the registry (:func:`prune`);
- an open reads the files that exist, and writes them only when asked (``cache=True`` or
  ``REGINVENTORY_DERIVED_CACHE=1``): at 1M tags they take about 960 MB per crawl, which a read
  of someone's snapshot folder should not write uninvited;
- ``REGINVENTORY_DERIVED_CACHE=0`` turns the cache off: no read, no write, no crawl build
  (``cache=False`` turns it off for one open).

Only local stores are cached (``_derived`` starts with ``_``, so Hive readers skip it); a store
that cannot be written is read as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import urllib.parse
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import duckdb

from reginventory.analysis.names import EMPTY, SQL_DIR

DERIVED_DIR = "_derived"
#: The connection's table of cache folders: per keyed schema, one row per crawl it holds.
FOLDERS = f"{EMPTY}.derived_folders"
#: Part of the fingerprint: 1 was Parquet copied into memory, 2 DuckDB files attached.
FORMAT = 2
SUFFIX = ".duckdb"
FINGERPRINT_LENGTH = 16
#: The comment of a keyed view that reads the cache (how :func:`attached` knows it is loaded).
ATTACHED_COMMENT = "derived-table cache"
#: Derived folders kept per registry after a crawl: its own, and the previous crawl's (growth
#: reads that crawl's tags and repo_blobs).
KEEP_CRAWLS = 2
#: A temporary file older than this was left by a killed writer (a live one takes minutes).
STALE_TEMPORARY_SECONDS = 24 * 3600
#: ``0`` turns the cache off, ``1`` also writes it on open; unset, existing files are read.
CACHE_ENV = "REGINVENTORY_DERIVED_CACHE"

Mode = Literal["off", "read", "write"]


@dataclass(frozen=True)
class CacheFile:
    """One crawl's cache file of one keyed table."""

    registry: str
    crawl_id: str
    path: Path
    writable: bool


def local_folder(root: str) -> Path | None:
    """The cache folder of a store root, or None when the store is not on the local disk."""
    if "://" in root:
        parsed = urllib.parse.urlsplit(root)
        return Path(parsed.path) / DERIVED_DIR if parsed.scheme == "file" else None
    return Path(root) / DERIVED_DIR


def registry_folder(root: str, registry: str) -> Path | None:
    """Where one registry's derived tables live (Hive-style, names quoted as the store does)."""
    base = local_folder(root)
    return None if base is None else base / f"registry={_quote(registry)}"


def crawl_folder(root: str, registry: str, crawl_id: str) -> Path | None:
    """Where one crawl's derived tables live."""
    base = registry_folder(root, registry)
    return None if base is None else base / f"crawl_id={_quote(crawl_id)}"


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def cache_mode(explicit: bool | None = None) -> Mode:
    """``explicit`` True reads and writes, False neither; None asks the environment (unset:
    read the files that exist, ``1``: read and write, ``0``: neither)."""
    if explicit is not None:
        return "write" if explicit else "off"
    value = os.environ.get(CACHE_ENV, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    return "read" if value == "" else "write"


def register_folders(
    con: duckdb.DuckDBPyConnection, root: str, crawls: dict[str, list[dict[str, Any]]], cache: bool | None = None
) -> None:
    """Record, per keyed schema, the cache folder of each crawl it holds (none for remote stores
    or when the cache is off) and whether it may be written (see :func:`cache_mode`)."""
    con.execute(
        f"CREATE OR REPLACE TABLE {FOLDERS} "
        "(target VARCHAR, registry VARCHAR, crawl_id VARCHAR, folder VARCHAR, writable BOOLEAN)"
    )
    mode = cache_mode(cache)
    if mode == "off":
        return
    rows = []
    for target, chosen in crawls.items():
        for crawl in chosen:
            folder = crawl_folder(root, crawl["registry"], crawl["crawl_id"])
            if folder is not None:
                rows.append((target, crawl["registry"], crawl["crawl_id"], str(folder), mode == "write"))
    if rows:
        con.executemany(f"INSERT INTO {FOLDERS} VALUES (?, ?, ?, ?, ?)", rows)


def crawl_files(con: duckdb.DuckDBPyConnection, target: str, name: str, closure: list[str]) -> list[CacheFile]:
    """The cache file of each crawl of ``target`` for table ``name``; [] when uncached."""
    try:
        rows = con.execute(
            f"SELECT registry, crawl_id, folder, writable FROM {FOLDERS} WHERE target = ?", [target]
        ).fetchall()
    except duckdb.CatalogException:
        return []
    stamp = fingerprint(tuple(closure))
    return [CacheFile(r, c, Path(folder) / f"{name}-{stamp}{SUFFIX}", w) for r, c, folder, w in rows]


@lru_cache(maxsize=None)
def fingerprint(closure: tuple[str, ...]) -> str:
    """A hash of the SQL of a table and its dependencies, and of the DuckDB version."""
    digest = hashlib.sha256(f"{FORMAT} {duckdb.__version__}".encode())
    for name in closure:
        digest.update(name.encode() + b"\0" + (SQL_DIR / "keyed" / f"{name}.sql").read_bytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def _literal(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _alias(target: str, name: str, index: int) -> str:
    return f'"_derived_{target}_{name}_{index}"'


def attached(con: duckdb.DuckDBPyConnection, target: str) -> set[str]:
    """The views of ``target`` that read the cache (loaded: nothing to build)."""
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE schema_name = ? AND comment = ?", [target, ATTACHED_COMMENT]
    ).fetchall()
    return {row[0] for row in rows}


def attach_cached(con: duckdb.DuckDBPyConnection, target: str, name: str, files: list[CacheFile]) -> bool:
    """Make the view ``target.<name>`` read the cache files; False (and nothing changed) when
    any of them is missing or unusable."""
    if not files or not all(f.path.is_file() for f in files):
        return False
    aliases = [_alias(target, name, i) for i in range(len(files))]
    try:
        wanted = con.execute(f"DESCRIBE SELECT * FROM {target}.{name}").fetchall()
        for alias, file in zip(aliases, files):
            con.execute(f"DETACH DATABASE IF EXISTS {alias}")
            con.execute(f"ATTACH {_literal(file.path)} AS {alias} (READ_ONLY)")
            if not _intact(con, alias, file.path):
                raise duckdb.IOException(f"{file.path} is shorter than its header says")
            cached = con.execute(f"DESCRIBE SELECT * FROM {alias}.{name}").fetchall()
            if [row[:2] for row in cached] != [row[:2] for row in wanted]:
                raise duckdb.CatalogException(f"{file.path} has other columns")
        union = " UNION ALL ".join(f"SELECT * FROM {alias}.{name}" for alias in aliases)
        con.execute(f"CREATE OR REPLACE VIEW {target}.{name} AS {union}")
        con.execute(f"COMMENT ON VIEW {target}.{name} IS {_literal(ATTACHED_COMMENT)}")
    except duckdb.Error:
        for alias in aliases:
            con.execute(f"DETACH DATABASE IF EXISTS {alias}")
        return False
    return True


def _intact(con: duckdb.DuckDBPyConnection, alias: str, path: Path) -> bool:
    """Whether the file holds every block its header counts (a truncated copy does not)."""
    row = con.execute(
        "SELECT block_size, total_blocks FROM pragma_database_size() WHERE database_name = ?", [alias.strip('"')]
    ).fetchone()
    # Three 4 KiB headers, then the blocks.
    return row is not None and path.stat().st_size >= 3 * 4096 + row[0] * row[1]


def save(con: duckdb.DuckDBPyConnection, table: str, name: str, files: list[CacheFile]) -> None:
    """Write each crawl's rows of ``table`` to its cache file as table ``name`` (temporary name,
    then a rename; older files of the table go); a store we cannot write is skipped."""
    for index, file in enumerate(files):
        if not file.writable:
            continue
        path = file.path
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        alias = f'"_derived_write_{index}"'
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.unlink(missing_ok=True)
            con.execute(f"ATTACH {_literal(temporary)} AS {alias}")
            try:
                con.execute(
                    f"CREATE TABLE {alias}.{name} AS SELECT * FROM {table} WHERE crawl_key = hash(?, ?)",
                    [file.registry, file.crawl_id],
                )
            finally:
                con.execute(f"DETACH DATABASE IF EXISTS {alias}")  # checkpoints: no WAL left
            os.replace(temporary, path)
        except (OSError, duckdb.Error):
            for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
            continue
        for older in path.parent.glob(f"{name}-{'?' * FINGERPRINT_LENGTH}.*"):  # other fingerprints
            if older != path:
                with contextlib.suppress(OSError):
                    older.unlink(missing_ok=True)


def prune(store_root: str | Path, registry: str, keep: int = KEEP_CRAWLS) -> list[Path]:
    """Delete the derived folders of ``registry`` but those of its newest ``keep`` committed
    crawls (and temporary files killed writers left in those); returns what was deleted.

    Only ``<root>/_derived/registry=<r>/`` is ever touched.
    """
    from reginventory.inventory.store import SnapshotStore

    root = str(store_root)
    folder = registry_folder(root, registry)
    if folder is None or not folder.is_dir():
        return []
    committed = sorted(SnapshotStore(root).committed_crawls(registry), key=lambda c: (c["started"], c["crawl_id"]))
    kept = {f"crawl_id={_quote(c['crawl_id'])}" for c in committed[-keep:]} if keep > 0 else set()
    deleted = []
    for child in folder.iterdir():
        if child.name in kept and child.is_dir():
            deleted += _drop_stale_temporaries(child)
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
        deleted.append(child)
    return deleted


def _drop_stale_temporaries(folder: Path) -> list[Path]:
    stale = []
    for path in folder.glob(".*.tmp*"):
        try:
            if time.time() - path.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                path.unlink()
                stale.append(path)
        except OSError:
            pass
    return stale


def build_derived(store_root: str | Path, registry: str, crawl_id: str) -> list[str]:
    """Write the derived tables of one committed crawl (a crawl calls this after its commit).

    Returns the keyed tables loaded; those already cached are attached, not rebuilt. Nothing
    happens for a store that is not on the local disk.
    """
    from reginventory.analysis.inventory import open_inventory

    if local_folder(str(store_root)) is None:
        return []
    with open_inventory(store_root, crawl_id, registry=registry, cache=True) as inventory:
        return inventory.prepare()


def build_after_crawl(store_root: str | Path, registry: str, crawl_id: str) -> None:
    """:func:`build_derived` then :func:`prune`, for a crawl that just committed, unless
    ``REGINVENTORY_DERIVED_CACHE=0``: a failure is a warning (the snapshot is committed, and a
    later open builds what it needs)."""
    if cache_mode() == "off":
        return
    try:
        build_derived(store_root, registry, crawl_id)
        prune(store_root, registry)
    except Exception as exc:  # noqa: BLE001 - the cache is an optimisation, never the crawl's failure
        warnings.warn(f"derived-table cache of {registry} crawl {crawl_id} not built: {exc}", stacklevel=2)

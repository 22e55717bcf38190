"""Committing a sharded crawl: the last shard to finish merges every shard's staging into place.

Each of the N processes of a sharded crawl stages its rows and, when done, writes ``ready.json``
(its ``crawls`` row) into its staging folder. Whichever shard finds every shard ready merges:

1. content tables (``layers``, ``index_children``): a digest two shards both met is kept from
   the lowest shard only, so the merged crawl holds one row per registry and digest, exactly as a
   single crawl does;
2. presence tables: each shard's parts are moved into their partitions;
3. the ``crawls`` rows, one per shard, last: they make the crawl visible at once;
4. the staging folders are removed.

Every step is idempotent (same inputs, same file names, same bytes; a part already moved is not
looked for again), so two shards finishing at the same moment may both merge, and a merge cut
short by a crash is completed by the next ``--resume`` of any shard.
"""

from __future__ import annotations

import json
import posixpath
import secrets
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from reginventory.inventory import schema
from reginventory.inventory.store import STAGING, SnapshotStore, partition_dir, quote_partition, shard_label

#: Tables with one row per registry and manifest digest (deduplicated across shards).
CONTENT_TABLES = ("layers", "index_children")
READY = "ready.json"
_TIMESTAMPS = ("started", "finished")


def crawl_staging(store: SnapshotStore, registry: str, crawl_id: str) -> str:
    return posixpath.join(store.base, STAGING, quote_partition(registry), quote_partition(crawl_id))


def shard_staging(store: SnapshotStore, registry: str, crawl_id: str, shard: tuple[int, int]) -> str:
    return posixpath.join(crawl_staging(store, registry, crawl_id), shard_label(shard))


def _final_crawl_row(store: SnapshotStore, registry: str, crawl_id: str, shard: tuple[int, int]) -> str:
    return posixpath.join(partition_dir(store.base, "crawls", registry, crawl_id), f"crawl-{shard_label(shard)}.parquet")


def _exists(store: SnapshotStore, path: str) -> bool:
    return store.fs.get_file_info(path).type == pafs.FileType.File


def write_ready(store: SnapshotStore, registry: str, crawl_id: str, shard: tuple[int, int], row: dict[str, Any]) -> None:
    """Mark a shard as finished: its rows are staged, ``row`` is its crawls row."""
    folder = shard_staging(store, registry, crawl_id, shard)
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    tmp = posixpath.join(folder, READY + ".tmp")
    with store.fs.open_output_stream(tmp) as out:
        out.write(json.dumps(data, sort_keys=True).encode())
    store.fs.move(tmp, posixpath.join(folder, READY))


def read_ready(store: SnapshotStore, registry: str, crawl_id: str, shard: tuple[int, int]) -> dict[str, Any] | None:
    path = posixpath.join(shard_staging(store, registry, crawl_id, shard), READY)
    try:
        with store.fs.open_input_stream(path) as stream:
            data = json.loads(stream.read())
    except (FileNotFoundError, OSError, ValueError):
        return None
    for key in _TIMESTAMPS:
        data[key] = datetime.fromisoformat(data[key])
    return data


def _parts(store: SnapshotStore, folder: str) -> list[str]:
    infos = store.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    return sorted(i.path for i in infos if i.path.endswith(".parquet"))


def _write_atomically(store: SnapshotStore, table: pa.Table, tmp: str, final: str) -> None:
    pq.write_table(table, tmp, filesystem=store.fs, compression="zstd")
    store.fs.create_dir(posixpath.dirname(final), recursive=True)
    store.fs.move(tmp, final)


def merge_when_ready(store: SnapshotStore, registry: str, crawl_id: str, total: int) -> bool:
    """Merge the crawl if every shard is ready (or committed); True when it is committed."""
    shards = [(i, total) for i in range(total)]
    finals = {s: _final_crawl_row(store, registry, crawl_id, s) for s in shards}
    if all(_exists(store, f) for f in finals.values()):
        return True
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for s in shards:
        ready = read_ready(store, registry, crawl_id, s)
        if ready is None:
            if _exists(store, finals[s]):
                continue  # merged by another run that was cut short after this row
            return False  # that shard is still crawling
        rows[s] = ready
    try:
        _merge(store, registry, crawl_id, shards, rows, finals)
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        # Another shard merged at the same time and removed the staging under us.
        if all(_exists(store, f) for f in finals.values()):
            return True
        raise
    return True


def _merge(
    store: SnapshotStore,
    registry: str,
    crawl_id: str,
    shards: list[tuple[int, int]],
    rows: dict[tuple[int, int], dict[str, Any]],
    finals: dict[tuple[int, int], str],
) -> None:
    base = crawl_staging(store, registry, crawl_id)
    token = secrets.token_hex(4)  # temporary names of their own, should two shards merge at once
    for table in CONTENT_TABLES:
        target = partition_dir(store.base, table, registry, crawl_id)
        kept: set[str] = set()  # digests of lower shards
        for s in shards:
            parts = _parts(store, posixpath.join(shard_staging(store, registry, crawl_id, s), table))
            own: set[str] = set()
            for part in parts:
                data = pq.read_table(part, filesystem=store.fs)
                own.update(pc.unique(data["digest"]).to_pylist())
                if kept:
                    data = data.filter(pc.invert(pc.is_in(data["digest"], value_set=pa.array(sorted(kept), pa.string()))))
                name = posixpath.basename(part)
                _write_atomically(store, data, posixpath.join(base, f"{table}-{name}.{token}.tmp"), posixpath.join(target, name))
            kept |= own
    for s in shards:
        folder = shard_staging(store, registry, crawl_id, s)
        for table in schema.TABLES:
            if table in CONTENT_TABLES or table == "crawls":
                continue
            target = partition_dir(store.base, table, registry, crawl_id)
            for part in _parts(store, posixpath.join(folder, table)):
                store.fs.create_dir(target, recursive=True)
                try:
                    store.fs.move(part, posixpath.join(target, posixpath.basename(part)))
                except FileNotFoundError:
                    pass  # moved by a concurrent merge
    for s in shards:
        if s not in rows:
            continue
        row = dict(rows[s], registry=registry, crawl_id=crawl_id, shard=f"{s[0]}/{s[1]}")
        table = pa.Table.from_pylist([row], schema=schema.CRAWLS).drop_columns(list(schema.PARTITION_COLUMNS))
        _write_atomically(store, table, posixpath.join(base, f"crawl-{shard_label(s)}.{token}.tmp"), finals[s])
    store.fs.delete_dir(base)

"""The snapshot store: Parquet tables in Hive partitions, on a local folder or an object store.

Layout under the root (``DIR`` or ``s3://bucket/prefix``)::

    <table>/registry=<quoted>/crawl_id=<id>/part-<shard>-<seq>.parquet   committed data
    _staging/<quoted registry>/<crawl_id>/<shard>/<table>/part-*.parquet  a crawl in progress
    _staging/<quoted registry>/<crawl_id>/<shard>/progress.jsonl         what it has finished

A crawl writes into ``_staging`` (which Hive readers ignore: the folder starts with ``_``),
then :meth:`CrawlWriter.commit` moves its parts into place and writes the ``crawls`` row last.
Readers only trust data whose crawl has a ``crawls`` row for every shard, so a crawl becomes
visible at once, and an interrupted one never is. ``registry`` and ``crawl_id`` live only in the
folder names, as Hive, Spark, Trino, DuckDB and pyarrow expect.
"""

from __future__ import annotations

import json
import posixpath
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from reginventory.errors import SnapshotError
from reginventory.inventory import schema

#: Rows buffered per table before a part file is written: bounds memory on large registries.
FLUSH_ROWS = 50_000
STAGING = "_staging"
#: What a crawl shard has finished, one JSON object a line (in its staging folder).
PROGRESS_FILE = "progress.jsonl"


def quote_partition(value: str) -> str:
    """Percent-encode a partition value the way Hive and pyarrow decode it."""
    return urllib.parse.quote(value, safe="")


def open_filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and base path for a folder or URL (``s3://``, ``file://``)."""
    if "://" in root:
        try:
            fs, path = pafs.FileSystem.from_uri(root)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SnapshotError(f"cannot open snapshot store {root!r}: {exc}") from exc
        return fs, path.rstrip("/")
    import os

    return pafs.LocalFileSystem(), os.path.abspath(root)


def partition_dir(base: str, table: str, registry: str, crawl_id: str) -> str:
    """The committed folder of one table, registry and crawl."""
    return posixpath.join(
        base, table, f"registry={quote_partition(registry)}", f"crawl_id={quote_partition(crawl_id)}"
    )


def shard_label(shard: tuple[int, int]) -> str:
    return f"{shard[0]}-of-{shard[1]}"


@dataclass
class CrawlWriter:
    """Buffers rows per table and writes them as part files into the crawl's staging folder."""

    fs: pafs.FileSystem
    base: str
    registry: str
    crawl_id: str
    shard: tuple[int, int] = (0, 1)
    _buffers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _seq: dict[str, int] = field(default_factory=dict)

    @property
    def staging_dir(self) -> str:
        return posixpath.join(
            self.base, STAGING, quote_partition(self.registry), quote_partition(self.crawl_id),
            shard_label(self.shard),
        )

    def __post_init__(self) -> None:
        self.fs.create_dir(self.staging_dir, recursive=True)
        for table in schema.TABLES:
            existing = self._staged_parts(table)
            self._seq[table] = len(existing)

    def _staged_parts(self, table: str) -> list[str]:
        folder = posixpath.join(self.staging_dir, table)
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        except OSError:
            return []
        return sorted(i.path for i in infos if i.path.endswith(".parquet"))

    def add(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Queue rows for a table; a part file is written when the buffer is full."""
        buffer = self._buffers.setdefault(table, [])
        buffer.extend(rows)
        if len(buffer) >= FLUSH_ROWS:
            self._flush_table(table)

    def flush(self) -> None:
        """Write every buffered row to part files (call before recording progress)."""
        for table in list(self._buffers):
            self._flush_table(table)

    def _flush_table(self, table: str) -> None:
        rows = self._buffers.get(table)
        if not rows:
            return
        full = schema.TABLES[table]
        for row in rows:
            row["registry"] = self.registry
            row["crawl_id"] = self.crawl_id
        arrow = pa.Table.from_pylist(rows, schema=full).drop_columns(list(schema.PARTITION_COLUMNS))
        seq = self._seq[table]
        self._seq[table] = seq + 1
        folder = posixpath.join(self.staging_dir, table)
        self.fs.create_dir(folder, recursive=True)
        path = posixpath.join(folder, f"part-{shard_label(self.shard)}-{seq:05d}.parquet")
        pq.write_table(arrow, path, filesystem=self.fs, compression="zstd")
        self._buffers[table] = []

    def record_progress(self, entry: dict[str, Any]) -> None:
        """Append one finished unit of work (after :meth:`flush`), for ``--resume``.

        Object stores cannot append, so the whole (small) file is rewritten: into a temporary
        file first, then moved into place, so that a crash while writing leaves the previous
        progress whole (a rename on a local disk; an object store shows an object only once
        it is fully written).
        """
        path = posixpath.join(self.staging_dir, PROGRESS_FILE)
        previous = b""
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            with self.fs.open_input_stream(path) as stream:
                previous = stream.read()
        tmp = path + ".tmp"
        with self.fs.open_output_stream(tmp) as out:
            out.write(previous + json.dumps(entry, sort_keys=True).encode() + b"\n")
        self.fs.move(tmp, path)

    def progress(self) -> list[dict[str, Any]]:
        """Units of work a previous run of this crawl finished. A line cut short (a crash while
        an older version wrote the file in place) ends the list: its checkpoint's parts are then
        orphans, and its repositories are crawled again."""
        path = posixpath.join(self.staging_dir, PROGRESS_FILE)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return []
        with self.fs.open_input_stream(path) as stream:
            text = stream.read().decode(errors="replace")
        entries: list[dict[str, Any]] = []
        for line in filter(None, text.splitlines()):
            try:
                entries.append(json.loads(line))
            except ValueError:
                break
        return entries

    def staged_table(self, table: str) -> pa.Table | None:
        """What a previous run of this crawl already staged for a table."""
        parts = self._staged_parts(table)
        if not parts:
            return None
        return pa.concat_tables(pq.read_table(p, filesystem=self.fs) for p in parts)

    def commit(self, crawl_row: dict[str, Any]) -> None:
        """Move the staged parts into their partitions, then write the crawls row that reveals them."""
        self.flush()
        for table in schema.TABLES:
            if table == "crawls":
                continue
            target = partition_dir(self.base, table, self.registry, self.crawl_id)
            for part in self._staged_parts(table):
                self.fs.create_dir(target, recursive=True)
                self.fs.move(part, posixpath.join(target, posixpath.basename(part)))
        row = dict(crawl_row, registry=self.registry, crawl_id=self.crawl_id)
        row["shard"] = f"{self.shard[0]}/{self.shard[1]}"
        table = pa.Table.from_pylist([row], schema=schema.CRAWLS).drop_columns(
            list(schema.PARTITION_COLUMNS)
        )
        target = partition_dir(self.base, "crawls", self.registry, self.crawl_id)
        self.fs.create_dir(target, recursive=True)
        final = posixpath.join(target, f"crawl-{shard_label(self.shard)}.parquet")
        tmp = posixpath.join(self.staging_dir, "crawl.parquet")
        pq.write_table(table, tmp, filesystem=self.fs)
        self.fs.move(tmp, final)
        self.fs.delete_dir(self.staging_dir)
        self._drop_empty_crawl_dir()

    def abort(self) -> None:
        """Drop everything staged for this crawl shard."""
        self.fs.delete_dir(self.staging_dir)
        self._drop_empty_crawl_dir()

    def _drop_empty_crawl_dir(self) -> None:
        """Remove the crawl's staging folder once its last shard is gone, so that
        :meth:`SnapshotStore.interrupted_crawls` does not list a finished crawl."""
        parent = posixpath.dirname(self.staging_dir)
        try:
            if not self.fs.get_file_info(pafs.FileSelector(parent, allow_not_found=True)):
                self.fs.delete_dir(parent)
        except OSError:
            pass  # another shard is still staging, or the store has no real folders


class SnapshotStore:
    """A folder or object-store prefix that holds the snapshots of any number of registries."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fs, self.base = open_filesystem(root)

    def writer(self, registry: str, crawl_id: str, shard: tuple[int, int] = (0, 1)) -> CrawlWriter:
        """A writer for one crawl shard; reopening the same crawl resumes its staging."""
        return CrawlWriter(self.fs, self.base, registry, crawl_id, shard)

    def has_staging(self, registry: str, crawl_id: str, shard: tuple[int, int] = (0, 1)) -> bool:
        path = posixpath.join(
            self.base, STAGING, quote_partition(registry), quote_partition(crawl_id), shard_label(shard)
        )
        return self.fs.get_file_info(path).type == pafs.FileType.Directory

    def interrupted_crawls(self, registry: str) -> list[str]:
        """Crawl ids with staged, uncommitted work for a registry, oldest first."""
        folder = posixpath.join(self.base, STAGING, quote_partition(registry))
        infos = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        return sorted(urllib.parse.unquote(posixpath.basename(i.path)) for i in infos)

    def table_files(self, table: str) -> list[str]:
        """Committed part files of a table (paths within the filesystem)."""
        folder = posixpath.join(self.base, table)
        infos = self.fs.get_file_info(pafs.FileSelector(folder, recursive=True, allow_not_found=True))
        return sorted(i.path for i in infos if i.path.endswith(".parquet") and f"/{STAGING}/" not in i.path)

    def crawls(self) -> pa.Table:
        """Every committed crawl shard row (registry and crawl_id included)."""
        return self.read_table("crawls")

    def read_table(self, table: str, crawl_ids: Iterable[str] | None = None) -> pa.Table:
        """Read a committed table with its partition columns, optionally only some crawls."""
        files = self.table_files(table)
        wanted = None if crawl_ids is None else set(crawl_ids)
        parts: list[pa.Table] = []
        for path in files:
            registry, crawl_id = _partition_values(path)
            if wanted is not None and crawl_id not in wanted:
                continue
            try:
                data = pq.read_table(path, filesystem=self.fs)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SnapshotError(f"corrupt Parquet file {path}: {exc}") from exc
            n = data.num_rows
            data = data.append_column("registry", pa.array([registry] * n, pa.string()))
            data = data.append_column("crawl_id", pa.array([crawl_id] * n, pa.string()))
            parts.append(data.select(schema.TABLES[table].names).cast(schema.TABLES[table]))
        if not parts:
            return schema.TABLES[table].empty_table()
        return pa.concat_tables(parts)

    def committed_crawls(self, registry: str | None = None) -> list[dict[str, Any]]:
        """Crawls whose every shard has committed, oldest first, one merged row per crawl."""
        rows = self.crawls().to_pylist()
        return merge_shard_rows(rows, registry)


def _partition_values(path: str) -> tuple[str, str]:
    values: dict[str, str] = {}
    for segment in path.split("/"):
        key, sep, value = segment.partition("=")
        if sep and key in schema.PARTITION_COLUMNS:
            values[key] = urllib.parse.unquote(value)
    return values["registry"], values["crawl_id"]


def merge_shard_rows(rows: list[dict[str, Any]], registry: str | None = None) -> list[dict[str, Any]]:
    """Merge per-shard crawls rows into one row per complete crawl (all N shards present)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if registry is None or row["registry"] == registry:
            groups.setdefault((row["registry"], row["crawl_id"]), []).append(row)
    merged: list[dict[str, Any]] = []
    for (reg, crawl_id), shard_rows in groups.items():
        total = int(shard_rows[0]["shard"].split("/")[1])
        if len({r["shard"] for r in shard_rows}) != total:
            continue  # some shard has not committed yet
        row = dict(shard_rows[0])
        for key in ("repositories", "tags", "manifests", "errors", "requests"):
            row[key] = sum(r[key] for r in shard_rows)
        row["started"] = min(r["started"] for r in shard_rows)
        row["finished"] = max(r["finished"] for r in shard_rows)
        statuses = {r["status"] for r in shard_rows}
        row["status"] = schema.STATUS_COMPLETE if statuses == {schema.STATUS_COMPLETE} else schema.STATUS_PARTIAL
        row["shard"] = f"*/{total}"
        merged.append(row)
    return sorted(merged, key=lambda r: (r["started"], r["crawl_id"]))


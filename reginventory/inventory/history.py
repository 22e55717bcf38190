"""What the previous committed crawl of a registry tells the next one.

- ``first_seen`` is carried forward: a tag that still points at the same digest, and a manifest
  still present in the same repository, keep the first time a crawl saw them.
- The incremental crawl trusts the previous content rows: a digest is immutable, so its
  manifest, config and layers are not fetched again (unless the previous crawl recorded an
  error about it).
- Manifests the previous crawl saw in a repository and this crawl did not reach are checked by
  digest: distribution lists untagged manifests nowhere else.

Tables are kept as Arrow (columnar, compact) and sorted by repository; one repository's rows
become Python objects only while that repository is crawled.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterator, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from reginventory.errors import SnapshotError
from reginventory.inventory import schema
from reginventory.inventory.content import ManifestFacts, facts_from_rows
from reginventory.inventory.store import SnapshotStore, partition_dir

_BATCH_ROWS = 20_000


def read_partition_parts(
    store: SnapshotStore, table: str, registry: str, crawl_id: str, columns: list[str] | None = None
) -> list[pa.Table]:
    """One registry's rows of one committed crawl, one Arrow table per part file."""
    folder = partition_dir(store.base, table, registry, crawl_id)
    infos = store.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    paths = sorted(i.path for i in infos if i.path.endswith(".parquet"))
    names = [n for n in schema.TABLES[table].names if n not in schema.PARTITION_COLUMNS]
    wanted = columns or names
    target = pa.schema([schema.TABLES[table].field(n) for n in wanted])
    try:
        return [pq.read_table(p, filesystem=store.fs, columns=wanted).cast(target) for p in paths]
    except (pa.ArrowInvalid, OSError) as exc:
        raise SnapshotError(f"cannot read {table} of crawl {crawl_id}: {exc}") from exc


def read_partition(store: SnapshotStore, table: str, registry: str, crawl_id: str, columns: list[str] | None = None) -> pa.Table:
    """One registry's rows of one committed crawl (no partition columns)."""
    parts = read_partition_parts(store, table, registry, crawl_id, columns)
    if parts:
        return pa.concat_tables(parts)
    names = columns or [n for n in schema.TABLES[table].names if n not in schema.PARTITION_COLUMNS]
    return pa.schema([schema.TABLES[table].field(n) for n in names]).empty_table()


class PreviousTag(NamedTuple):
    """A tag as the previous crawl recorded it."""

    digest: str
    media_type: str
    first_seen: datetime


class _ByRepository:
    """Arrow tables (the part files of a table) read one repository at a time, through indexes
    sorted by repository: rows are neither copied nor concatenated, which keeps the peak memory
    of a large history low (a repository's rows are usually in one part)."""

    def __init__(self, parts: list[pa.Table]) -> None:
        self.parts: list[tuple[pa.Table, pa.Array]] = []
        self.offsets: dict[str, list[tuple[int, int, int]]] = {}
        for table in parts:
            if not table.num_rows:
                continue
            order = pc.sort_indices(table, sort_keys=[("repository", "ascending")])
            counts = pc.value_counts(table["repository"].take(order))
            start = 0
            for entry in counts:  # in order of first appearance: the sorted order
                name, count = entry["values"].as_py(), entry["counts"].as_py()
                self.offsets.setdefault(name, []).append((len(self.parts), start, count))
                start += count
            self.parts.append((table, order))

    def rows(self, repository: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part, start, count in self.offsets.get(repository, ()):
            table, order = self.parts[part]
            out.extend(table.take(order.slice(start, count)).to_pylist())
        return out


class PreviousCrawl:
    """The latest committed crawl of one registry, as the next crawl needs it."""

    def __init__(self, store: SnapshotStore, registry: str, row: dict[str, Any]) -> None:
        self.store = store
        self.registry = registry
        self.crawl_id: str = row["crawl_id"]
        self.started: datetime = row["started"]
        try:
            self.options: dict[str, Any] = json.loads(row.get("options") or "{}")
        except ValueError:
            self.options = {}
        self._tags = _ByRepository(
            read_partition_parts(
                store, "tags", registry, self.crawl_id, ["repository", "tag", "digest", "media_type", "first_seen"]
            )
        )
        self._manifests = _ByRepository(
            read_partition_parts(store, "manifests", registry, self.crawl_id, ["repository", "digest", "first_seen"])
        )

    @classmethod
    def latest(cls, store: SnapshotStore, registry: str) -> PreviousCrawl | None:
        committed = store.committed_crawls(registry)
        return cls(store, registry, committed[-1]) if committed else None

    @property
    def referrers_api(self) -> bool | None:
        """Whether the registry answered the OCI referrers API last time (None: not asked)."""
        value = self.options.get("referrers_api")
        return value if isinstance(value, bool) else None

    def tags(self, repository: str) -> dict[str, PreviousTag]:
        """tag -> what the previous crawl recorded of it."""
        return {r["tag"]: PreviousTag(r["digest"], r["media_type"], r["first_seen"]) for r in self._tags.rows(repository)}

    def manifests(self, repository: str) -> dict[str, datetime]:
        """digest -> first_seen of every manifest the previous crawl recorded in a repository."""
        return {r["digest"]: r["first_seen"] for r in self._manifests.rows(repository)}

    def content(self) -> Iterator[ManifestFacts]:
        """Facts of every digest of the previous crawl that it recorded without error."""
        return iter_facts(
            read_partition(self.store, "manifests", self.registry, self.crawl_id),
            read_partition(self.store, "layers", self.registry, self.crawl_id),
            read_partition(self.store, "index_children", self.registry, self.crawl_id),
            untrusted=untrusted_digests(read_partition(self.store, "errors", self.registry, self.crawl_id)),
        )


def untrusted_digests(errors: pa.Table) -> set[str]:
    """Digests named by error rows: their facts may be incomplete, so they are fetched again."""
    if not errors.num_rows:
        return set()
    return {ref for ref in errors.column("reference").to_pylist() if ref and ref.startswith("sha256:")}


def _grouped(table: pa.Table) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(digest, rows) groups of a content table, in digest order, read in batches."""
    if not table.num_rows:
        return
    table = table.sort_by([("digest", "ascending"), ("position", "ascending")])
    current: str | None = None
    group: list[dict[str, Any]] = []
    for batch in table.to_batches(_BATCH_ROWS):
        for row in batch.to_pylist():
            if row["digest"] != current:
                if current is not None:
                    yield current, group
                current, group = row["digest"], []
            group.append(row)
    if current is not None:
        yield current, group


def iter_facts(
    manifests: pa.Table, layers: pa.Table, children: pa.Table, untrusted: frozenset[str] | set[str] = frozenset()
) -> Iterator[ManifestFacts]:
    """Rebuild one ManifestFacts per digest from manifests, layers and index_children rows."""
    if not manifests.num_rows:
        return
    by_layers = dict(_grouped(layers))
    by_children = dict(_grouped(children))
    seen: set[str] = set()
    for batch in manifests.to_batches(_BATCH_ROWS):
        for row in batch.to_pylist():
            digest = row["digest"]
            if digest in seen or digest in untrusted:
                continue
            seen.add(digest)
            yield facts_from_rows(row, by_layers.pop(digest, ()), by_children.pop(digest, ()))

"""The crawler: one registry into one Parquet snapshot, with the fewest requests that give the
full picture.

Pipeline (one event loop, one :class:`RegistryClient` per registry, whose ``max_in_flight``
and ``rate`` bound the requests)::

    catalog pages (or an explicit list) -> repositories (filter, shard, skip finished)
      -> tag list -> per tag: GET manifest (full) or HEAD (incremental, known tag; conditional
         on its previous digest, a 304 says it has not moved)
      -> unknown digests: GET manifest, config of images, children of indexes
      -> reach: index children, referrers (subject field, cosign tags, OCI referrers API),
         manifests of the previous snapshot still present by digest ("history")
      -> rows of the repository -> checkpoint (staging + progress) -> commit

Digests are content addresses, so a manifest, config or child is fetched at most once per
registry and crawl (:class:`reginventory.inventory.content.ManifestFacts` is the cache), and an
incremental crawl trusts the previous snapshot for every digest it already knows.

Failures of one repository, tag or manifest are recorded in the ``errors`` table and the crawl
goes on (status ``partial``). A registry that stops answering (a restart) is waited for up to
``reconnect_seconds``. A crawl is visible only once committed; an interrupted one is resumed
with ``resume=True`` from its last checkpoint.

What the rows mean (the columns themselves are in :mod:`reginventory.inventory.schema`):

- ``tags``: every tag of every crawled repository except cosign-style ``sha256-<hex>.sig|.att|
  .sbom`` tags and the OCI referrers fallback tag ``sha256-<hex>``, which go to ``referrers``
  (``source='tag'``, the subject taken from the tag name). ``first_seen`` is carried from the
  previous committed crawl when the tag pointed at the same digest, else this crawl's start.
- ``manifests``: one row per repository and digest reached: ``reached_by`` is ``tag``, ``index``
  (child of a reached index), ``referrer`` (cosign/fallback tag, OCI referrers API, child of a
  fallback index) or ``history`` (seen by the previous crawl, reached by nothing now, still
  answering a HEAD by digest: an untagged revision that still holds storage). ``tagged`` is true
  when any tag, cosign tags included, points at it. Configs are fetched for images only.
- ``layers`` and ``index_children``: once per registry and digest per crawl (carried from the
  previous crawl's rows for known digests in incremental mode; merged across shards).
- ``referrers``: ``source`` ``tag``, ``subject`` (the manifest's ``subject`` field) or ``api``
  (the OCI referrers API, asked only when one probe shows the registry has it).
- ``errors``: ``stage`` ``catalog``, ``tags``, ``manifest``, ``config``, ``referrers`` or
  ``history``; ``reference`` is the tag, or the digest when it is known. A digest named in an
  error is fetched again by the next incremental crawl.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Sequence, TypeVar

import pyarrow.fs as pafs

from reginventory import __version__
from reginventory.client.manifest import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, ImageConfig, Manifest, parse_image_config
from reginventory.client.registry_client import PAGE_SIZE, ManifestHead, RegistryClient, next_link
from reginventory.client.reference import REFERRER_TAG_RE
from reginventory.errors import (
    IllegalArgumentError,
    NotFoundError,
    RegInventoryError,
    RegistryError,
    RegistryUnavailableError,
)
from reginventory.inventory import schema
from reginventory.inventory.content import (
    ManifestFacts,
    child_rows,
    facts_from_manifest,
    layer_rows,
    manifest_row,
    needs_config,
    referrer_kind,
    total_size,
)
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget, options_json
from reginventory.inventory.history import PreviousCrawl, PreviousTag, iter_facts
from reginventory.inventory.merge import merge_when_ready, read_ready, write_ready
from reginventory.inventory.progress import CrawlStats, NullReporter, Reporter
from reginventory.inventory.shard import format_shard, in_shard
from reginventory.inventory.store import CrawlWriter, SnapshotStore

__all__ = [
    "CrawlResult",
    "crawl",
    "crawl_registries",
    "crawl_registry",
    "new_crawl_id",
]


#: reached_by values, strongest first: a manifest reached two ways is recorded by the first.
REACH_ORDER = ("tag", "index", "referrer", "history")
_RANK = {name: i for i, name in enumerate(REACH_ORDER)}
#: Catalog and tag-list answers are read up to this size (distribution sends a repository's
#: tags in one answer).
MAX_LIST_BYTES = MAX_MANIFEST_BYTES * 4
#: Longest wait between two tries while the registry refuses connections.
MAX_RECONNECT_DELAY = 5.0

T = TypeVar("T")


def new_crawl_id(now: datetime | None = None) -> str:
    """A crawl id that sorts by time: ``20240101T120000Z-a1b2c3``."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class CrawlResult:
    """What a committed crawl (shard) of one registry recorded."""

    registry: str
    crawl_id: str
    shard: str
    mode: str
    status: str
    started: datetime
    repositories: int
    tags: int
    manifests: int
    errors: int
    requests: int
    bytes: int
    duration: float
    resumed: bool = False
    #: False for a shard that finished before the others: the crawl becomes visible when the
    #: last shard finishes (and merges every shard's staging).
    committed: bool = True

    @property
    def partial(self) -> bool:
        return self.status == schema.STATUS_PARTIAL


@dataclass
class _Repo:
    """Rows and reach of the repository being crawled."""

    name: str
    previous_tags: dict[str, PreviousTag]
    first_seen_manifests: dict[str, datetime]
    tag_digests: dict[str, tuple[str, str]] = field(default_factory=dict)  # tag -> (digest, media type)
    reach: dict[str, str] = field(default_factory=dict)
    tagged: set[str] = field(default_factory=set)
    referrers: dict[tuple[str, str, str, str | None], dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # digests whose fetch failed (error recorded)
    fallbacks: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, subject, index digest)

    def reach_digest(self, digest: str, how: str) -> bool:
        """Record that ``digest`` is reached ``how``; True when that is new or stronger."""
        current = self.reach.get(digest)
        if current is None or _RANK[how] < _RANK[current]:
            self.reach[digest] = how
            return current is None
        return False

    def error(self, stage: str, exc: BaseException, reference: str | None = None) -> None:
        self.errors.append(error_row(stage, exc, self.name, reference))
        if reference and reference.startswith("sha256:"):
            self.failed.add(reference)

    def referrer(self, subject: str, digest: str, kind: str, artifact_type: str | None, source: str, tag: str | None = None) -> None:
        self.referrers.setdefault(
            (subject, digest, source, tag),
            {
                "repository": self.name, "subject_digest": subject, "digest": digest, "kind": kind,
                "artifact_type": artifact_type, "source": source, "tag": tag,
            },
        )


def error_row(stage: str, exc: BaseException, repository: str | None = None, reference: str | None = None) -> dict[str, Any]:
    """One ``errors`` row: where, what kind, the HTTP status and the (credential-free) message."""
    status = exc.status if isinstance(exc, RegistryError) else None
    if isinstance(exc, RegistryError):
        repository = repository or exc.repository
        reference = reference or exc.reference
    return {
        "repository": repository,
        "reference": reference,
        "stage": stage,
        "error_type": type(exc).__name__,
        "status": status,
        "message": str(exc) or type(exc).__name__,
    }


class RegistryCrawl:
    """One crawl (shard) of one registry into one store."""

    def __init__(
        self,
        target: CrawlTarget,
        store: SnapshotStore,
        options: CrawlOptions = CrawlOptions(),
        stats: CrawlStats | None = None,
        client: RegistryClient | None = None,
    ) -> None:
        self.target = target
        self.store = store
        self.options = options
        self.registry = target.registry
        self.stats = stats or CrawlStats(self.registry)
        self._client = client
        self.cache: dict[str, ManifestFacts] = {}
        self._configs: dict[str, ImageConfig | None] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._down_since: float | None = None
        self._referrers_api: bool | None = None
        self._probe_lock = asyncio.Lock()
        self._checkpoint_lock = asyncio.Lock()
        self._pending: list[tuple[str, list[dict[str, Any]]]] = []
        self._pending_repos: list[str] = []
        self._pending_rows = 0
        self._last_checkpoint = time.monotonic()
        self._known_parts: set[str] = set()
        self._global_errors: list[dict[str, Any]] = []
        self.counts = {"repositories": 0, "tags": 0, "manifests": 0, "errors": 0, "requests": 0}
        self.previous: PreviousCrawl | None = None
        self.mode = "full"
        self.writer: CrawlWriter | None = None
        self.crawl_id = ""
        self.started = _now()
        self.resumed = False
        self._finished: set[str] = set()
        self._ready_row: dict[str, Any] | None = None

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> CrawlResult:
        client = self._client or self.target.client()
        self.client = client
        self.stats.request_counter = lambda: client.requests
        t0 = time.monotonic()
        try:
            await asyncio.to_thread(self._open)
            self.stats.requests_before = self.counts["requests"]
            self.stats.repositories_done = self.counts["repositories"]
            self.stats.tags = self.counts["tags"]
            self.stats.manifests = self.counts["manifests"]
            self.stats.errors = self.counts["errors"]
            if self._ready_row is not None:
                return await self._finish_shard(self._ready_row, t0)  # crawled; only the merge is left
            await self._crawl_repositories()
            self._pending.append(("errors", self._global_errors))
            self.counts["errors"] += len(self._global_errors)
            await self._checkpoint(force=True)
            status = schema.STATUS_PARTIAL if self.counts["errors"] else schema.STATUS_COMPLETE
            finished = _now()
            row = {
                "started": self.started,
                "finished": finished,
                "status": status,
                "mode": self.mode,
                "repositories": self.counts["repositories"],
                "tags": self.counts["tags"],
                "manifests": self.counts["manifests"],
                "errors": self.counts["errors"],
                "requests": self.counts["requests"],
                "options": options_json(
                    self.target, self.options, mode=self.mode, referrers_api=self._referrers_api,
                    previous_crawl=self.previous.crawl_id if self.previous else None,
                ),
                "tool_version": __version__,
            }
            assert self.writer is not None
            if self.options.shard[1] == 1:
                await asyncio.to_thread(self.writer.commit, row)
                await self._build_derived()
                return self._result(row, t0, committed=True)
            await asyncio.to_thread(write_ready, self.store, self.registry, self.crawl_id, self.options.shard, row)
            return await self._finish_shard(row, t0)
        finally:
            self.stats.finished = time.monotonic()
            if self._client is None:
                await client.aclose()

    async def _finish_shard(self, row: dict[str, Any], t0: float) -> CrawlResult:
        """A finished shard merges the crawl when every other shard has finished too."""
        committed = await asyncio.to_thread(
            merge_when_ready, self.store, self.registry, self.crawl_id, self.options.shard[1]
        )
        if committed:
            await self._build_derived()
        return self._result(row, t0, committed=committed)

    async def _build_derived(self) -> None:
        """Cache the committed crawl's derived tables for the queries and prune older caches;
        a failure only warns (see :func:`reginventory.analysis.derived.build_after_crawl`)."""
        if not self.options.derived:
            return
        # Imported here: the analysis layer (DuckDB, pandas) is not needed to crawl otherwise.
        from reginventory.analysis.derived import build_after_crawl

        await asyncio.to_thread(build_after_crawl, self.store.root, self.registry, self.crawl_id)

    def _result(self, row: dict[str, Any], t0: float, *, committed: bool) -> CrawlResult:
        return CrawlResult(
            registry=self.registry, crawl_id=self.crawl_id, shard=format_shard(self.options.shard),
            mode=row["mode"], status=row["status"], started=row["started"],
            repositories=row["repositories"], tags=row["tags"], manifests=row["manifests"],
            errors=row["errors"], requests=row["requests"], bytes=self.distinct_bytes(),
            duration=time.monotonic() - t0, resumed=self.resumed, committed=committed,
        )

    def _open(self) -> None:
        """Pick the crawl id, open (or reopen) its staging, load history and the digest cache."""
        options, store, shard = self.options, self.store, self.options.shard
        crawl_id = options.crawl_id
        if options.resume and crawl_id is None:
            staged = [c for c in store.interrupted_crawls(self.registry) if store.has_staging(self.registry, c, shard)]
            crawl_id = staged[-1] if staged else None
        if crawl_id is None:
            crawl_id = new_crawl_id()
        elif not options.resume and store.has_staging(self.registry, crawl_id, shard):
            raise IllegalArgumentError(
                f"crawl {crawl_id} of {self.registry} (shard {format_shard(shard)}) was interrupted; "
                "continue it with --resume"
            )
        if any(
            r["registry"] == self.registry and r["crawl_id"] == crawl_id and r["shard"] == format_shard(shard)
            for r in store.crawls().to_pylist()
        ):
            raise IllegalArgumentError(f"crawl {crawl_id} of {self.registry} (shard {format_shard(shard)}) is already committed")
        self.crawl_id = crawl_id
        self.writer = writer = store.writer(self.registry, crawl_id, shard)
        if options.resume and shard[1] > 1:
            self._ready_row = read_ready(store, self.registry, crawl_id, shard)
            if self._ready_row is not None:
                self.resumed = True
                return  # this shard had finished; the merge is what is left
        entries = writer.progress() if options.resume else []
        start = next((e for e in entries if e.get("type") == "start"), None)
        committed = store.committed_crawls(self.registry)
        committed = [r for r in committed if r["crawl_id"] != crawl_id]
        if start is not None:
            self.resumed = True
            self.started = datetime.fromisoformat(start["started"])
            previous_id = start.get("previous_crawl")
            row = next((r for r in committed if r["crawl_id"] == previous_id), None)
            self.previous = PreviousCrawl(store, self.registry, row) if row else None
            self.mode = start["mode"]
        else:
            self.started = _now()
            self.previous = PreviousCrawl(store, self.registry, committed[-1]) if committed else None
            self.mode = "full" if options.mode == "full" or self.previous is None else "incremental"
            writer.record_progress(
                {
                    "type": "start", "started": self.started.isoformat(), "mode": self.mode,
                    "previous_crawl": self.previous.crawl_id if self.previous else None,
                    "shard": format_shard(shard), "tool_version": __version__,
                }
            )
        if options.referrers == "never":
            self._referrers_api = False
        elif self.previous is not None and self.previous.referrers_api is False:
            self._referrers_api = False  # asked last time: the registry has no referrers API
        if self.mode == "incremental" and self.previous is not None:
            for facts in self.previous.content():
                self.cache[facts.digest] = facts
        checkpoints = [e for e in entries if e.get("type") == "checkpoint"]
        for entry in checkpoints:
            self._finished.update(entry.get("repositories", ()))
            self._known_parts.update(entry.get("parts", ()))
        if checkpoints:
            self.counts.update(checkpoints[-1].get("counts", {}))
        self._drop_orphan_parts()
        if self.resumed:
            self._rebuild_cache_from_staging()


    def _staged_parts(self) -> set[str]:
        assert self.writer is not None
        found: set[str] = set()
        for table in schema.TABLES:
            folder = posixpath.join(self.writer.staging_dir, table)
            infos = self.store.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
            found.update(posixpath.join(table, posixpath.basename(i.path)) for i in infos if i.path.endswith(".parquet"))
        return found

    def _drop_orphan_parts(self) -> None:
        """Delete part files written after the last checkpoint: their repositories are redone."""
        assert self.writer is not None
        for part in self._staged_parts() - self._known_parts:
            self.store.fs.delete_file(posixpath.join(self.writer.staging_dir, part))

    def _rebuild_cache_from_staging(self) -> None:
        """The digests whose content rows are already staged are known (and written)."""
        assert self.writer is not None
        manifests = self.writer.staged_table("manifests")
        if manifests is None:
            return
        layers = self.writer.staged_table("layers")
        children = self.writer.staged_table("index_children")
        with_content: set[str] = set()
        for table in (layers, children):
            if table is not None and table.num_rows:
                with_content.update(table.column("digest").to_pylist())
        empty = schema.LAYERS.empty_table()
        for facts in iter_facts(
            manifests, layers if layers is not None else empty,
            children if children is not None else schema.INDEX_CHILDREN.empty_table(),
        ):
            if facts.digest in with_content or (not facts.layers and not facts.children):
                facts.emitted = True
                self.cache[facts.digest] = facts

    # -- repositories ---------------------------------------------------------------------------

    async def _repositories(self) -> AsyncIterator[str]:
        """Repository names to crawl: the explicit list or the catalog, filtered and sharded."""
        if self.target.repositories:
            names: Iterable[str] = self.target.repository_names()
            self.stats.repositories_listed = len(self.target.repositories)
            for name in names:
                yield name
            return
        url: str | None = f"/v2/_catalog?n={PAGE_SIZE}"
        seen: set[str] = set()
        first = True
        while url and url not in seen:
            seen.add(url)
            try:
                response = await self._call(self.client.send, "GET", url)
                body = await self.client.read(response, MAX_LIST_BYTES, "catalog")
                data = json.loads(body)
                page = [str(x) for x in (data.get("repositories") or [])] if isinstance(data, dict) else None
                if page is None:
                    raise RegistryError("catalog answer is not a JSON object", registry=self.registry)
            except (RegInventoryError, ValueError) as exc:
                if first:
                    raise  # no catalog at all: nothing to snapshot (a partial empty one would mislead)
                self._global_errors.append(error_row("catalog", exc, reference=url))
                self.stats.errors += 1
                return
            first = False
            self.stats.repositories_listed += len(page)
            for name in page:
                yield name
            url = next_link(response)

    def _wanted(self, name: str) -> bool:
        return self.target.selects(name) and in_shard(name, self.options.shard)

    async def _crawl_repositories(self) -> None:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
        workers_count = self.options.repository_concurrency or self.target.max_in_flight
        self._tag_slots = asyncio.Semaphore(self.options.tag_concurrency or 2 * self.target.max_in_flight)
        selected = 0

        async def worker() -> None:
            while True:
                name = await queue.get()
                if name is None:
                    return
                await self._crawl_repository(name)

        workers = [asyncio.create_task(worker()) for _ in range(workers_count)]
        try:
            async for name in self._repositories():
                if not self._wanted(name):
                    continue
                selected += 1
                if name in self._finished:
                    continue
                await queue.put(name)
            self.stats.repositories_total = selected
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    async def _crawl_repository(self, name: str) -> None:
        previous = self.previous
        repo = _Repo(
            name,
            previous.tags(name) if previous else {},
            previous.manifests(name) if previous else {},
        )
        try:
            tags = await self._call(self.client.list_tags, name)
        except NotFoundError as exc:
            if self.target.repositories:
                repo.error("tags", exc)
            tags = []  # distribution answers 404 for a catalog repository without any tag
        except RegInventoryError as exc:
            repo.error("tags", exc)
            await self._finish(repo)
            return
        await self._bounded(tags, lambda tag: self._resolve_tag(repo, tag))
        self._classify_tags(repo)
        await self._expand(repo, list(repo.reach))
        await self._check_history(repo)
        self._record_fallbacks(repo)
        await self._finish(repo)

    def _record_fallbacks(self, repo: _Repo) -> None:
        """Referrers listed by OCI fallback indexes (tag ``sha256-<hex>``), source 'tag'."""
        for tag, subject, digest in repo.fallbacks:
            facts = self.cache.get(digest)
            for child in facts.children if facts else ():
                child_facts = self.cache.get(child.digest)
                repo.referrer(
                    subject, child.digest, referrer_kind(child_facts, child.artifact_type),
                    child.artifact_type or (child_facts.artifact_type if child_facts else None), "tag", tag,
                )

    async def _bounded(self, items: Iterable[T], func: Callable[[T], Awaitable[None]]) -> None:
        """Run ``func`` over items with at most ``tag_concurrency`` at once (registry-wide)."""
        tasks: set[asyncio.Task[None]] = set()
        slots = self._tag_slots
        try:
            for item in items:
                await slots.acquire()
                task = asyncio.create_task(func(item))
                tasks.add(task)
                task.add_done_callback(lambda t: (slots.release(), tasks.discard(t)))
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _resolve_tag(self, repo: _Repo, tag: str) -> None:
        """Find the digest of one tag: HEAD when the previous crawl knew the tag, else GET."""
        try:
            previous = repo.previous_tags.get(tag) if self.mode == "incremental" else None
            if previous is not None:
                # Conditional on the digest the tag had, when its content is known: a 304 (the
                # tag has not moved) costs the registry less than a plain HEAD.
                facts = self.cache.get(previous.digest)
                known = ManifestHead(previous.digest, previous.media_type, facts.manifest_size) if facts else None
                head = await self._call(self.client.head_manifest, repo.name, tag, known)
                repo.tag_digests[tag] = (head.digest, head.media_type)
                await self._ensure(repo, head.digest)
            else:
                manifest = await self._call(self.client.get_manifest, repo.name, tag)
                repo.tag_digests[tag] = (manifest.digest, manifest.media_type)
                await self._ensure(repo, manifest.digest, manifest)
        except RegInventoryError as exc:
            repo.error("manifest", exc, tag if tag not in repo.tag_digests else repo.tag_digests[tag][0])

    def _classify_tags(self, repo: _Repo) -> None:
        """Ordinary tags reach their manifest; cosign and fallback tags attach to their subject."""
        for tag, (digest, _media_type) in repo.tag_digests.items():
            repo.tagged.add(digest)
            match = REFERRER_TAG_RE.match(tag)
            if not match:
                repo.reach_digest(digest, "tag")
                continue
            subject = f"{match.group(1)}:{match.group(2)}"
            suffix = match.group(3)
            repo.reach_digest(digest, "referrer")
            facts = self.cache.get(digest)
            if suffix is None and facts is not None and facts.is_index:
                # The OCI referrers fallback: an index listing the subject's referrers (recorded
                # once its children are fetched, see _record_fallbacks).
                repo.fallbacks.append((tag, subject, digest))
            else:
                repo.referrer(
                    subject, digest, referrer_kind(facts, None, suffix),
                    facts.artifact_type if facts else None, "tag", tag,
                )

    async def _expand(self, repo: _Repo, digests: list[str]) -> None:
        """Follow index children, subjects and the referrers API from the reached digests."""
        pending = list(digests)
        done: set[str] = set()
        while pending:
            batch = [d for d in dict.fromkeys(pending) if d not in done]
            pending = []
            done.update(batch)
            await asyncio.gather(
                *(self._ensure_quiet(repo, d) for d in batch if d not in self.cache and d not in repo.failed)
            )
            for digest in batch:
                facts = self.cache.get(digest)
                if facts is None:
                    continue
                how = repo.reach[digest]
                for child in facts.children:
                    # children of a referrers fallback index are referrers, not platforms
                    repo.reach_digest(child.digest, "referrer" if how == "referrer" else "index")
                    pending.append(child.digest)
                if facts.subject_digest:
                    repo.referrer(
                        facts.subject_digest, digest, referrer_kind(facts), facts.artifact_type, "subject"
                    )
            if self._referrers_api is not False and self.options.referrers != "never":
                found = await asyncio.gather(*(self._api_referrers(repo, d) for d in batch if d in self.cache))
                for referrers in found:
                    for d in referrers:
                        repo.reach_digest(d, "referrer")
                        pending.append(d)

    async def _api_referrers(self, repo: _Repo, digest: str) -> list[str]:
        """Referrers of ``digest`` by the OCI referrers API (probed once per registry)."""
        if self._referrers_api is None:
            async with self._probe_lock:
                if self._referrers_api is None:
                    try:
                        found = await self._call(self.client.referrers, repo.name, digest)
                    except RegInventoryError as exc:
                        repo.error("referrers", exc, digest)
                        return []
                    self._referrers_api = found is not None
                    return self._record_api_referrers(repo, digest, found or [])
        if not self._referrers_api:
            return []
        try:
            found = await self._call(self.client.referrers, repo.name, digest)
        except RegInventoryError as exc:
            repo.error("referrers", exc, digest)
            return []
        return self._record_api_referrers(repo, digest, found or [])

    def _record_api_referrers(self, repo: _Repo, subject: str, descriptors: Sequence[Any]) -> list[str]:
        out = []
        for d in descriptors:
            facts = self.cache.get(d.digest)
            repo.referrer(subject, d.digest, referrer_kind(facts, d.artifact_type), d.artifact_type, "api")
            out.append(d.digest)
        return out

    async def _check_history(self, repo: _Repo) -> None:
        """Manifests of the previous crawl that nothing reached: still there (by digest)?"""
        candidates = [d for d in repo.first_seen_manifests if d not in repo.reach]
        if not candidates:
            return
        # Indexes first: their children are then reached without a request of their own.
        indexes = [d for d in candidates if (f := self.cache.get(d)) is not None and f.is_index]
        checked: set[str] = set()
        for group in (indexes, candidates):
            todo = [d for d in group if d not in repo.reach and d not in checked]
            checked.update(todo)
            present: list[str] = []

            async def check(digest: str) -> None:
                try:
                    await self._call(self.client.head_manifest, repo.name, digest)
                except NotFoundError:
                    return  # deleted since the previous crawl
                except RegInventoryError as exc:
                    repo.error("history", exc, digest)
                    return
                present.append(digest)

            await self._bounded(todo, check)
            for digest in present:
                repo.reach_digest(digest, "history")
            await self._expand(repo, present)

    # -- digests --------------------------------------------------------------------------------

    async def _ensure_quiet(self, repo: _Repo, digest: str) -> None:
        try:
            await self._ensure(repo, digest)
        except RegInventoryError as exc:
            repo.error("manifest", exc, digest)

    async def _ensure(self, repo: _Repo, digest: str, manifest: Manifest | None = None) -> ManifestFacts:
        """The facts of a digest: from the cache, or fetched once (concurrent callers share it)."""
        facts = self.cache.get(digest)
        if facts is not None:
            return facts
        return await self._once(f"m:{digest}", lambda: self._fetch(repo, digest, manifest))

    async def _once(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make`` once per key at a time; concurrent callers await the same result."""
        future = self._inflight.get(key)
        if future is not None:
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await make()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters may be none
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]

    async def _fetch(self, repo: _Repo, digest: str, manifest: Manifest | None) -> ManifestFacts:
        if manifest is None:
            manifest = await self._call(self.client.get_manifest, repo.name, digest)
        config = None
        if needs_config(manifest):
            assert manifest.config is not None  # needs_config checked it
            config_digest = manifest.config.digest
            try:
                config = await self._config(repo, config_digest)
            except RegInventoryError as exc:
                # The manifest is recorded without its config; the error names the manifest so
                # that the next incremental crawl fetches it again.
                repo.error("config", exc, digest)
        # An index's children are fetched when the repository's reach is expanded, after every
        # tag is resolved: a child that some tag points at is then known, not fetched twice.
        facts = facts_from_manifest(manifest, config)
        self.cache[digest] = facts
        return facts

    async def _config(self, repo: _Repo, digest: str) -> ImageConfig | None:
        if digest in self._configs:
            return self._configs[digest]

        async def fetch() -> ImageConfig | None:
            raw = await self._call(self.client.get_blob, repo.name, digest, MAX_CONFIG_BYTES)
            config = parse_image_config(raw)
            # Keep only what the tables use: a config's history can be large.
            slim = ImageConfig(config.created, config.os, config.architecture, config.variant, None, config.labels, {})
            self._configs[digest] = slim
            return slim

        return await self._once(f"c:{digest}", fetch)

    # -- requests -------------------------------------------------------------------------------

    async def _call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Call the client, waiting out a registry that refuses connections (a restart) for up to
        ``reconnect_seconds``; the client's own retries handle everything shorter."""
        delay = 0.5
        while True:
            try:
                result = await func(*args)
            except RegistryUnavailableError as exc:
                if exc.status is not None:
                    raise  # the registry answered (5xx after retries): not a connection problem
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                if now - self._down_since >= self.options.reconnect_seconds:
                    raise
                self.client.retries += 1  # the failed request is sent again
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
                continue
            self._down_since = None
            return result

    # -- rows and checkpoints -------------------------------------------------------------------

    async def _finish(self, repo: _Repo) -> None:
        """Turn a crawled repository into rows and queue them for the next checkpoint."""
        last_seen = self.started
        lookup = self.cache.get
        tags: list[dict[str, Any]] = []
        for tag, (digest, media_type) in sorted(repo.tag_digests.items()):
            if REFERRER_TAG_RE.match(tag):
                continue
            previous = repo.previous_tags.get(tag)
            first_seen = previous.first_seen if previous and previous.digest == digest else last_seen
            tags.append(
                {"repository": repo.name, "tag": tag, "digest": digest, "media_type": media_type,
                 "first_seen": first_seen, "last_seen": last_seen}
            )
        manifests: list[dict[str, Any]] = []
        layers: list[dict[str, Any]] = []
        children: list[dict[str, Any]] = []
        for digest, how in repo.reach.items():
            facts = self.cache.get(digest)
            if facts is None:
                continue  # its error is recorded
            manifests.append(
                manifest_row(
                    facts, repo.name, tagged=digest in repo.tagged, reached_by=how,
                    first_seen=repo.first_seen_manifests.get(digest, last_seen), last_seen=last_seen,
                    total=total_size(facts, lookup),
                )
            )
            if not facts.emitted:
                facts.emitted = True
                layers.extend(layer_rows(facts))
                children.extend(child_rows(facts, lookup))
        referrers = list(repo.referrers.values())
        batch = [
            ("tags", tags), ("manifests", manifests), ("layers", layers), ("index_children", children),
            ("referrers", referrers), ("errors", repo.errors),
        ]
        self._pending.extend((t, rows) for t, rows in batch if rows)
        self._pending_repos.append(repo.name)
        self._pending_rows += sum(len(rows) for _, rows in batch)
        self.counts["repositories"] += 1
        self.counts["tags"] += len(tags)
        self.counts["manifests"] += len(manifests)
        self.counts["errors"] += len(repo.errors)
        self.stats.repositories_done += 1
        self.stats.tags += len(tags)
        self.stats.manifests += len(manifests)
        self.stats.errors += len(repo.errors)
        if (
            self._pending_rows >= self.options.checkpoint_rows
            or time.monotonic() - self._last_checkpoint >= self.options.checkpoint_seconds
        ):
            await self._checkpoint()

    async def _checkpoint(self, force: bool = False) -> None:
        """Write finished repositories to staging, then record them as done (for ``--resume``)."""
        async with self._checkpoint_lock:
            if not self._pending_repos and not self._pending and not force:
                return
            batch, repos = self._pending, self._pending_repos
            self._pending, self._pending_repos, self._pending_rows = [], [], 0
            self.counts["requests"] = self.stats.requests
            counts = dict(self.counts)
            await asyncio.to_thread(self._write_checkpoint, batch, repos, counts)
            self._last_checkpoint = time.monotonic()

    def _write_checkpoint(self, batch: list[tuple[str, list[dict[str, Any]]]], repos: list[str], counts: dict[str, int]) -> None:
        writer = self.writer
        assert writer is not None
        for table, rows in batch:
            writer.add(table, rows)
        writer.flush()
        parts = self._staged_parts() - self._known_parts
        self._known_parts |= parts
        writer.record_progress({"type": "checkpoint", "repositories": repos, "parts": sorted(parts), "counts": counts})

    def distinct_bytes(self) -> int:
        """Bytes of the distinct manifests, configs and stored layers this crawl recorded."""
        blobs: dict[str, int] = {}
        for facts in self.cache.values():
            if not facts.emitted:
                continue
            blobs[facts.digest] = facts.manifest_size
            if facts.config_digest:
                blobs[facts.config_digest] = facts.config_size or 0
            for digest, size, _media_type, foreign in facts.layers:
                if not foreign:
                    blobs[digest] = size
        return sum(blobs.values())


# -- the API ----------------------------------------------------------------------------------------


async def crawl_registry(
    target: CrawlTarget,
    store: SnapshotStore | str,
    options: CrawlOptions = CrawlOptions(),
    *,
    stats: CrawlStats | None = None,
    client: RegistryClient | None = None,
) -> CrawlResult:
    """Crawl one registry into ``store`` (a SnapshotStore, a folder or an ``s3://`` URL) and
    commit the snapshot; raise when nothing could be crawled (the staging stays for ``resume``)."""
    if isinstance(store, str):
        store = SnapshotStore(store)
    return await RegistryCrawl(target, store, options, stats, client).run()


async def crawl_registries(
    targets: Sequence[CrawlTarget],
    store: SnapshotStore | str,
    options: CrawlOptions = CrawlOptions(),
    reporter: Reporter | None = None,
) -> list[CrawlResult | BaseException]:
    """Crawl several registries at once (one client each); a failed registry gives its exception
    in place of its result, the others are committed."""
    if isinstance(store, str):
        store = SnapshotStore(store)
    if len({t.registry for t in targets}) != len(targets):
        raise IllegalArgumentError("a registry is named twice")
    reporter = reporter or NullReporter()
    stats = [CrawlStats(t.registry) for t in targets]
    reporter.start(stats)
    display = asyncio.create_task(reporter.run())
    try:
        results = await asyncio.gather(
            *(crawl_registry(t, store, options, stats=s) for t, s in zip(targets, stats)), return_exceptions=True
        )
    finally:
        display.cancel()
        try:
            await display
        except asyncio.CancelledError:
            pass
        reporter.stop()
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # KeyboardInterrupt, cancellation
    return list(results)


def crawl(
    targets: CrawlTarget | Sequence[CrawlTarget],
    out: SnapshotStore | str,
    options: CrawlOptions = CrawlOptions(),
    reporter: Reporter | None = None,
) -> list[CrawlResult]:
    """Synchronous wrapper: crawl registries and return their results; raise the first failure
    (after the other registries are committed)."""
    if isinstance(targets, CrawlTarget):
        targets = [targets]
    results = asyncio.run(crawl_registries(list(targets), out, options, reporter))
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if isinstance(r, CrawlResult)]


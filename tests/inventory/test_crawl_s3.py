"""Snapshots on an object store: a crawl, an interrupted crawl and its resume, and an
incremental crawl against moto's S3 server on loopback (pyarrow's S3 filesystem)."""

from __future__ import annotations

import asyncio

import pytest
from crawl_helpers import Seeded
from crawl_helpers import rows

from reginventory.inventory.crawl import RegistryCrawl, crawl
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget
from reginventory.inventory.store import SnapshotStore

pytestmark = pytest.mark.needs_registry


def test_crawl_resume_and_recrawl_on_s3(seeded: Seeded, seeded_reference: str, s3_url: str) -> None:
    store = SnapshotStore(s3_url)
    target = CrawlTarget(seeded.url, rate=150)

    async def interrupted() -> None:
        job = RegistryCrawl(target, store, CrawlOptions(checkpoint_seconds=0, repository_concurrency=2))
        task = asyncio.create_task(job.run())
        while job.counts["repositories"] < 3 or not job._known_parts:
            await asyncio.sleep(0.02)
            assert not task.done()
        task.cancel()  # what Ctrl-C or a crash does to a crawl in the middle
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert store.committed_crawls() == []
    assert store.read_table("tags").num_rows == 0
    [crawl_id] = store.interrupted_crawls(seeded.server.host)

    [resumed] = crawl(CrawlTarget(seeded.url), s3_url, CrawlOptions(resume=True))
    assert resumed.resumed and resumed.crawl_id == crawl_id and resumed.status == "complete"
    [reference] = SnapshotStore(seeded_reference).committed_crawls()
    for table in ("tags", "manifests", "index_children", "layers", "referrers", "errors"):
        assert rows(store, table, crawl_id) == rows(seeded_reference, table, reference["crawl_id"]), table

    [again] = crawl(CrawlTarget(seeded.url), s3_url)
    assert again.mode == "incremental" and again.requests <= seeded.tag_count + 1 + len(seeded.pushed)
    assert [c["crawl_id"] for c in store.committed_crawls()] == [crawl_id, again.crawl_id]
    assert store.interrupted_crawls(seeded.server.host) == []

"""Progress: plain lines when not on a terminal, nothing when quiet, and the fewest requests
(every digest fetched once per crawl, whatever repository or tag it appears under)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from crawl_helpers import Seeded
from crawl_helpers import seed_items

from reginventory.client.registry_client import RegistryClient
from reginventory.inventory.crawl import CrawlResult, crawl_registries, crawl_registry
from reginventory.inventory.crawl_config import CrawlTarget
from reginventory.inventory.progress import LogReporter, NullReporter, RichReporter, make_reporter, summary
from reginventory.inventory.store import SnapshotStore

pytestmark = pytest.mark.needs_registry


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reporter_choice() -> None:
    assert isinstance(make_reporter(quiet=True, stream=_Terminal()), NullReporter)
    assert isinstance(make_reporter(stream=io.StringIO()), LogReporter)
    assert isinstance(make_reporter(stream=_Terminal()), RichReporter)


def test_log_lines_and_summary(seeded: Seeded, tmp_path: Path) -> None:
    stream = io.StringIO()
    target = CrawlTarget(seeded.url, rate=150)
    [result] = asyncio.run(crawl_registries([target], str(tmp_path), reporter=LogReporter(stream, interval=0.1)))
    lines = stream.getvalue().splitlines()
    assert lines and all(line.startswith(f"{seeded.server.host}: ") for line in lines)
    assert "repositories" in lines[-1] and "requests" in lines[-1] and "errors" in lines[-1] and "ETA" in lines[-1]
    text = summary([result])
    assert f"{len(seeded.pushed)} repositories, {seeded.tag_count} tags" in text and "requests/s" in text


def test_rich_display_renders(seeded: Seeded, tmp_path: Path) -> None:
    stream = _Terminal()
    asyncio.run(crawl_registries([CrawlTarget(seeded.url, repo="repo-000$")], str(tmp_path), reporter=RichReporter(stream)))
    assert "repos" in stream.getvalue() and seeded.server.host in stream.getvalue()


def test_full_crawl_makes_the_minimal_requests(seeded: Seeded, tmp_path: Path) -> None:
    target = CrawlTarget(seeded.url)

    async def run() -> tuple[CrawlResult, RegistryClient]:
        async with target.client() as client:
            return await crawl_registry(target, str(tmp_path), client=client), client

    result, client = asyncio.run(run())
    [crawl] = SnapshotStore(str(tmp_path)).committed_crawls()
    assert crawl["requests"] == result.requests == client.requests
    items = seed_items()
    images = {i.digest: i for item in items for i in (item, *item.children) if i.kind == "image"}
    children = {c.digest for item in items for c in item.children}
    tagged = {d for tags in seeded.pushed.values() for d in tags.values()}
    configs = {i.config_digest for i in images.values()}
    # catalog page + tag lists + one GET per tag + one GET per manifest no tag reaches (anywhere)
    # + one GET per distinct image config + the one probe of the OCI referrers API
    expected = 1 + len(seeded.pushed) + seeded.tag_count + len(children - tagged) + len(configs) + 1
    # A retry (a busy machine: a connection reset, a 503) sends a request again: not a new one.
    assert client.requests - client.retries == expected

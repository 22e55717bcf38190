"""Sharded crawls: N processes crawl disjoint parts of one registry into one crawl id; the crawl
is visible once every shard has committed, and the parts add up to a single crawl."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from crawl_helpers import Seeded
from crawl_helpers import rows

from reginventory.errors import IllegalArgumentError
from reginventory.inventory.crawl import CrawlResult, crawl, crawl_registry
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget
from reginventory.inventory.shard import in_shard, parse_shard, shard_of
from reginventory.inventory.store import SnapshotStore

pytestmark = pytest.mark.needs_registry


def test_shards_add_up_to_a_single_crawl(seeded: Seeded, seeded_reference: str, tmp_path: Path) -> None:
    out = str(tmp_path)
    store = SnapshotStore(out)
    results = []
    for index in range(3):
        [result] = crawl(CrawlTarget(seeded.url), out, CrawlOptions(crawl_id="nightly-1", shard=(index, 3)))
        results.append(result)
        visible = store.committed_crawls()
        assert visible == [] if index < 2 else len(visible) == 1  # visible only with every shard
    assert [r.shard for r in results] == ["0/3", "1/3", "2/3"]
    assert all(0 < r.repositories < len(seeded.pushed) for r in results)
    assert sum(r.repositories for r in results) == len(seeded.pushed)

    [merged] = store.committed_crawls()
    [single] = SnapshotStore(seeded_reference).committed_crawls()
    assert (merged["crawl_id"], merged["shard"], merged["status"]) == ("nightly-1", "*/3", "complete")
    assert (merged["repositories"], merged["tags"], merged["manifests"]) == (
        single["repositories"], single["tags"], single["manifests"],
    )
    # every table: exactly the same rows (content rows once per digest, whichever shards met it)
    for table in ("tags", "manifests", "referrers", "errors", "index_children", "layers"):
        assert rows(store, table) == rows(seeded_reference, table), table
    assert [r.committed for r in results] == [False, False, True]
    assert store.interrupted_crawls(seeded.server.host) == []


def test_concurrent_shards_and_a_merge_cut_short(
    seeded: Seeded, seeded_reference: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path)
    store = SnapshotStore(out)
    from reginventory.inventory import crawl as crawl_module

    # shards 0 and 1 at once, in one event loop (as two processes would)
    async def two() -> list[CrawlResult]:
        return list(
            await asyncio.gather(
                *(crawl_registry(CrawlTarget(seeded.url), store, CrawlOptions(crawl_id="c2", shard=(i, 3))) for i in (0, 1))
            )
        )

    assert not any(r.committed for r in asyncio.run(two()))
    # shard 2 finishes, then dies before merging
    monkeypatch.setattr(crawl_module, "merge_when_ready", lambda *args: False)
    [last] = crawl(CrawlTarget(seeded.url), out, CrawlOptions(crawl_id="c2", shard=(2, 3)))
    assert not last.committed and store.committed_crawls() == []
    monkeypatch.undo()
    # its --resume does not crawl again: it merges
    offset = seeded.server.log_size()
    [resumed] = crawl(CrawlTarget(seeded.url), out, CrawlOptions(crawl_id="c2", shard=(2, 3), resume=True))
    assert resumed.committed and resumed.resumed
    assert "GET /v2/" not in seeded.server.log_tail(1000, since=offset)
    [merged] = store.committed_crawls()
    assert merged["crawl_id"] == "c2" and merged["status"] == "complete"
    for table in ("tags", "manifests", "referrers", "errors", "index_children", "layers"):
        assert rows(store, table) == rows(seeded_reference, table), table


def test_shard_assignment_is_stable_and_complete() -> None:
    names = [f"team-{i}/app-{j}" for i in range(20) for j in range(5)]
    for total in (1, 2, 3, 7):
        owners = [[n for n in names if in_shard(n, (i, total))] for i in range(total)]
        assert sorted(n for part in owners for n in part) == sorted(names)
        assert all(part for part in owners) or total > len(names)
    assert shard_of("library/alpine", 4) == shard_of("library/alpine", 4) == 3  # sha256-based, fixed
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(IllegalArgumentError):
            parse_shard(bad)
    with pytest.raises(IllegalArgumentError):
        CrawlOptions(shard=(0, 2))  # a sharded crawl needs a shared crawl id

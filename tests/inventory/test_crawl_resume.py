"""An interrupted crawl (the process killed with SIGKILL) leaves no visible snapshot, and
``resume`` finishes it without crawling again what it had finished."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crawl_helpers import Seeded
from crawl_helpers import rows

from reginventory.inventory import schema
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget
from reginventory.inventory.store import SnapshotStore

pytestmark = pytest.mark.needs_registry

CHILD = """
import sys
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget
crawl(CrawlTarget(sys.argv[1], rate=float(sys.argv[3]), max_in_flight=2), sys.argv[2],
      CrawlOptions(checkpoint_seconds=0.05, repository_concurrency=2))
"""


def _progress_files(out: Path) -> list[Path]:
    return list((out / "_staging").rglob("progress.jsonl"))


def _finished(progress: Path) -> set[str]:
    done: set[str] = set()
    for line in progress.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") == "checkpoint":
            done.update(entry["repositories"])
    return done


def test_killed_crawl_is_invisible_and_resumes(seeded: Seeded, seeded_reference: str, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    child = subprocess.Popen([sys.executable, "-c", CHILD, seeded.url, str(out), "60"], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        finished: set[str] = set()
        while time.monotonic() < deadline and len(finished) < 4:
            time.sleep(0.05)
            files = _progress_files(out)
            finished = _finished(files[0]) if files else set()
        assert child.poll() is None, "the crawl finished before it could be interrupted"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)

    store = SnapshotStore(str(out))
    assert store.committed_crawls() == []  # nothing visible
    for table in schema.TABLES:
        assert store.read_table(table).num_rows == 0, table
    [crawl_id] = store.interrupted_crawls(seeded.server.host)
    progress = _progress_files(out)[0]
    finished = _finished(progress)
    assert 0 < len(finished) < len(seeded.pushed)
    with progress.open("a") as f:  # as if killed while rewriting the progress file
        f.write('{"type": "checkpoint", "repositories": ["seed/re')

    log_offset = seeded.server.log_size()
    [result] = crawl(CrawlTarget(seeded.url), str(out), CrawlOptions(resume=True))
    assert result.resumed and result.crawl_id == crawl_id and result.status == "complete"
    assert result.repositories == len(seeded.pushed) and result.tags == seeded.tag_count
    assert store.interrupted_crawls(seeded.server.host) == []

    # the finished repositories were not crawled again
    listed = set(re.findall(r'"GET /v2/(.+?)/tags/list', seeded.server.log_tail(100_000, since=log_offset)))
    assert listed and not (listed & finished)
    assert listed | finished == set(seeded.pushed)

    # the resumed crawl holds exactly what an uninterrupted crawl holds
    [reference] = SnapshotStore(seeded_reference).committed_crawls()
    for table in ("tags", "manifests", "index_children", "layers", "referrers", "errors"):
        assert rows(store, table, crawl_id) == rows(seeded_reference, table, reference["crawl_id"]), table


def test_resume_without_interrupted_crawl_starts_one(seeded: Seeded, tmp_path: Path) -> None:
    [result] = crawl(CrawlTarget(seeded.url, repo="repo-00[0-2]$"), str(tmp_path), CrawlOptions(resume=True))
    assert not result.resumed and result.status == "complete" and result.repositories == 3

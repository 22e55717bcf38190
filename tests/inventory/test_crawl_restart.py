"""The registry restarting in the middle of a crawl does not lose the crawl: requests that meet
a closed port are retried until it is back."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from crawl_helpers import dicts, seed_registry
from harness.registry import RegistryServer

from reginventory.inventory.crawl import CrawlResult, crawl
from reginventory.inventory.crawl_config import CrawlTarget

pytestmark = pytest.mark.needs_registry


def test_crawl_survives_a_registry_restart(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    registry = fresh_registry()
    pushed = seed_registry(registry, 12, 6, prefix="restart")
    results: list[CrawlResult] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.extend(crawl(CrawlTarget(registry.url, rate=50, max_in_flight=4), str(tmp_path)))
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.8)
    registry.stop()  # down for three seconds, in the middle of the crawl
    stopped = time.monotonic()
    time.sleep(3)
    registry.start()
    thread.join(60)
    assert not thread.is_alive() and not failures, failures
    [result] = results
    assert time.monotonic() - stopped < 30
    assert result.duration > 3  # the crawl spanned the outage
    assert result.status == "complete", dicts(str(tmp_path), "errors")
    got = {(t["repository"], t["tag"], t["digest"]) for t in dicts(str(tmp_path), "tags")}
    assert got == {(r, t, d) for r, tags in pushed.items() for t, d in tags.items()}

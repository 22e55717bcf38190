"""Fixtures of the crawler tests: a registry seeded with many small tags (read-only, shared)."""

from __future__ import annotations

from typing import Iterator

import pytest
from crawl_helpers import Seeded, seed_registry
from harness.binaries import binary_policy, in_ci, missing_binaries
from harness.registry import RegistryServer

#: Big enough for a crawl to be interrupted, shared and sharded; small enough to seed in ~1 s.
SEEDED_REPOSITORIES = 16
SEEDED_TAGS = 6


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A registry of 16 repositories x 6 tags (images, an index, a Docker image per repository).

    Shared by the session: never push to it or delete from it.
    """
    action, message = binary_policy(missing_binaries(), in_ci())
    if action == "fail":
        pytest.fail(message, pytrace=False)
    if action == "skip":
        pytest.skip(message)
    with RegistryServer("anonymous", directory=tmp_path_factory.mktemp("crawl-seeded"), name="crawl-seeded") as server:
        yield Seeded(server, seed_registry(server, SEEDED_REPOSITORIES, SEEDED_TAGS))


@pytest.fixture(scope="session")
def seeded_reference(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A snapshot folder with one uninterrupted, unsharded full crawl of ``seeded``."""
    from reginventory.inventory.crawl import crawl
    from reginventory.inventory.crawl_config import CrawlTarget

    out = str(tmp_path_factory.mktemp("seeded-reference"))
    [result] = crawl(CrawlTarget(seeded.url), out)
    assert result.status == "complete" and result.tags == seeded.tag_count
    return out

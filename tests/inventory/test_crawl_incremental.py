"""Incremental crawls: a moved tag is recorded with its new digest, the manifest it left is
recorded as untagged (found by digest), and first_seen comes from the snapshot history."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import httpx
import pytest
from crawl_helpers import dicts
from harness.images import ImageSpec, build_image, build_index, push
from harness.registry import RegistryServer

from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget

pytestmark = pytest.mark.needs_registry


def _image(text: str, created: str = "2024-01-01T00:00:00Z", arch: str = "amd64"):
    return build_image(ImageSpec(layers=[{"etc/base": "base\n"}, {"app": text}], created=created, architecture=arch))


def _by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def test_moved_tag_and_untagged_manifest(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    registry = fresh_registry()
    out = str(tmp_path)
    old, new = _image("v1\n"), _image("v2\n", created="2024-02-01T00:00:00Z")
    arm = _image("arm\n", arch="arm64")
    multi_old, multi_new = build_index([old, arm]), build_index([new, arm])
    push(registry, old, "team/app", "latest", verify=False)
    push(registry, old, "team/app", "1.0", verify=False)
    push(registry, multi_old, "team/multi", "latest", verify=False)

    [first] = crawl(CrawlTarget(registry.url), out)
    assert first.mode == "full" and first.status == "complete"

    # move the tags: 'latest' of team/app, and the only tag of team/multi
    push(registry, new, "team/app", "latest", verify=False)
    push(registry, multi_new, "team/multi", "latest", verify=False)

    [second] = crawl(CrawlTarget(registry.url), out)
    assert second.mode == "incremental" and second.status == "complete"

    tags = _by(dicts(out, "tags", second.crawl_id), "repository", "tag")
    assert tags[("team/app", "latest")]["digest"] == new.digest
    assert tags[("team/app", "latest")]["first_seen"] == second.started  # a new tag -> digest pair
    assert tags[("team/app", "1.0")]["digest"] == old.digest
    assert tags[("team/app", "1.0")]["first_seen"] == first.started  # unchanged: carried forward
    assert tags[("team/multi", "latest")]["digest"] == multi_new.digest

    manifests = _by(dicts(out, "manifests", second.crawl_id), "repository", "digest")
    assert manifests[("team/app", old.digest)]["tagged"] is True  # 1.0 still points at it
    assert manifests[("team/app", new.digest)]["first_seen"] == second.started
    untagged = manifests[("team/multi", multi_old.digest)]
    assert (untagged["tagged"], untagged["reached_by"]) == (False, "history")
    assert untagged["first_seen"] == first.started
    # the children of the untagged index are still there, reached through it
    assert manifests[("team/multi", old.digest)]["reached_by"] == "index"
    assert manifests[("team/multi", arm.digest)]["first_seen"] == first.started
    # content rows are in every crawl, whether fetched again or carried forward
    children = {c["digest"] for c in dicts(out, "index_children", second.crawl_id)}
    assert children == {multi_old.digest, multi_new.digest}
    layers = {row["digest"] for row in dicts(out, "layers", second.crawl_id)}
    assert {old.digest, new.digest, arm.digest} <= layers

    # third crawl after deleting the untagged index: it is gone, nothing else is lost
    with httpx.Client(base_url=registry.url) as c:
        assert c.delete(f"/v2/team/multi/manifests/{multi_old.digest}").status_code == 202
    [third] = crawl(CrawlTarget(registry.url), out)
    manifests3 = _by(dicts(out, "manifests", third.crawl_id), "repository", "digest")
    assert ("team/multi", multi_old.digest) not in manifests3
    # distribution keeps the children of a deleted index as untagged revisions: found by digest
    kept = manifests3[("team/multi", old.digest)]  # was only a child of the deleted index
    assert (kept["tagged"], kept["reached_by"]) == (False, "history")
    assert third.status == "complete"


def test_incremental_fetches_only_new_digests(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    registry = fresh_registry()
    out = str(tmp_path)
    images = [_image(f"{i}\n") for i in range(3)]
    for i, image in enumerate(images):
        push(registry, image, "team/many", f"t{i}", verify=False)
    [first] = crawl(CrawlTarget(registry.url), out)
    # one GET per tag, one per config, one catalog page, one tag list (no referrers API probe
    # beyond the first 404)
    assert first.requests <= 3 + 3 + 1 + 1 + 1
    added = _image("new\n")
    push(registry, added, "team/many", "t3", verify=False)
    [second] = crawl(CrawlTarget(registry.url), out)
    # HEAD x3 known tags, GET for the new tag + its config, catalog, tag list
    assert second.requests == 3 + 2 + 1 + 1
    [full] = crawl(CrawlTarget(registry.url), out, CrawlOptions(mode="full"))
    assert full.mode == "full" and full.requests >= 4 + 4 + 2

"""Every query on the hand-made scenario (see scenario.py), with exact expected rows.

These run on snapshots written by ``RegistryModel.crawl``. The same expectations hold for a
snapshot that the crawler takes of a real registry into which the scenario is pushed; when
that fixture exists, parametrize ``inventory`` over both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reginventory.analysis import Inventory
from tests.analysis.scenario import C1, C2, REGISTRY, Scenario, day

IMAGE = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
SPDX = "application/spdx+json"


def rows(inv: Inventory, name: str, **params: Any) -> list[dict[str, Any]]:
    return inv.run_arrow(name, params).to_pylist()


def test_tags(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    amd, arm, win = ["linux/amd64"], ["linux/amd64", "linux/arm64/v8"], ["windows/amd64"]

    def tag(repo: str, tag: str, name: str, media: str, kind: str, created: Any, size: int,
            platforms: list[str], first: dt.datetime = C1) -> dict[str, Any]:
        return {"registry": REGISTRY, "repository": repo, "tag": tag, "digest": d(name),
                "media_type": media, "kind": kind, "created": created, "size": size,
                "platforms": platforms, "first_seen": first, "last_seen": C2}

    # cosign signature tags are filed under referrers, as the crawler does
    assert rows(inventory, "tags") == [
        tag("library/base", "1.0", "base", IMAGE, "image", day(2023, 1, 1), 3100, amd),
        tag("library/base", "latest", "base", IMAGE, "image", day(2023, 1, 1), 3100, amd),
        tag("library/os", "1", "os_img", IMAGE, "image", day(2022, 1, 1), 1100, amd),
        tag("team/app", "latest", "app_v3", IMAGE, "image", day(2023, 12, 1), 3120, amd),
        tag("team/app", "v1", "app_v1", IMAGE, "image", day(2023, 3, 1), 3110, amd),
        tag("team/app", "v2", "app_v2", IMAGE, "image", day(2023, 9, 1), 3120, amd),
        tag("team/app", "v3", "app_v3", IMAGE, "image", day(2023, 12, 1), 3120, amd),
        tag("team/app", "v4", "app_v4", IMAGE, "image", day(2024, 1, 5), 3115, amd, C2),
        tag("team/app-mirror", "v2", "app_v2", IMAGE, "image", day(2023, 9, 1), 3120, amd),
        tag("tools/cli", "2.0", "cli_idx", INDEX, "index", day(2023, 10, 2), 6214, arm),
        tag("tools/cli", "2.0-amd64", "cli_amd", IMAGE, "image", day(2023, 10, 1), 1400, amd),
        tag("win/app", "ltsc", "img_w", IMAGE, "image", day(2023, 7, 1), 100180, win),
    ]


def test_tags_of_an_earlier_crawl(scenario: Scenario) -> None:
    from reginventory.analysis import open_inventory

    with open_inventory(scenario.root, crawl="c1") as inv:
        tags = {(r["repository"], r["tag"]) for r in rows(inv, "tags")}
    assert ("team/app", "v0") in tags and ("tools/cli", "1.0") in tags
    assert ("team/app", "v4") not in tags


def test_repo_sizes(inventory: Inventory) -> None:
    def repo(name: str, tags: int, images: int, manifests: int, blobs: int, size: int,
             unique: int) -> dict[str, Any]:
        return {"registry": REGISTRY, "repository": name, "tags": tags, "images": images,
                "manifests": manifests, "blobs": blobs, "size": size, "unique_size": unique,
                "shared_size": size - unique}

    assert rows(inventory, "repo_sizes") == [
        # cli_idx 800 + 6 child manifests 2600 + configs 306 + layers 6960 (os shared)
        repo("tools/cli", 2, 2, 7, 21, 10566, 9566),
        # 5 manifests 2500 + 5 configs 500 + os, rt, app0, app1, app2, app4 3050
        repo("team/app", 5, 4, 5, 16, 6050, 2430),
        repo("team/app-mirror", 1, 1, 1, 5, 3620, 0),
        repo("library/base", 2, 1, 1, 4, 3600, 600),
        repo("library/os", 1, 1, 1, 3, 1600, 600),
        repo("team/signed", 0, 0, 2, 6, 1304, 1304),
        repo("win/app", 1, 1, 1, 3, 680, 680),  # the foreign layer is not stored
    ]


def test_duplicates(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    assert rows(inventory, "duplicates") == [
        {"registry": REGISTRY, "match": "digest", "digests": [d("app_v3")],
         "tags": ["team/app:latest", "team/app:v3"], "repositories": 1, "tag_count": 2,
         "layer_count": 3, "size": 3120},
        {"registry": REGISTRY, "match": "digest", "digests": [d("app_v2")],
         "tags": ["team/app:v2", "team/app-mirror:v2"], "repositories": 2, "tag_count": 2,
         "layer_count": 3, "size": 3120},
        {"registry": REGISTRY, "match": "digest", "digests": [d("base")],
         "tags": ["library/base:1.0", "library/base:latest"], "repositories": 1, "tag_count": 2,
         "layer_count": 2, "size": 3100},
        {"registry": REGISTRY, "match": "layers", "digests": sorted([d("app_v2"), d("app_v3")]),
         "tags": ["team/app:latest", "team/app:v2", "team/app:v3", "team/app-mirror:v2"],
         "repositories": 2, "tag_count": 4, "layer_count": 3, "size": 3120},
    ]


def test_stale_tags_keep_one(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    got = rows(inventory, "stale_tags", days=90, keep=1, as_of=C2)
    assert got == [
        {"registry": REGISTRY, "repository": "team/app", "tag": "v1", "digest": d("app_v1"),
         "kind": "image", "created": day(2023, 3, 1), "size": 3110, "age_days": 313,
         "newest_rank": 5, "kept_tags": [],
         "reason": "created 313 days before 2024-01-08 (more than 90); newest #5 of its "
                   "repository (keeps 1); not matching ^latest$"},
        {"registry": REGISTRY, "repository": "team/app", "tag": "v2", "digest": d("app_v2"),
         "kind": "image", "created": day(2023, 9, 1), "size": 3120, "age_days": 129,
         "newest_rank": 4, "kept_tags": [],
         "reason": "created 129 days before 2024-01-08 (more than 90); newest #4 of its "
                   "repository (keeps 1); not matching ^latest$"},
        {"registry": REGISTRY, "repository": "tools/cli", "tag": "2.0-amd64",
         "digest": d("cli_amd"), "kind": "image", "created": day(2023, 10, 1), "size": 1400,
         "age_days": 99, "newest_rank": 2, "kept_tags": [],
         "reason": "created 99 days before 2024-01-08 (more than 90); newest #2 of its "
                   "repository (keeps 1); not matching ^latest$"},
    ]


def test_stale_tags_keep_none(inventory: Inventory, scenario: Scenario) -> None:
    got = rows(inventory, "stale_tags", days=90, keep=0, as_of="2024-01-08T00:00:00Z")
    summary = [(r["repository"], r["tag"], r["age_days"], r["newest_rank"], r["kept_tags"])
               for r in got]
    assert summary == [
        ("library/base", "1.0", 372, 1, ["latest"]),  # latest is protected, keeps the digest
        ("library/os", "1", 737, 1, []),
        ("team/app", "v1", 313, 5, []),
        ("team/app", "v2", 129, 4, []),
        ("team/app-mirror", "v2", 129, 1, []),
        ("tools/cli", "2.0-amd64", 99, 2, []),
        ("tools/cli", "2.0", 98, 1, []),
        ("win/app", "ltsc", 191, 1, []),
    ]


def test_stale_tags_without_protection(inventory: Inventory) -> None:
    got = rows(inventory, "stale_tags", days=365, keep=0, as_of=C2, protect=None)
    assert [(r["repository"], r["tag"], r["kept_tags"]) for r in got] == [
        ("library/base", "1.0", []),
        ("library/base", "latest", []),
        ("library/os", "1", []),
    ]
    assert not got[0]["reason"].endswith("$")


def test_shared_layers(inventory: Inventory, scenario: Scenario) -> None:
    os_, rt, app2 = (scenario.model.blob(n, 0).digest for n in ("os", "rt", "app2"))
    expected = [
        # os: os_img, base, app_v0..v4, cli_amd, cli_old in 5 repositories
        {"registry": REGISTRY, "digest": os_, "size": 1000, "foreign": False, "images": 9,
         "repositories": 5, "saved_size": 8000},
        {"registry": REGISTRY, "digest": rt, "size": 2000, "foreign": False, "images": 5,
         "repositories": 3, "saved_size": 8000},
        {"registry": REGISTRY, "digest": app2, "size": 20, "foreign": False, "images": 2,
         "repositories": 2, "saved_size": 20},
    ]
    expected.sort(key=lambda r: (-r["saved_size"], r["digest"]))
    assert rows(inventory, "shared_layers") == expected


def test_base_images(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    assert rows(inventory, "base_images") == [
        {"registry": REGISTRY, "digest": d("os_img"), "tags": ["library/os:1"], "layer_count": 1,
         "size": 1100, "parent_digest": None, "derived_images": 8, "derived_repositories": 4},
        {"registry": REGISTRY, "digest": d("base"),
         "tags": ["library/base:1.0", "library/base:latest"], "layer_count": 2, "size": 3100,
         "parent_digest": d("os_img"), "derived_images": 4, "derived_repositories": 2},
    ]


def test_untagged(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    assert rows(inventory, "untagged") == [
        {"registry": REGISTRY, "repository": "team/app", "digest": d("app_v0"),
         "media_type": IMAGE, "kind": "image", "created": day(2022, 6, 1), "size": 1105,
         "previous_tags": ["v0"], "last_tagged": C1, "reason": "lost its tags",
         "first_seen": C1, "last_seen": C2},
        {"registry": REGISTRY, "repository": "tools/cli", "digest": d("cli_old"),
         "media_type": IMAGE, "kind": "image", "created": day(2022, 1, 1), "size": 1800,
         "previous_tags": [], "last_tagged": None, "reason": "child of a deleted index",
         "first_seen": C1, "last_seen": C2},
    ]


def test_dangling_referrers(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    expected = [
        {"registry": REGISTRY, "repository": "team/signed", "digest": d("sig_x"),
         "kind": "signature", "artifact_type": None, "subject_digest": d("img_x"),
         "source": "tag", "tag": scenario.sig_tag("img_x"), "size": 252, "first_seen": C1,
         "last_seen": C2},
        {"registry": REGISTRY, "repository": "team/signed", "digest": d("sbom_x"),
         "kind": "sbom", "artifact_type": SPDX, "subject_digest": d("img_x"),
         "source": "api", "tag": None, "size": 252, "first_seen": C1, "last_seen": C2},
    ]
    expected.sort(key=lambda r: r["digest"])
    assert rows(inventory, "dangling_referrers") == expected


def test_no_dangling_referrers_before_the_deletion(scenario: Scenario) -> None:
    from reginventory.analysis import open_inventory

    with open_inventory(scenario.root, crawl="c1") as inv:
        assert rows(inv, "dangling_referrers") == []


def test_platforms(inventory: Inventory) -> None:
    def cov(repo: str, platform: str, tags: int, total: int, images: int) -> dict[str, Any]:
        return {"registry": REGISTRY, "repository": repo, "platform": platform, "tags": tags,
                "repository_tags": total, "coverage": tags / total, "images": images}

    assert rows(inventory, "platforms") == [
        cov("library/base", "linux/amd64", 2, 2, 1),
        cov("library/os", "linux/amd64", 1, 1, 1),
        cov("team/app", "linux/amd64", 5, 5, 4),
        cov("team/app-mirror", "linux/amd64", 1, 1, 1),
        cov("tools/cli", "linux/amd64", 2, 2, 2),
        cov("tools/cli", "linux/arm64/v8", 1, 2, 1),
        cov("win/app", "windows/amd64", 1, 1, 1),
    ]


def test_growth(inventory: Inventory) -> None:
    def grow(repo: str, before: int, after: int, added: int, removed: int, size_before: int,
             size_after: int, size_added: int, size_removed: int) -> dict[str, Any]:
        return {"registry": REGISTRY, "repository": repo, "from_crawl": "c1", "to_crawl": "c2",
                "tags_before": before, "tags_after": after, "tags_added": added,
                "tags_removed": removed, "tags_moved": 0, "size_before": size_before,
                "size_after": size_after, "size_added": size_added, "size_removed": size_removed}

    expected = [
        grow("library/base", 2, 2, 0, 0, 3600, 3600, 0, 0),
        grow("library/os", 1, 1, 0, 0, 1600, 1600, 0, 0),
        grow("team/app", 5, 5, 1, 1, 5435, 6050, 615, 0),  # v4 in, v0 out (manifest kept)
        grow("team/app-mirror", 1, 1, 0, 0, 3620, 3620, 0, 0),
        grow("team/signed", 1, 0, 0, 1, 2934, 1304, 0, 1630),  # img_x deleted
        grow("tools/cli", 3, 2, 0, 1, 11366, 10566, 0, 800),  # cli_old_idx deleted
        grow("win/app", 1, 1, 0, 0, 680, 680, 0, 0),
    ]
    assert rows(inventory, "growth") == expected
    assert rows(inventory, "growth", from_crawl="c1", to_crawl="c2") == expected


def test_growth_from_nothing(scenario: Scenario) -> None:
    from reginventory.analysis import open_inventory

    with open_inventory(scenario.root, crawl="c1") as inv:
        got = rows(inv, "growth")
    assert {r["from_crawl"] for r in got} == {None}
    assert all(r["tags_before"] == 0 and r["tags_added"] == r["tags_after"] for r in got)

"""The queries on a real distribution registry that the test fills, crawls twice and collects.

Content (built with the harness, pushed to a ``docker-registry`` of this module), crawl 1::

    library/os       1 -> os_img [os]
    library/base     1.0, latest -> base [os, rt]
    team/app         v0 -> a0 [os, app0]; v1 -> a1 [os, rt, app1]; v2 -> a2 [os, rt, app2]
    team/app-mirror  v2 -> a2
    tools/cli        1.0 -> old_idx (old_amd); 2.0 -> idx (amd [os, cli], arm [arm]);
                     cosign signature of idx
    tools/agent      0.9 -> agent_old [agent_old]; 1.0 -> agent_idx (agent_amd [os, agent_amd],
                     agent_arm linux/arm/v7 [agent_arm])
    team/signed      x -> img_x [os, x]; cosign signature of img_x

then v0 moves to a3 [os, rt, app3] (a0 loses its tags), old_idx and img_x are deleted by
digest, team/web is pushed (v1 -> a1r: a1's layers with another config; v1-debug -> a1d
[os, rt, app1, dbg]), and crawl 2 runs. Every expected row is worked out from the objects
built here (:class:`State` says what each crawl must see); ``reclaimable`` is checked against
``docker-registry garbage-collect``: the blob storage shrinks by exactly the predicted bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pytest

from harness import (
    BuiltIndex,
    BuiltManifest,
    ImageSpec,
    Layer,
    RegistryServer,
    build_cosign_signature,
    build_image,
    build_index,
    cosign_tag,
    make_layer,
    push,
)
from harness.images import Built
from reginventory.analysis import Inventory, open_inventory
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlTarget

pytestmark = pytest.mark.needs_registry
UTC = dt.timezone.utc


def layer(name: str, size: int = 1) -> Layer:
    return make_layer({f"{name}/data": f"{name}\n" * size})


def image(layers: list[Layer], created: str, arch: str = "amd64", variant: str | None = None) -> BuiltManifest:
    return build_image(ImageSpec(layers=layers, created=created, architecture=arch, variant=variant))


def timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def created_of(item: Built) -> dt.datetime:
    """When an image was built; an index without its own time takes its newest child's."""
    texts = [c.created for c in item.children] if isinstance(item, BuiltIndex) else [item.created]
    return max(timestamp(t) for t in texts if t)


def size_of(item: Built) -> int:
    """Compressed bytes: config + layers; for an index, its children's unique blobs."""
    return sum(b.size for b in item.blobs())


def referenced(item: Built) -> dict[str, int]:
    """The blobs one manifest revision references: itself, its config and layers."""
    return {item.digest: item.size, **({b.digest: b.size for b in item.blobs()}
                                       if isinstance(item, BuiltManifest) else {})}


@dataclass(frozen=True)
class State:
    """What a crawl must see: the tags of each repository (cosign tags left out: the crawler
    files them under referrers) and the revisions no tag points at (untagged, signatures)."""

    tags: Mapping[str, Mapping[str, Built]]
    untagged: Mapping[str, Sequence[Built]]

    def repositories(self) -> list[str]:
        return sorted(set(self.tags) | set(self.untagged))

    def revisions(self, repository: str) -> dict[str, Built]:
        """Manifest revisions present, by digest: tagged, untagged, and index children."""
        out: dict[str, Built] = {}
        for item in [*self.tags.get(repository, {}).values(), *self.untagged.get(repository, ())]:
            out[item.digest] = item
            out.update({c.digest: c for c in item.children})
        return out

    def blobs(self, repository: str) -> dict[str, int]:
        """Distinct blobs (manifests, configs, layers) the repository's revisions reference."""
        out: dict[str, int] = {}
        for item in self.revisions(repository).values():
            out.update(referenced(item))
        return out


def crawl_into(server: RegistryServer, root: Path) -> None:
    crawl(CrawlTarget(url=server.host, use_docker_config=False), str(root))


def delete(server: RegistryServer, repository: str, digest: str) -> None:
    with server.http_client() as client:
        response = client.delete(f"/v2/{repository}/manifests/{digest}")
        assert response.status_code == 202, (repository, digest, response.status_code, response.text)


def push_tags(server: RegistryServer, tags: Mapping[str, Mapping[str, Built]]) -> None:
    for repository, by_tag in tags.items():
        for tag, item in by_tag.items():
            push(server, item, repository, tag, method="http")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The registry above after crawl 2, its built objects by name, and both crawls' states.

    Module-scoped: the tests only read the snapshots, except the ``reclaimable`` one (last),
    which deletes from the registry and collects it.
    """
    with RegistryServer("anonymous", directory=tmp_path_factory.mktemp("filled-registry"),
                        name="filled", delete_enabled=True) as server:
        yield fill(server, tmp_path_factory.mktemp("filled") / "snapshots")


def fill(server: RegistryServer, root: Path) -> dict[str, Any]:
    os_, rt, app1 = layer("os", 400), layer("rt", 300), layer("app1")
    o: dict[str, Any] = {"server": server, "root": root, "registry": server.host}
    o["os_img"] = image([os_], "2022-12-01T00:00:00Z")
    o["base"] = image([os_, rt], "2023-01-01T00:00:00Z")
    o["a0"] = image([os_, layer("app0")], "2022-06-01T00:00:00Z")
    o["a1"] = image([os_, rt, app1], "2023-03-01T00:00:00Z")
    o["a2"] = image([os_, rt, layer("app2")], "2023-09-01T00:00:00Z")
    o["a3"] = image([os_, rt, layer("app3")], "2023-12-01T00:00:00Z")
    o["a1r"] = image([os_, rt, app1], "2023-03-15T00:00:00Z")  # a rebuild: same layers
    o["a1d"] = image([os_, rt, app1, layer("dbg", 20)], "2023-04-01T00:00:00Z")
    o["old_amd"] = image([os_, layer("old", 50)], "2022-01-01T00:00:00Z")
    o["old_idx"] = build_index([o["old_amd"]])
    o["amd"] = image([os_, layer("cli", 70)], "2023-10-01T00:00:00Z")
    o["arm"] = image([layer("arm", 90)], "2023-10-02T00:00:00Z", arch="arm64")
    o["idx"] = build_index([o["amd"], o["arm"]])
    o["sig_cli"] = build_cosign_signature(o["idx"], repository="tools/cli")
    o["agent_old"] = image([layer("agent_old", 30)], "2023-02-01T00:00:00Z")
    o["agent_amd"] = image([os_, layer("agent_amd", 40)], "2023-11-01T00:00:00Z")
    o["agent_arm"] = image([layer("agent_arm", 60)], "2023-11-01T00:00:00Z", arch="arm", variant="v7")
    o["agent_idx"] = build_index([o["agent_amd"], o["agent_arm"]])
    o["img_x"] = image([os_, layer("x")], "2023-05-01T00:00:00Z")
    o["sig_x"] = build_cosign_signature(o["img_x"], repository="team/signed")

    common = {
        "library/os": {"1": o["os_img"]},
        "library/base": {"1.0": o["base"], "latest": o["base"]},
        "team/app-mirror": {"v2": o["a2"]},
        "tools/agent": {"0.9": o["agent_old"], "1.0": o["agent_idx"]},
    }
    o["before"] = State(
        tags={**common, "team/app": {"v0": o["a0"], "v1": o["a1"], "v2": o["a2"]},
              "tools/cli": {"1.0": o["old_idx"], "2.0": o["idx"]}, "team/signed": {"x": o["img_x"]}},
        untagged={"tools/cli": [o["sig_cli"]], "team/signed": [o["sig_x"]]},
    )
    o["after"] = State(
        tags={**common, "team/app": {"v0": o["a3"], "v1": o["a1"], "v2": o["a2"]},
              "tools/cli": {"2.0": o["idx"]}, "team/web": {"v1": o["a1r"], "v1-debug": o["a1d"]}},
        untagged={"team/app": [o["a0"]], "tools/cli": [o["sig_cli"], o["old_amd"]],
                  "team/signed": [o["sig_x"]]},
    )

    push_tags(server, o["before"].tags)
    push(server, o["sig_cli"], "tools/cli", cosign_tag(o["idx"].digest), method="http")
    push(server, o["sig_x"], "team/signed", cosign_tag(o["img_x"].digest), method="http")
    crawl_into(server, root)

    push(server, o["a3"], "team/app", "v0", method="http")  # v0 moves: a0 loses its tags
    delete(server, "tools/cli", o["old_idx"].digest)  # its child old_amd stays
    delete(server, "team/signed", o["img_x"].digest)  # its signature stays
    push_tags(server, {"team/web": o["after"].tags["team/web"]})
    crawl_into(server, root)
    return o


@pytest.fixture(scope="module")
def inv(filled: dict[str, Any]) -> Iterator[Inventory]:
    with open_inventory(filled["root"]) as inventory:
        yield inventory


def rows(inventory: Inventory, name: str, **params: Any) -> list[dict[str, Any]]:
    return inventory.run_arrow(name, **params).to_pylist()


def test_tags_untagged_and_dangling(filled: dict[str, Any], inv: Inventory) -> None:
    o, after = filled, filled["after"]
    assert len(inv.history) == 2
    tags = [(r["repository"], r["tag"], r["digest"], r["kind"], r["created"], r["size"], r["platforms"])
            for r in rows(inv, "tags")]
    assert tags == [
        (repository, tag, item.digest, "index" if isinstance(item, BuiltIndex) else "image",
         created_of(item), size_of(item), list(item.platforms))
        for repository in sorted(after.tags) for tag, item in sorted(after.tags[repository].items())
    ]
    # spelled out where the rule matters: an index has its children's unique blobs and platforms
    assert tags[-1] == ("tools/cli", "2.0", o["idx"].digest, "index", created_of(o["arm"]),
                        o["amd"].image_size + o["arm"].image_size, ["linux/amd64", "linux/arm64"])
    untagged = [(r["repository"], r["digest"], r["reason"], r["previous_tags"]) for r in rows(inv, "untagged")]
    assert untagged == [
        ("team/app", o["a0"].digest, "lost its tags", ["v0"]),
        ("tools/cli", o["old_amd"].digest, "child of a deleted index", []),
    ]
    dangling = [(r["repository"], r["digest"], r["subject_digest"], r["kind"])
                for r in rows(inv, "dangling_referrers")]
    assert dangling == [("team/signed", o["sig_x"].digest, o["img_x"].digest, "signature")]


def test_repo_sizes(filled: dict[str, Any], inv: Inventory) -> None:
    after: State = filled["after"]
    expected = []
    for repository in after.repositories():
        blobs = after.blobs(repository)
        elsewhere = {d for other in after.repositories() if other != repository for d in after.blobs(other)}
        size, unique = sum(blobs.values()), sum(s for d, s in blobs.items() if d not in elsewhere)
        tags = after.tags.get(repository, {})
        expected.append({
            "registry": filled["registry"], "repository": repository, "tags": len(tags),
            "images": len({item.digest for item in tags.values()}),
            "manifests": len(after.revisions(repository)), "blobs": len(blobs),
            "size": size, "unique_size": unique, "shared_size": size - unique,
        })
    expected.sort(key=lambda r: (-r["size"], r["repository"]))
    got = rows(inv, "repo_sizes")
    assert got == expected
    by_repo = {r["repository"]: r for r in got}
    # a2 is all team/app-mirror holds, and team/app holds it too
    assert by_repo["team/app-mirror"]["unique_size"] == 0
    # team/signed: only the dangling signature (manifest, config, payload), in no other repository
    sig = filled["sig_x"]
    assert by_repo["team/signed"]["size"] == by_repo["team/signed"]["unique_size"] == sig.size + sig.image_size


def test_duplicates(filled: dict[str, Any], inv: Inventory) -> None:
    o = filled

    def group(match: str, names: list[str], tags: list[str], repositories: int) -> dict[str, Any]:
        items = [o[n] for n in names]
        return {"registry": o["registry"], "match": match, "digests": sorted(i.digest for i in items),
                "tags": tags, "repositories": repositories, "tag_count": len(tags),
                "layer_count": len(items[0].layers), "size": max(i.image_size for i in items)}

    assert o["a2"].image_size > o["base"].image_size  # the order: size, largest first
    assert rows(inv, "duplicates") == [
        group("digest", ["a2"], ["team/app:v2", "team/app-mirror:v2"], 2),
        group("digest", ["base"], ["library/base:1.0", "library/base:latest"], 1),
        group("layers", ["a1", "a1r"], ["team/app:v1", "team/web:v1"], 2),
    ]


@pytest.mark.parametrize(
    ("days", "keep", "protect", "expected"),
    [
        (100, 1, "^latest$", [  # 1.0 of library/base is its newest (tag order), latest protected
            ("team/app", "v1", "a1", 3, []), ("team/app", "v2", "a2", 2, []),
            ("team/web", "v1", "a1r", 2, []), ("tools/agent", "0.9", "agent_old", 2, []),
        ]),
        (30, 0, r"^1\.0$", [  # v0 (a3) is 31 days old; 1.0 of tools/agent is protected
            ("library/base", "latest", "base", 2, ["1.0"]),
            ("library/os", "1", "os_img", 1, []),
            ("team/app", "v1", "a1", 3, []), ("team/app", "v2", "a2", 2, []),
            ("team/app", "v0", "a3", 1, []),
            ("team/app-mirror", "v2", "a2", 1, []),
            ("team/web", "v1", "a1r", 2, []), ("team/web", "v1-debug", "a1d", 1, []),
            ("tools/agent", "0.9", "agent_old", 2, []),
            ("tools/cli", "2.0", "idx", 1, []),
        ]),
        (31, 0, None, [  # exactly 31 days is not more than 31: v0 stays
            ("library/base", "1.0", "base", 1, []), ("library/base", "latest", "base", 2, []),
            ("library/os", "1", "os_img", 1, []),
            ("team/app", "v1", "a1", 3, []), ("team/app", "v2", "a2", 2, []),
            ("team/app-mirror", "v2", "a2", 1, []),
            ("team/web", "v1", "a1r", 2, []), ("team/web", "v1-debug", "a1d", 1, []),
            ("tools/agent", "0.9", "agent_old", 2, []),
            ("tools/agent", "1.0", "agent_idx", 1, []),
            ("tools/cli", "2.0", "idx", 1, []),
        ]),
    ],
)
def test_stale_tags(filled: dict[str, Any], inv: Inventory, days: int, keep: int, protect: str | None,
                    expected: list[tuple[str, str, str, int, list[str]]]) -> None:
    as_of = dt.datetime(2024, 1, 1, tzinfo=UTC)

    def stale(repository: str, tag: str, name: str, rank: int, kept: list[str]) -> dict[str, Any]:
        item = filled[name]
        age = (as_of - created_of(item)).days
        reason = (f"created {age} days before 2024-01-01 (more than {days}); newest #{rank} of its "
                  f"repository (keeps {keep})" + (f"; not matching {protect}" if protect else ""))
        return {"registry": filled["registry"], "repository": repository, "tag": tag,
                "digest": item.digest, "kind": "index" if isinstance(item, BuiltIndex) else "image",
                "created": created_of(item), "size": size_of(item), "age_days": age,
                "newest_rank": rank, "kept_tags": kept, "reason": reason}

    got = rows(inv, "stale_tags", as_of=as_of, days=days, keep=keep, protect=protect)
    assert got == [stale(*row) for row in expected]


def test_shared_layers(filled: dict[str, Any], inv: Inventory) -> None:
    after: State = filled["after"]
    images: dict[str, set[str]] = {}
    repositories: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    for repository in after.repositories():
        for item in after.revisions(repository).values():
            if isinstance(item, BuiltManifest):
                for lay in item.layers:
                    images.setdefault(lay.digest, set()).add(item.digest)
                    repositories.setdefault(lay.digest, set()).add(repository)
                    sizes[lay.digest] = lay.size
    expected = sorted(
        ({"registry": filled["registry"], "digest": d, "size": sizes[d], "foreign": False,
          "images": len(images[d]), "repositories": len(repositories[d]),
          "saved_size": sizes[d] * (len(images[d]) - 1)}
         for d in images if len(images[d]) > 1 or len(repositories[d]) > 1),
        key=lambda r: (-r["saved_size"], r["digest"]),
    )
    got = rows(inv, "shared_layers")
    assert got == expected
    # os, rt, app1 (a1, a1r, a1d) and app2 (one image in two repositories, saves nothing)
    a1d = filled["a1d"]
    assert [(r["digest"], r["images"], r["repositories"]) for r in got] == [
        (a1d.layers[0].digest, 11, 7), (a1d.layers[1].digest, 6, 4), (a1d.layers[2].digest, 3, 2),
        (filled["a2"].layers[2].digest, 1, 2),
    ]


def test_base_images(filled: dict[str, Any], inv: Inventory) -> None:
    o, after = filled, filled["after"]
    present = {(repository, digest): item for repository in after.repositories()
               for digest, item in after.revisions(repository).items()
               if isinstance(item, BuiltManifest) and item.kind == "image"}

    def base(name: str, tags: list[str], parent: str | None) -> dict[str, Any]:
        layers = o[name].layer_digests
        derived = {(r, d) for (r, d), item in present.items()
                   if len(item.layers) > len(layers) and item.layer_digests[:len(layers)] == layers}
        return {"registry": o["registry"], "digest": o[name].digest, "tags": tags,
                "layer_count": len(layers), "size": o[name].image_size,
                "parent_digest": o[parent].digest if parent else None,
                "derived_images": len({d for _, d in derived}),
                "derived_repositories": len({r for r, _ in derived})}

    a1_rows = sorted([base("a1", ["team/app:v1"], "base"), base("a1r", ["team/web:v1"], "base")],
                     key=lambda r: r["digest"])
    expected = [base("os_img", ["library/os:1"], None),
                base("base", ["library/base:1.0", "library/base:latest"], "os_img"), *a1_rows]
    assert rows(inv, "base_images") == expected
    # os_img is the base of every image on [os]: 10 images in 6 repositories
    assert [(r["derived_images"], r["derived_repositories"]) for r in expected] == [(10, 6), (5, 3), (1, 1), (1, 1)]


def test_platforms(filled: dict[str, Any], inv: Inventory) -> None:
    after: State = filled["after"]
    expected = []
    for repository in sorted(after.tags):
        tags = after.tags[repository]
        for platform in sorted({p for item in tags.values() for p in item.platforms}):
            offering = {t: item.digest for t, item in tags.items() if platform in item.platforms}
            expected.append({"registry": filled["registry"], "repository": repository, "platform": platform,
                             "tags": len(offering), "repository_tags": len(tags),
                             "coverage": len(offering) / len(tags), "images": len(set(offering.values()))})
    expected.sort(key=lambda r: (r["repository"], -r["tags"], r["platform"]))
    got = rows(inv, "platforms")
    assert got == expected
    assert [(r["platform"], r["tags"], r["coverage"]) for r in got if r["repository"] == "tools/agent"] == [
        ("linux/amd64", 2, 1.0), ("linux/arm/v7", 1, 0.5)]


def test_growth(filled: dict[str, Any], inv: Inventory) -> None:
    before, after = filled["before"], filled["after"]
    from_crawl, to_crawl = (c["crawl_id"] for c in inv.history)
    expected = []
    for repository in sorted(set(before.repositories()) | set(after.repositories())):
        old, new = before.tags.get(repository, {}), after.tags.get(repository, {})
        old_blobs, new_blobs = before.blobs(repository), after.blobs(repository)
        expected.append({
            "registry": filled["registry"], "repository": repository,
            "from_crawl": from_crawl, "to_crawl": to_crawl,
            "tags_before": len(old), "tags_after": len(new),
            "tags_added": len(new.keys() - old.keys()), "tags_removed": len(old.keys() - new.keys()),
            "tags_moved": sum(old[t].digest != new[t].digest for t in old.keys() & new.keys()),
            "size_before": sum(old_blobs.values()), "size_after": sum(new_blobs.values()),
            "size_added": sum(s for d, s in new_blobs.items() if d not in old_blobs),
            "size_removed": sum(s for d, s in old_blobs.items() if d not in new_blobs),
        })
    got = rows(inv, "growth")
    assert got == expected
    by_repo = {r["repository"]: r for r in got}
    a0, a3 = filled["a0"], filled["a3"]
    # v0 moved from a0 to a3, but a0 is still present (untagged): only a3's own blobs are new
    assert (by_repo["team/app"]["tags_moved"], by_repo["team/app"]["size_removed"]) == (1, 0)
    assert by_repo["team/app"]["size_added"] == a3.size + a3.config_size + a3.layers[2].size
    assert by_repo["team/app"]["size_after"] - by_repo["team/app"]["size_before"] == by_repo["team/app"]["size_added"]
    assert a0.digest in after.revisions("team/app")
    # team/web came with crawl 2: everything it references is added
    assert by_repo["team/web"]["size_before"] == 0 < by_repo["team/web"]["size_added"] == by_repo["team/web"]["size_after"]


def test_reclaimable_matches_garbage_collect(filled: dict[str, Any], inv: Inventory) -> None:
    """Last in the module: it deletes from the registry and collects it."""
    o = filled
    server: RegistryServer = o["server"]
    deletions = [("tools/cli", o["idx"].digest), ("team/app", o["a1"].digest),
                 ("team/signed", o["sig_x"].digest)]
    cascade = rows(inv, "cascade", deletions=deletions)
    assert {(r["repository"], r["digest"], r["reason"]) for r in cascade} == {
        ("tools/cli", o["idx"].digest, "requested"),
        ("team/app", o["a1"].digest, "requested"),
        ("team/signed", o["sig_x"].digest, "requested"),
        ("tools/cli", o["amd"].digest, "index child"),
        ("tools/cli", o["arm"].digest, "index child"),
        ("tools/cli", o["sig_cli"].digest, "referrer"),
    }
    [total] = rows(inv, "reclaimable", deletions=deletions, by="registry")

    server.garbage_collect()  # collect what the deletions before crawl 2 left behind
    before = server.blob_bytes()
    order = {"referrer": 0, "index child": 1, "requested": 2}  # children and referrers first
    for row in sorted(cascade, key=lambda r: order[r["reason"]]):
        delete(server, row["repository"], row["digest"])
    server.garbage_collect()
    assert before - server.blob_bytes() == total["size"] > 0

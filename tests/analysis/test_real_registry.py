"""The queries on a real distribution registry that the test fills, crawls twice and collects.

Content (built with the harness, pushed to a fresh ``docker-registry``), crawl 1::

    library/base     1.0, latest -> base [os, rt]
    team/app         v0 -> a0 [os, app0]; v1 -> a1 [os, rt, app1]; v2 -> a2 [os, rt, app2]
    team/app-mirror  v2 -> a2
    tools/cli        1.0 -> old_idx (old_amd); 2.0 -> idx (amd [os, cli], arm [arm]);
                     cosign signature of idx
    team/signed      x -> img_x [os, x]; cosign signature of img_x

then v0 moves to a3 [os, rt, app3] (a0 loses its tags), old_idx and img_x are deleted by
digest, and crawl 2 runs. ``reclaimable`` is checked against ``docker-registry
garbage-collect``: the blob storage shrinks by exactly the predicted bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from harness import RegistryServer, build_cosign_signature, build_image, build_index, cosign_tag, make_layer, push
from harness.images import ImageSpec
from reginventory.analysis import open_inventory
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlTarget

pytestmark = pytest.mark.needs_registry


def layer(name: str, size: int = 1) -> Any:
    return make_layer({f"{name}/data": f"{name}\n" * size})


def image(layers: list[Any], created: str, arch: str = "amd64") -> Any:
    return build_image(ImageSpec(layers=layers, created=created, architecture=arch))


def crawl_into(server: RegistryServer, root: Path) -> None:
    crawl(CrawlTarget(url=server.host, use_docker_config=False), str(root))


def delete(server: RegistryServer, repository: str, digest: str) -> None:
    with server.http_client() as client:
        response = client.delete(f"/v2/{repository}/manifests/{digest}")
        assert response.status_code == 202, (repository, digest, response.status_code, response.text)


@pytest.fixture
def filled(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> dict[str, Any]:
    server = fresh_registry(delete_enabled=True)
    os_, rt = layer("os", 400), layer("rt", 300)
    o: dict[str, Any] = {"server": server, "root": tmp_path / "snapshots"}
    o["base"] = image([os_, rt], "2023-01-01T00:00:00Z")
    o["a0"] = image([os_, layer("app0")], "2022-06-01T00:00:00Z")
    o["a1"] = image([os_, rt, layer("app1")], "2023-03-01T00:00:00Z")
    o["a2"] = image([os_, rt, layer("app2")], "2023-09-01T00:00:00Z")
    o["a3"] = image([os_, rt, layer("app3")], "2023-12-01T00:00:00Z")
    o["old_amd"] = image([os_, layer("old", 50)], "2022-01-01T00:00:00Z")
    o["old_idx"] = build_index([o["old_amd"]])
    o["amd"] = image([os_, layer("cli", 70)], "2023-10-01T00:00:00Z")
    o["arm"] = image([layer("arm", 90)], "2023-10-02T00:00:00Z", arch="arm64")
    o["idx"] = build_index([o["amd"], o["arm"]])
    o["sig_cli"] = build_cosign_signature(o["idx"], repository="tools/cli")
    o["img_x"] = image([os_, layer("x")], "2023-05-01T00:00:00Z")
    o["sig_x"] = build_cosign_signature(o["img_x"], repository="team/signed")

    for tag in ("1.0", "latest"):
        push(server, o["base"], "library/base", tag, method="http")
    for name, tag in (("a0", "v0"), ("a1", "v1"), ("a2", "v2")):
        push(server, o[name], "team/app", tag, method="http")
    push(server, o["a2"], "team/app-mirror", "v2", method="http")
    push(server, o["old_idx"], "tools/cli", "1.0", method="http")
    push(server, o["idx"], "tools/cli", "2.0", method="http")
    push(server, o["sig_cli"], "tools/cli", cosign_tag(o["idx"].digest), method="http")
    push(server, o["img_x"], "team/signed", "x", method="http")
    push(server, o["sig_x"], "team/signed", cosign_tag(o["img_x"].digest), method="http")
    crawl_into(server, o["root"])

    push(server, o["a3"], "team/app", "v0", method="http")  # v0 moves: a0 loses its tags
    delete(server, "tools/cli", o["old_idx"].digest)  # its child old_amd stays
    delete(server, "team/signed", o["img_x"].digest)  # its signature stays
    crawl_into(server, o["root"])
    return o


def test_queries_on_a_crawled_registry(filled: dict[str, Any]) -> None:
    o = filled
    server: RegistryServer = o["server"]
    with open_inventory(o["root"]) as inv:
        assert len(inv.history) == 2
        tags = [(r["repository"], r["tag"], r["digest"], r["kind"], r["size"], r["platforms"])
                for r in inv.run_arrow("tags").to_pylist()]
        image_row = lambda repo, tag, name: (repo, tag, o[name].digest, "image", o[name].image_size, ["linux/amd64"])  # noqa: E731
        idx_size = o["amd"].image_size + o["arm"].image_size  # no blob shared between them
        assert tags == [
            image_row("library/base", "1.0", "base"),
            image_row("library/base", "latest", "base"),
            image_row("team/app", "v0", "a3"),
            image_row("team/app", "v1", "a1"),
            image_row("team/app", "v2", "a2"),
            image_row("team/app-mirror", "v2", "a2"),
            # the crawler files cosign signature tags under referrers, not tags
            ("tools/cli", "2.0", o["idx"].digest, "index", idx_size, ["linux/amd64", "linux/arm64"]),
        ]
        untagged = [(r["repository"], r["digest"], r["reason"], r["previous_tags"])
                    for r in inv.run_arrow("untagged").to_pylist()]
        assert untagged == [
            ("team/app", o["a0"].digest, "lost its tags", ["v0"]),
            ("tools/cli", o["old_amd"].digest, "child of a deleted index", []),
        ]
        dangling = [(r["repository"], r["digest"], r["subject_digest"], r["kind"])
                    for r in inv.run_arrow("dangling_referrers").to_pylist()]
        assert dangling == [("team/signed", o["sig_x"].digest, o["img_x"].digest, "signature")]
        growth = {r["repository"]: (r["tags_added"], r["tags_removed"], r["tags_moved"])
                  for r in inv.run_arrow("growth").to_pylist()}
        assert growth["team/app"] == (0, 0, 1) and growth["tools/cli"] == (0, 1, 0)
        assert growth["team/signed"] == (0, 1, 0)

        deletions = [("tools/cli", o["idx"].digest), ("team/app", o["a1"].digest),
                     ("team/signed", o["sig_x"].digest)]
        cascade = inv.run_arrow("cascade", deletions=deletions).to_pylist()
        assert {(r["repository"], r["digest"], r["reason"]) for r in cascade} == {
            ("tools/cli", o["idx"].digest, "requested"),
            ("team/app", o["a1"].digest, "requested"),
            ("team/signed", o["sig_x"].digest, "requested"),
            ("tools/cli", o["amd"].digest, "index child"),
            ("tools/cli", o["arm"].digest, "index child"),
            ("tools/cli", o["sig_cli"].digest, "referrer"),
        }
        [total] = inv.run_arrow("reclaimable", deletions=deletions, by="registry").to_pylist()

    server.garbage_collect()  # collect what the deletions before crawl 2 left behind
    before = server.blob_bytes()
    order = {"referrer": 0, "index child": 1, "requested": 2}  # children and referrers first
    for row in sorted(cascade, key=lambda r: order[r["reason"]]):
        delete(server, row["repository"], row["digest"])
    server.garbage_collect()
    assert before - server.blob_bytes() == total["size"] > 0

"""Seed a local registry for the crawl benchmark: many repositories, many tags, multi-arch
indexes, attestations and duplicate digests, quickly.

Every repository gets its own three images and one multi-arch index (two platforms and a
BuildKit attestation), all on a base layer shared registry-wide, plus one Docker image shared by
every repository. Tags cycle over those five manifests, so most digests are reached by many tags.

Blobs are uploaded with a POST and a PUT each (shared blobs are mounted), and
manifests are PUT, concurrently over aiohttp. Tags are PUTs of the same manifest bytes, about
400 per second here; ``tag_method="links"`` writes the two link files a tag PUT writes instead
(``_manifests/tags/<tag>/current/link`` and ``.../index/sha256/<hex>/link``), for the 100k-tag
memory run where PUTs would take minutes. The registry reads them like any other tag.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from harness.images import (  # noqa: E402
    Blob,
    Built,
    ImageSpec,
    build_attestation,
    build_image,
    build_index,
    make_layer,
)

BASE = make_layer({"etc/os-release": "ID=bench\n", "bin/sh": "#!bench\n"})
SHARED_DOCKER = build_image(ImageSpec(layers=[BASE, {"srv/shared": "shared\n"}], docker=True, created="2023-01-01T00:00:00Z"))


@dataclass(frozen=True)
class SeedPlan:
    """What the seed pushes: per repository, its manifests and tag -> manifest."""

    repositories: dict[str, list[Built]]
    tags: dict[str, dict[str, Built]]

    @property
    def tag_count(self) -> int:
        return sum(len(t) for t in self.tags.values())


def repository_items(r: int) -> list[Built]:
    """The five manifests tags of repository ``r`` point at (the last one shared)."""

    def image(i: int, arch: str = "amd64", variant: str | None = None) -> Any:
        return build_image(
            ImageSpec(
                layers=[BASE, {f"app/{r}/{i}": f"repository {r} image {i} {arch}\n"}],
                created=f"2024-{1 + i % 12:02d}-{1 + r % 28:02d}T00:00:00Z",
                architecture=arch, variant=variant,
                labels={"bench.repository": str(r), "bench.image": str(i)},
            )
        )

    amd64, arm64 = image(10), image(11, "arm64", "v8")
    index = build_index([amd64, arm64, build_attestation(amd64)])
    return [image(0), image(1), image(2), index, SHARED_DOCKER]


def plan(repositories: int, tags: int, prefix: str = "bench") -> SeedPlan:
    repos: dict[str, list[Built]] = {}
    tag_map: dict[str, dict[str, Built]] = {}
    for r in range(repositories):
        name = f"{prefix}/repo-{r:04d}"
        items = repository_items(r)
        repos[name] = items
        tag_map[name] = {f"v{t}": items[t % len(items)] for t in range(tags)}
    return SeedPlan(repos, tag_map)


def _blobs(item: Built) -> list[Blob]:
    seen: dict[str, Blob] = {}
    for blob in item.blobs():
        seen.setdefault(blob.digest, blob)
    return list(seen.values())


async def _seed(url: str, seed: SeedPlan, concurrency: int, tag_method: str, storage: Path | None) -> None:
    slots = asyncio.Semaphore(concurrency)
    first = next(iter(seed.repositories))
    shared = {b.digest for b in [*SHARED_DOCKER.blobs(), BASE.blob]}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:

        async def call(method: str, path: str, ok: int, **kwargs: Any) -> None:
            async with slots, session.request(method, path, **kwargs) as response:
                if response.status != ok:
                    raise RuntimeError(f"{method} {path}: {response.status} {await response.text()}")

        async def blob(repo: str, b: Blob, mount: bool) -> None:
            if mount:
                await call("POST", f"/v2/{repo}/blobs/uploads/?mount={b.digest}&from={first}", 201)
                return
            # distribution 2.8 answers a single-POST upload with 202: POST, then PUT the bytes.
            async with slots, session.post(f"/v2/{repo}/blobs/uploads/") as response:
                if response.status != 202:
                    raise RuntimeError(f"upload to {repo}: {response.status} {await response.text()}")
                location = response.headers["Location"]
            sep = "&" if "?" in location else "?"
            await call("PUT", f"{location}{sep}digest={b.digest}", 201, data=b.data,
                       headers={"Content-Type": "application/octet-stream"})

        async def manifest(repo: str, reference: str, m: Blob) -> None:
            await call("PUT", f"/v2/{repo}/manifests/{reference}", 201, data=m.data, headers={"Content-Type": m.media_type})

        async def repository(repo: str, items: Sequence[Built]) -> None:
            blobs: dict[str, Blob] = {}
            for item in items:
                for b in _blobs(item):
                    blobs.setdefault(b.digest, b)
            await asyncio.gather(*(blob(repo, b, repo != first and d in shared) for d, b in blobs.items()))
            children = {c.digest: c for item in items for c in item.children}
            await asyncio.gather(*(manifest(repo, d, c.manifest) for d, c in children.items()))
            await asyncio.gather(*(manifest(repo, i.digest, i.manifest) for i in items))
            tags = seed.tags[repo]
            if tag_method == "links":
                assert storage is not None
                _write_tag_links(storage, repo, {t: i.digest for t, i in tags.items()})
                return
            # Indexes last: an index PUT checks its children while other PUTs rewrite their links.
            for indexes in (False, True):
                await asyncio.gather(
                    *(manifest(repo, t, i.manifest) for t, i in tags.items() if bool(i.children) == indexes)
                )

        await repository(first, seed.repositories[first])  # shared blobs exist before mounts
        rest = [(r, i) for r, i in seed.repositories.items() if r != first]
        for start in range(0, len(rest), 16):
            await asyncio.gather(*(repository(r, i) for r, i in rest[start : start + 16]))


def _write_tag_links(storage: Path, repository: str, tags: dict[str, str]) -> None:
    """The files distribution writes for a tag PUT (its filesystem driver layout)."""
    base = storage / "docker" / "registry" / "v2" / "repositories" / repository / "_manifests" / "tags"
    for tag, digest in tags.items():
        algorithm, hexdigest = digest.split(":", 1)
        current = base / tag / "current"
        index = base / tag / "index" / algorithm / hexdigest
        current.mkdir(parents=True, exist_ok=True)
        index.mkdir(parents=True, exist_ok=True)
        (current / "link").write_text(digest)
        (index / "link").write_text(digest)


def seed_registry(
    url: str, seed: SeedPlan, *, concurrency: int = 32, tag_method: str = "put", storage: Path | None = None
) -> None:
    """Push ``seed`` into the registry at ``url`` (``storage`` = its filesystem root, for links)."""
    asyncio.run(_seed(url, seed, concurrency, tag_method, storage))

"""Helpers of the crawler tests: seeding many tags quickly, reading snapshots back as sets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import aiohttp
import httpx
from harness.registry import RegistryServer
from harness.images import (
    Built,
    ImageSpec,
    build_attestation,
    build_image,
    build_index,
    push_blob,
    put_manifest,
)

from reginventory.inventory.store import SnapshotStore

#: Columns that differ between two crawls of the same content.
VOLATILE = frozenset({"crawl_id", "first_seen", "last_seen"})



@dataclass
class Seeded:
    """A registry the fixture seeded, and what it pushed: ``{repository: {tag: digest}}``."""

    server: RegistryServer
    pushed: dict[str, dict[str, str]]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def tag_count(self) -> int:
        return sum(len(t) for t in self.pushed.values())

def seed_items(variant: int = 0) -> list[Built]:
    """Three small images, a multi-arch index (with an attestation) and a Docker image."""
    images = [
        build_image(
            ImageSpec(
                layers=[{"etc/base": "base\n"}, {f"app/{i}": f"v{variant}.{i}\n"}],
                created=f"2024-0{i + 1}-01T00:00:00Z",
                labels={"seed.index": str(i), "seed.variant": str(variant)},
            )
        )
        for i in range(3)
    ]
    arm = build_image(
        ImageSpec(layers=[{"bin/tool": f"arm {variant}\n"}], architecture="arm64", variant="v8", created="2024-05-01T00:00:00Z")
    )
    index = build_index([images[0], arm, build_attestation(images[0])])
    docker = build_image(ImageSpec(layers=[{"srv/x": f"docker {variant}\n"}], docker=True))
    return [*images, index, docker]


def push_http(client: httpx.Client, repository: str, item: Built, mount_from: str | None = None) -> None:
    """Blobs (mounted from ``mount_from`` when given), children and the manifest by digest."""
    seen: set[str] = set()
    for blob in item.blobs():
        if blob.digest in seen:
            continue
        seen.add(blob.digest)
        if mount_from is not None:
            started = client.post(f"/v2/{repository}/blobs/uploads/", params={"mount": blob.digest, "from": mount_from})
            if started.status_code == 201:
                continue
            location = started.headers["Location"]
            sep = "&" if "?" in location else "?"
            put = client.put(f"{location}{sep}digest={blob.digest}", content=blob.data)
            assert put.status_code == 201, put.text
            continue
        push_blob(client, repository, blob)
    for child in item.children:
        put_manifest(client, repository, child.digest, child.manifest)
    put_manifest(client, repository, item.digest, item.manifest)


def seed_registry(
    registry: Any, repositories: int, tags: int, prefix: str = "seed", concurrency: int = 16
) -> dict[str, dict[str, str]]:
    """``repositories`` x ``tags`` tags (duplicate digests, one index per repository).

    The items are pushed once over HTTP, then mounted into the other repositories and tagged
    with manifest PUTs, concurrently. Returns ``{repository: {tag: digest}}``.
    """
    items = seed_items()
    names = [f"{prefix}/repo-{r:03d}" for r in range(repositories)]
    with registry.http_client() as client:
        for item in items:
            push_http(client, names[0], item)
    pushed = {
        name: {f"v{t}": items[(r + t) % len(items)].digest for t in range(tags)} for r, name in enumerate(names)
    }
    asyncio.run(_seed_async(registry.url, names, items, pushed, concurrency))
    return pushed


async def _seed_async(
    url: str, names: list[str], items: list[Built], pushed: dict[str, dict[str, str]], concurrency: int
) -> None:
    by_digest = {item.digest: item for item in items}
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(base_url=url) as session:

        async def request(method: str, path: str, ok: int, **kwargs: Any) -> None:
            async with slots, session.request(method, path, **kwargs) as response:
                assert response.status == ok, f"{method} {path}: {response.status} {await response.text()}"

        async def manifest(repository: str, reference: str, blob: Any) -> None:
            await request(
                "PUT", f"/v2/{repository}/manifests/{reference}", 201, data=blob.data,
                headers={"Content-Type": blob.media_type},
            )

        async def repository(name: str) -> None:
            if name != names[0]:
                blobs = {b.digest for item in items for b in item.blobs()}
                await asyncio.gather(
                    *(request("POST", f"/v2/{name}/blobs/uploads/?mount={d}&from={names[0]}", 201) for d in blobs)
                )
                children = {c.digest: c for item in items for c in item.children}
                await asyncio.gather(*(manifest(name, d, c.manifest) for d, c in children.items()))
            # Indexes last: distribution rewrites a manifest's link files on every PUT, and an
            # index PUT that checks its children meanwhile may find a link empty (a 400).
            for indexes in (False, True):
                await asyncio.gather(
                    *(
                        manifest(name, t, by_digest[d].manifest)
                        for t, d in pushed[name].items()
                        if bool(by_digest[d].children) == indexes
                    )
                )

        await asyncio.gather(*(repository(n) for n in names))


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(sorted(_freeze(v) for v in value)) if value and isinstance(value[0], tuple) else tuple(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def rows(store: SnapshotStore | str, table: str, crawl_id: str | None = None, drop: Iterable[str] = VOLATILE) -> list[tuple[Any, ...]]:
    """A committed table as sorted tuples, without the columns in ``drop``."""
    store = SnapshotStore(store) if isinstance(store, str) else store
    data = store.read_table(table, [crawl_id] if crawl_id else None)
    names = [n for n in data.column_names if n not in set(drop)]
    out = [tuple(_freeze(r[n]) for n in names) for r in data.select(names).to_pylist()]
    return sorted(out, key=repr)


def dicts(store: SnapshotStore | str, table: str, crawl_id: str | None = None) -> list[dict[str, Any]]:
    store = SnapshotStore(store) if isinstance(store, str) else store
    return store.read_table(table, [crawl_id] if crawl_id else None).to_pylist()

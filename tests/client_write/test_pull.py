"""Pulls into the cache: reuse, resume with Range, verification, and faults a real registry cannot make."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.fake_registry import FakeRegistry, Reply
from harness.images import push, random_image
from reginventory.client.blob_cache import BlobCache
from reginventory.client.copy import BlobRef, download_blob, pull_to_cache
from reginventory.client.registry_client import RegistryClient
from reginventory.errors import DigestMismatchError, InvalidReferenceError, RegistryUnavailableError

from .helpers import access_log, run, sha256_file

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _verified(cache: BlobCache) -> None:
    """Every complete blob file of the cache hashes to the digest in its name."""
    for path in cache.files():
        if not path.name.endswith(".manifest"):
            assert sha256_file(path) == "sha256:" + path.name.rsplit(".", 1)[1]


def test_pull_writes_the_layout_and_reuses_valid_files(registry: Any, unique_repo: str, tmp_path: Path) -> None:
    image = random_image(600_000, seed=30, layers=2)
    push(registry, image, unique_repo, "v1", verify=False)
    cache = BlobCache(tmp_path / "app")

    first = run(lambda c: pull_to_cache(c, unique_repo, "v1", cache), registry.url)
    assert (first.downloaded, first.reused) == (3, 0)
    assert cache.manifest_path.read_bytes() == image.manifest.data
    assert sorted(p.name for p in cache.files()) == sorted(
        ["app.manifest", *(f"app.{b.digest.split(':')[1]}" for b in image.blobs())]
    )
    _verified(cache)

    gets_before = len(access_log(registry, "GET", f"{unique_repo}/blobs/"))
    second = run(lambda c: pull_to_cache(c, unique_repo, "v1", cache), registry.url)
    assert (second.downloaded, second.reused) == (0, 3)
    assert len(access_log(registry, "GET", f"{unique_repo}/blobs/")) == gets_before

    cache.blob_path(image.layer_digests[0]).write_bytes(b"corrupted on disk")
    third = run(lambda c: pull_to_cache(c, unique_repo, "v1", cache), registry.url)
    assert (third.downloaded, third.reused) == (1, 2)
    _verified(cache)
    fourth = run(lambda c: pull_to_cache(c, unique_repo, "v1", cache, refresh=True), registry.url)
    assert (fourth.downloaded, fourth.reused) == (3, 0)


def test_a_partial_file_is_resumed_with_range(registry: Any, unique_repo: str, tmp_path: Path) -> None:
    image = random_image(1_000_000, seed=31)
    push(registry, image, unique_repo, "v1", verify=False)
    layer = image.layers[0].blob
    cache = BlobCache(tmp_path / "app")
    cache.ensure_folder()
    cache.partial_path(cache.blob_path(layer.digest)).write_bytes(layer.data[:300_000])

    result = run(lambda c: pull_to_cache(c, unique_repo, "v1", cache), registry.url)

    assert result.bytes_downloaded == layer.size - 300_000 + image.config_size
    ranged = [e for e in access_log(registry, "GET", f"{unique_repo}/blobs/{layer.digest}")]
    assert ranged == [(f"/v2/{unique_repo}/blobs/{layer.digest}", 206, layer.size - 300_000)]
    assert cache.blob_path(layer.digest).read_bytes() == layer.data and cache.partial_files() == []


def test_a_cut_connection_is_resumed_in_the_same_pull(registry: Any, unique_repo: str, tmp_path: Path,
                                                      cutting_proxy: Callable[..., Any]) -> None:
    image = random_image(2_000_000, seed=32)
    push(registry, image, unique_repo, "v1", verify=False)
    layer = image.layers[0].blob
    proxy = cutting_proxy(registry.url, cut_after=700_000)
    cache = BlobCache(tmp_path / "app")

    run(lambda c: download_blob(c, unique_repo, BlobRef(layer.digest, layer.size), cache), proxy.url)

    assert cache.blob_path(layer.digest).read_bytes() == layer.data
    assert proxy.ranges == [None, "bytes=700000-", "bytes=1400000-"]


def test_giving_up_leaves_only_the_verified_prefix(registry: Any, unique_repo: str, tmp_path: Path,
                                                   cutting_proxy: Callable[..., Any]) -> None:
    image = random_image(2_000_000, seed=33)
    push(registry, image, unique_repo, "v1", verify=False)
    layer = image.layers[0].blob
    proxy = cutting_proxy(registry.url, cut_after=100_000)
    cache = BlobCache(tmp_path / "app")

    with pytest.raises(RegistryUnavailableError):
        run(lambda c: download_blob(c, unique_repo, BlobRef(layer.digest, layer.size), cache, attempts=2), proxy.url)
    assert not cache.blob_path(layer.digest).exists()
    assert cache.partial_path(cache.blob_path(layer.digest)).read_bytes() == layer.data[:200_000]
    run(lambda c: download_blob(c, unique_repo, BlobRef(layer.digest, layer.size), cache), registry.url)
    assert cache.blob_path(layer.digest).read_bytes() == layer.data


def test_cancelling_a_pull_leaves_only_complete_verified_files(registry: Any, unique_repo: str, tmp_path: Path,
                                                               cutting_proxy: Callable[..., Any]) -> None:
    image = random_image(7_500_000, seed=34, layers=3)
    push(registry, image, unique_repo, "v1", verify=False)
    proxy = cutting_proxy(registry.url, delay=0.02)  # about 3 MB/s per blob
    cache = BlobCache(tmp_path / "app")

    async def interrupted(client: RegistryClient) -> None:
        task = asyncio.ensure_future(pull_to_cache(client, unique_repo, "v1", cache))
        while proxy.bytes_sent < 4_500_000:  # each layer is past its first 1 MiB piece
            await asyncio.sleep(0.02)
        task.cancel()  # what Ctrl-C does to asyncio.run's main task
        with pytest.raises(asyncio.CancelledError):
            await task

    run(interrupted, proxy.url)
    assert cache.partial_files(), "some download was in progress"
    _verified(cache)
    result = run(lambda c: pull_to_cache(c, unique_repo, "v1", cache), registry.url)
    assert result.downloaded >= 1 and cache.partial_files() == []
    _verified(cache)
    assert any(status == 206 for _, status, _ in access_log(registry, "GET", f"{unique_repo}/blobs/"))


def _fake_image(fake: FakeRegistry, layer: bytes, digest: str | None = None, **layer_reply: Any) -> str:
    """Serve a one-layer image from a FakeRegistry; the layer may lie about its digest."""
    config = b'{"architecture":"amd64","os":"linux"}'
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    digest = digest or "sha256:" + hashlib.sha256(layer).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(layer)}],
    }).encode()
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + hashlib.sha256(manifest).hexdigest()}
    fake.route("GET", "/v2/evil/app/manifests/v1", Reply(200, headers, manifest))
    fake.route("GET", f"/v2/evil/app/blobs/{config_digest}", Reply(200, {}, config))
    fake.route("GET", f"/v2/evil/app/blobs/{digest}", Reply(200, {}, layer, **layer_reply))
    return digest


def test_a_blob_that_does_not_match_its_digest_is_rejected_and_removed(tmp_path: Path) -> None:
    with FakeRegistry() as fake:
        digest = _fake_image(fake, b"the wrong bytes", digest="sha256:" + hashlib.sha256(b"the right bytes").hexdigest())
        cache = BlobCache(tmp_path / "app")
        with pytest.raises(DigestMismatchError):
            run(lambda c: pull_to_cache(c, "evil/app", "v1", cache), fake.url)
    bad = cache.blob_path(digest)
    assert not bad.exists() and not cache.partial_path(bad).exists()
    _verified(cache)


def test_a_truncated_body_is_not_accepted(tmp_path: Path) -> None:
    layer = bytes(range(256)) * 400
    with FakeRegistry() as fake:
        digest = _fake_image(fake, layer, truncate_to=5000)
        cache = BlobCache(tmp_path / "app")
        with pytest.raises(RegistryUnavailableError):
            run(lambda c: pull_to_cache(c, "evil/app", "v1", cache), fake.url)
        assert len([s for s in fake.seen if s.path.endswith(digest)]) == 5  # resumed, then gave up
    assert not cache.blob_path(digest).exists()
    assert cache.partial_path(cache.blob_path(digest)).read_bytes() == layer[:5000]


def test_a_redirect_to_another_host_gets_no_credentials(tmp_path: Path) -> None:
    layer = b"layer bytes behind a redirect"
    credentials = "Basic " + base64.b64encode(b"user:secret").decode()
    with FakeRegistry() as fake, FakeRegistry("127.0.0.2") as storage:
        digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        _fake_image(fake, layer)
        fake.route("GET", f"/v2/evil/app/blobs/{digest}", Reply(307, {"Location": f"{storage.url}/blob?sig=1"}))
        storage.route("GET", "/blob", Reply(200, {}, layer))
        original = dict(fake.routes)

        def guarded(route: Any) -> Any:
            return lambda seen: route(seen) if seen.headers.get("authorization") == credentials else Reply(
                401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"{}")

        for key, route in original.items():
            fake.routes[key] = guarded(route)
        cache = BlobCache(tmp_path / "app")
        run(lambda c: pull_to_cache(c, "evil/app", "v1", cache), fake.url, username="user", password="secret")
        assert cache.blob_path(digest).read_bytes() == layer
        assert storage.seen and all("authorization" not in s.headers for s in storage.seen)


def test_hostile_digests_never_become_paths(tmp_path: Path) -> None:
    with FakeRegistry() as fake:
        _fake_image(fake, b"x", digest="sha256:../../../../tmp/owned")
        cache = BlobCache(tmp_path / "cache" / "app")
        with pytest.raises(InvalidReferenceError):
            run(lambda c: pull_to_cache(c, "evil/app", "v1", cache), fake.url)
    assert not (tmp_path / "owned").exists() and not Path("/tmp/owned").exists()


def test_a_registry_that_ignores_range_still_resumes_correctly(tmp_path: Path) -> None:
    layer = bytes(range(256)) * 1000
    with FakeRegistry() as fake:
        digest = _fake_image(fake, layer)  # answers 200 with every byte, whatever the Range
        cache = BlobCache(tmp_path / "app")
        cache.ensure_folder()
        cache.partial_path(cache.blob_path(digest)).write_bytes(layer[:100_000])
        result = run(lambda c: pull_to_cache(c, "evil/app", "v1", cache), fake.url)
        ranges = [s.headers.get("range") for s in fake.seen if s.path.endswith(digest)]
    assert ranges == ["bytes=100000-"] and result.downloaded == 2
    assert cache.blob_path(digest).read_bytes() == layer and cache.partial_files() == []

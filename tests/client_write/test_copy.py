"""Copies between two real registries, and round trips through the cache, checked with skopeo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.images import build_image, build_index, inspect_raw, push, random_image, run_skopeo, sample_images, ImageSpec
from reginventory.client.blob_cache import BlobCache
from reginventory.client.copy import copy_image, pull_to_cache, push_from_cache
from reginventory.client.platform import Platform
from reginventory.client.registry_client import RegistryClient
from reginventory.errors import IllegalArgumentError, PlatformNotFoundError, UnauthorizedError

from .helpers import access_log, run, sha256_file


def _all_raw(server: Any, repository: str, item: Any) -> dict[str, bytes]:
    """Every manifest of ``item`` as skopeo reads it from ``server`` by digest."""
    found = {item.digest: inspect_raw(server, f"{repository}@{item.digest}")}
    for child in getattr(item, "children", ()):
        found[child.digest] = inspect_raw(server, f"{repository}@{child.digest}")
    return found


def test_copy_between_registries_keeps_bytes(registry: Any, registry_dest: Any, make_repo: Callable[[], str]) -> None:
    src, dst = make_repo(), make_repo()
    image = random_image(3 * 1024 * 1024, seed=5, layers=3)
    push(registry, image, src, "v1", verify=False)

    result = run(lambda s, d: copy_image(s, src, "v1", d, dst, chunk_size=1024 * 1024), registry.url, registry_dest.url)

    assert result.digest == image.digest and result.reference == "v1"
    assert result.stats.blobs_uploaded == 4 and result.stats.bytes_uploaded == image.image_size
    assert inspect_raw(registry_dest, f"{dst}:v1") == image.manifest.data
    # skopeo reads the config and every layer back (an independent full pull).
    out = Path(registry_dest.directory) / f"pulled-{dst.replace('/', '-')}"
    run_skopeo(["copy", "--quiet", *registry_dest.skopeo_args("src"), f"docker://{registry_dest.host}/{dst}:v1", f"dir:{out}"])
    for blob in image.blobs():
        assert (out / blob.digest.split(":")[1]).read_bytes() == blob.data
    info = json.loads(run_skopeo(["inspect", *registry_dest.skopeo_args(""), f"docker://{registry_dest.host}/{dst}:v1"]).stdout)
    assert info["Digest"] == image.digest and info["Labels"] == {"harness.seed": "5"}


def test_copy_of_a_multi_arch_index_keeps_every_digest(registry: Any, registry_dest: Any,
                                                        make_repo: Callable[[], str]) -> None:
    images = sample_images()
    src, dst = make_repo(), make_repo()
    for name in ("multi", "docker_list"):
        push(registry, images[name], src, name, verify=False)
        result = run(lambda s, d: copy_image(s, src, name, d, dst, f"{name}-copy"), registry.url, registry_dest.url)
        assert result.digest == images[name].digest
        assert len(result.manifests) == len(images[name].children) + 1
        assert _all_raw(registry_dest, dst, images[name]) == {m.digest: m.data for m in images[name].manifests()}
        assert inspect_raw(registry_dest, f"{dst}:{name}-copy") == images[name].manifest.data


def test_copy_one_platform_of_an_index(registry: Any, registry_dest: Any, make_repo: Callable[[], str]) -> None:
    multi = sample_images()["multi"]
    src, dst = make_repo(), make_repo()
    push(registry, multi, src, "m", verify=False)
    arm = multi.child("linux/arm64/v8")

    result = run(lambda s, d: copy_image(s, src, "m", d, dst, "arm", Platform("linux", "arm64")), registry.url,
                 registry_dest.url)

    assert result.digest == arm.digest and result.manifests == (arm.digest,)
    assert inspect_raw(registry_dest, f"{dst}:arm") == arm.manifest.data
    with pytest.raises(PlatformNotFoundError):
        run(lambda s, d: copy_image(s, src, "m", d, dst, "x", Platform("windows", "amd64")), registry.url, registry_dest.url)


def test_copy_within_a_registry_mounts_and_refuses_itself(registry: Any, make_repo: Callable[[], str]) -> None:
    src, dst = make_repo(), make_repo()
    image = random_image(200_000, seed=6, layers=2)
    push(registry, image, src, "v1", verify=False)

    result = run(lambda c: copy_image(c, src, "v1", c, dst), registry.url)
    assert result.stats.blobs_mounted == 3 and result.stats.blobs_uploaded == 0
    with pytest.raises(IllegalArgumentError):
        run(lambda c: copy_image(c, src, "v1", c, src, "v1"), registry.url)
    by_digest = run(lambda c: copy_image(c, src, image.digest, c, dst), registry.url)
    assert by_digest.reference == image.digest


def test_copy_to_a_registry_without_push_rights_uploads_nothing(
    registry: Any, fresh_registry: Callable[..., Any], make_repo: Callable[[], str]
) -> None:
    def acl(user: str | None, rtype: str, name: str) -> set[str]:
        return {"pull"} if rtype == "repository" else set()

    locked = fresh_registry("token", users={"bob": "bob-secret"}, acl=acl)
    src = make_repo()
    push(registry, random_image(100_000, seed=7), src, "v1", verify=False)

    async def go(s: RegistryClient) -> None:
        async with RegistryClient(locked.url, username="bob", password="bob-secret", use_docker_config=False) as d:
            await copy_image(s, src, "v1", d, "mirror/app")

    with pytest.raises(UnauthorizedError):
        run(go, registry.url)
    assert locked.blob_digests() == set()
    assert not access_log(locked, "PATCH") and not access_log(locked, "PUT")


def test_push_then_pull_gives_identical_bytes(registry: Any, registry_dest: Any, tmp_path: Path,
                                              make_repo: Callable[[], str]) -> None:
    index = build_index([random_image(1_500_000, seed=8, layers=2), build_image(ImageSpec(layers=[{"a": "b"}], architecture="arm64"))])
    src, dst = make_repo(), make_repo()
    push(registry, index, src, "v1", verify=False)
    first, second = BlobCache(tmp_path / "one" / "img"), BlobCache(tmp_path / "two" / "img")

    pulled = run(lambda c: pull_to_cache(c, src, "v1", first), registry.url)
    pushed = run(lambda c: push_from_cache(c, dst, "v1", first), registry_dest.url)
    again = run(lambda c: pull_to_cache(c, dst, "v1", second), registry_dest.url)

    assert pulled.plan.top.digest == pushed.digest == again.plan.top.digest == index.digest
    assert [p.name for p in first.files()] == [p.name for p in second.files()]
    for a, b in zip(first.files(), second.files()):
        assert a.read_bytes() == b.read_bytes()
    for blob in index.blobs():
        assert sha256_file(first.blob_path(blob.digest)) == blob.digest
    assert first.manifest_path.read_bytes() == index.manifest.data
    assert _all_raw(registry_dest, dst, index) == {m.digest: m.data for m in index.manifests()}


def test_copy_with_referrers_brings_signatures_and_attached_artifacts(
    registry: Any, registry_dest: Any, make_repo: Callable[[], str]
) -> None:
    from harness.images import build_artifact, build_cosign_signature, build_referrers_index, cosign_tag

    src, dst = make_repo(), make_repo()
    image = random_image(64 * 1024, seed=11, layers=2)
    other = random_image(32 * 1024, seed=12)
    signature = build_cosign_signature(image, repository=src)
    sbom = build_artifact(image, artifact_type="application/spdx+json")
    sbom_signature = build_cosign_signature(sbom, repository=src)
    other_signature = build_cosign_signature(other, repository=src)
    push(registry, image, src, "v1", verify=False)
    push(registry, other, src, "other", verify=False)
    push(registry, signature, src, cosign_tag(image.digest), method="http")
    push(registry, sbom, src, None, method="http")  # by digest only, reachable through the fallback index
    push(registry, build_referrers_index([sbom]), src, cosign_tag(image.digest, ""), method="http")
    push(registry, sbom_signature, src, cosign_tag(sbom.digest), method="http")
    push(registry, other_signature, src, cosign_tag(other.digest), method="http")

    plain = run(lambda s, d: copy_image(s, src, "v1", d, dst), registry.url, registry_dest.url)
    assert plain.referrers == ()
    result = run(lambda s, d: copy_image(s, src, "v1", d, dst, referrers=True), registry.url, registry_dest.url)

    assert set(result.referrers) == {signature.digest, sbom.digest, sbom_signature.digest,
                                     build_referrers_index([sbom]).digest}
    # Every referrer is there byte for byte, under the tag that ties it to its subject.
    assert inspect_raw(registry_dest, f"{dst}:{cosign_tag(image.digest)}") == signature.manifest.data
    assert inspect_raw(registry_dest, f"{dst}:{cosign_tag(sbom.digest)}") == sbom_signature.manifest.data
    assert inspect_raw(registry_dest, f"{dst}@{sbom.digest}") == sbom.manifest.data
    tags = json.loads(run_skopeo(["list-tags", *registry_dest.skopeo_args(""), f"docker://{registry_dest.host}/{dst}"]).stdout)["Tags"]
    assert cosign_tag(other.digest) not in tags and "other" not in tags  # another image's signature stays behind

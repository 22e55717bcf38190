"""The seed's synchronous write API on Registry and Image, against two real registries."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.images import build_image, build_index, inspect_raw, push, random_image, tag_existing, ImageSpec
from reginventory import Registry
from reginventory.errors import IllegalArgumentError
from reginventory.models.registry import Image, Repository
from reginventory.models.transfer import run_interruptible

from .helpers import sha256_file


@pytest.fixture
def source(registry: Any) -> Registry:
    reg = Registry(registry.url, skip_docker_config=True)
    yield reg
    reg.close()


def _multi():  # type: ignore[no-untyped-def]
    amd = build_image(ImageSpec(layers=[{"bin/x": "amd"}]))
    arm = build_image(ImageSpec(layers=[{"bin/x": "arm"}], architecture="arm64", variant="v8"))
    return build_index([amd, arm]), amd, arm


def test_pull_without_a_cache_reads_only_manifests_and_config(registry: Any, source: Registry, unique_repo: str) -> None:
    image = random_image(2_000_000, seed=40, layers=2)
    push(registry, image, unique_repo, "v1", verify=False)
    gets = len([line for line in registry.log_text().splitlines() if f"GET /v2/{unique_repo}/blobs/" in line])

    pulled = source.pull_image(unique_repo, "v1")

    assert isinstance(pulled, Image) and pulled.id == image.digest and pulled.filebasename is None
    after = [line for line in registry.log_text().splitlines() if f"GET /v2/{unique_repo}/blobs/" in line]
    assert len(after) - gets == 1  # the config only: layers stay in the registry until asked for
    assert pulled.read_blob(image.layer_digests[1]) == image.layers[1].blob.data
    assert pulled.manifest.created == "2024-01-01T00:00:00Z"


def test_pull_push_round_trip_of_an_index(registry: Any, registry_dest: Any, source: Registry, tmp_path: Path,
                                          make_repo: Callable[[], str]) -> None:
    index, amd, arm = _multi()
    src, dst = make_repo(), make_repo()
    push(registry, index, src, "v1", verify=False)
    base = str(tmp_path / "cache" / "multi")

    pulled = source.pull_image(src, "v1", filebasename=base)
    assert pulled.id == amd.digest and pulled.manifest_list is not None
    assert Path(base + ".manifest").read_bytes() == index.manifest.data
    assert Path(f"{base}.{arm.digest.split(':')[1]}.manifest").read_bytes() == arm.manifest.data
    for blob in index.blobs():
        assert sha256_file(Path(f"{base}.{blob.digest.split(':')[1]}")) == blob.digest
    assert pulled.blob_path(amd.layer_digests[0]) is not None

    with Registry(registry_dest.url, skip_docker_config=True) as dest:
        assert dest.push_image(dst, "v1", base) == index.digest
    assert inspect_raw(registry_dest, f"{dst}:v1") == index.manifest.data
    assert inspect_raw(registry_dest, f"{dst}@{arm.digest}") == arm.manifest.data

    one = source.pull_image(src, "v1", arch="arm64", filebasename=str(tmp_path / "arm" / "img"))
    assert one.id == arm.digest and (tmp_path / "arm" / "img.manifest").read_bytes() == arm.manifest.data


def test_pull_and_push_image_with_destination_parameters(registry: Any, registry_dest: Any, source: Registry,
                                                         tmp_path: Path, make_repo: Callable[[], str]) -> None:
    index, amd, arm = _multi()
    src = make_repo()
    push(registry, index, src, "v1", verify=False)

    streamed = source.pull_and_push_image(src, "v1", dst_registry=registry_dest.url, dst_repository="mirror/a",
                                          dst_skip_docker_config=True, dst_no_verify=True)
    assert streamed.digest == index.digest and inspect_raw(registry_dest, "mirror/a:v1") == index.manifest.data

    cached = source.pull_and_push_image(src, "v1", arch="arm64", filebasename=str(tmp_path / "c" / "img"),
                                        dst_registry=Registry(registry_dest.url), dst_repository="mirror/b", dst_tag="arm")
    assert cached.digest == arm.digest and (tmp_path / "c" / "img.manifest").exists()
    assert inspect_raw(registry_dest, "mirror/b:arm") == arm.manifest.data

    retag = source.pull_and_push_image(src, "v1", dst_tag="v1-copy")
    assert retag.stats.blobs_uploaded == 0 and inspect_raw(registry, f"{src}:v1-copy") == index.manifest.data

    with pytest.raises(IllegalArgumentError):
        source.pull_and_push_image(src, "v1")
    with pytest.raises(IllegalArgumentError):
        source.pull_and_push_image(src, "v1", dst_repository=src, dst_tag="v1")
    with pytest.warns(UserWarning, match="dst_cache_file"):
        source.pull_and_push_image(src, "v1", dst_tag="v1-again", dst_cache_file="/nonexistent/tokens")


def test_image_copy_to(registry: Any, registry_dest: Any, source: Registry, make_repo: Callable[[], str]) -> None:
    index, amd, arm = _multi()
    src = make_repo()
    push(registry, index, src, "v1", verify=False)
    image = source.pull_image(src, "v1")

    with pytest.raises(IllegalArgumentError):
        image.copy_to()
    with pytest.raises(IllegalArgumentError):
        image.copy_to(repository=Repository(source, src), tag="v1")

    whole = image.copy_to(tag="v2")
    assert whole.digest == index.digest
    with Registry(registry_dest.url, skip_docker_config=True) as dest:
        lone = image.copy_to(repository=Repository(dest, "mirror/one"), platform_only=True, lazy=False)
    assert lone.digest == amd.digest and inspect_raw(registry_dest, "mirror/one:v1") == amd.manifest.data


def test_tag_delete_tag_and_delete_image(registry: Any, source: Registry, unique_repo: str) -> None:
    image = random_image(50_000, seed=41)
    push(registry, image, unique_repo, "a", verify=False)
    tag_existing(registry, unique_repo, "b", image)

    tagged = source.tag_image(unique_repo, "a", "c")
    assert isinstance(tagged, Image) and tagged.tag == "c" and tagged.id == image.digest
    assert source.delete_tag(unique_repo, "c").method == "placeholder"
    assert source.get_tags(unique_repo) == ["a", "b"]
    assert source.check_image(unique_repo, "a") == 0

    tag_existing(registry, unique_repo, "d", image)
    report = source.delete_image(unique_repo, "a", layers=True)
    assert report.tags == ("a", "b", "d") and source.last_delete is report
    assert set(report.blobs_deleted) == {image.config_digest, *image.layer_digests}
    assert source.get_tags(unique_repo) == [] and source.check_image(unique_repo, "b") == 1


def test_ctrl_c_cancels_the_running_operation(source: Registry) -> None:
    seen: dict[str, bool] = {}

    async def slow(client: Any) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl-C
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_interruptible(source._make_client, slow)
    assert seen == {"cancelled": True} and time.monotonic() - started < 10

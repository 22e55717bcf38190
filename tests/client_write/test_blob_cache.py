"""The cache layout: safe names, paths inside the folder, atomic writes. No network."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from reginventory.client.blob_cache import BlobCache, digest_file_id, safe_basename
from reginventory.client.registry_writer import location_url, manifest_digest, with_digest
from reginventory.errors import IllegalArgumentError, InvalidReferenceError

HEX = "a" * 64


def test_layout_names_follow_the_seed(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "app")
    assert cache.manifest_path == tmp_path / "app.manifest"
    assert cache.blob_path(f"sha256:{HEX}") == tmp_path / f"app.{HEX}"
    assert cache.child_manifest_path(f"sha256:{HEX}") == tmp_path / f"app.{HEX}.manifest"
    assert cache.partial_path(cache.blob_path(f"sha256:{HEX}")) == tmp_path / f"app.{HEX}.partial"
    assert digest_file_id("sha512:" + "b" * 128) == "sha512-" + "b" * 128


@pytest.mark.parametrize(
    "digest",
    ["sha256:../../etc/passwd", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "md5:" + "a" * 32, "../x", "sha256:a/b", ""],
)
def test_digests_that_are_not_hex_never_name_a_file(tmp_path: Path, digest: str) -> None:
    with pytest.raises(InvalidReferenceError):
        BlobCache(tmp_path / "app").blob_path(digest)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / f"app.{HEX}").symlink_to(outside / "stolen")
    (folder / f"app.{HEX}.partial").symlink_to(outside / "stolen.partial")
    cache = BlobCache(folder / "app")
    with pytest.raises(IllegalArgumentError):
        cache.blob_path(f"sha256:{HEX}")


@pytest.mark.parametrize("name", ["", ".", "..", "x.partial"])
def test_unusable_basenames(tmp_path: Path, name: str) -> None:
    with pytest.raises(IllegalArgumentError):
        BlobCache(str(tmp_path) + os.sep + name if name else str(tmp_path) + os.sep)


def test_safe_basename_from_repository_and_tag() -> None:
    assert safe_basename("team/app", "v1") == "team_app_v1"
    assert safe_basename("../../etc", "passwd") == "etc_passwd"
    assert "/" not in safe_basename("a/b/../c") and not safe_basename(".hidden").startswith(".")


def test_write_atomic_and_valid_blob(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "sub" / "app")
    data = b"hello blob"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    cache.write_atomic(cache.blob_path(digest), data)
    assert cache.valid_blob(digest, len(data))
    assert not cache.valid_blob(digest, len(data) + 1)
    cache.blob_path(digest).write_bytes(b"tampered!!")
    assert not cache.valid_blob(digest)
    assert cache.files() == [cache.blob_path(digest)] and cache.partial_files() == []


def test_location_is_resolved_against_the_request_and_keeps_its_query() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:5000/v2/a/b/blobs/uploads/")
    relative = httpx.Response(202, headers={"Location": "/v2/a/b/blobs/uploads/u1?_state=x%2By%3D%3D"}, request=request)
    url = location_url(relative)
    assert str(url) == "http://127.0.0.1:5000/v2/a/b/blobs/uploads/u1?_state=x%2By%3D%3D"
    digest = "sha256:" + "c" * 64
    assert str(with_digest(url, digest)) == f"{url}&digest=sha256%3A{'c' * 64}"
    absolute = httpx.Response(202, headers={"Location": "https://storage.example/up/1?sig=a%2Fb"}, request=request)
    assert str(location_url(absolute)) == "https://storage.example/up/1?sig=a%2Fb"
    bare = httpx.URL("http://h/v2/a/blobs/uploads/u2")
    assert str(with_digest(bare, digest)) == f"http://h/v2/a/blobs/uploads/u2?digest=sha256%3A{'c' * 64}"


def test_manifest_digest_is_over_the_bytes() -> None:
    raw = b'{"schemaVersion":2}'
    assert manifest_digest(raw, "application/vnd.oci.image.manifest.v1+json") == "sha256:" + hashlib.sha256(raw).hexdigest()

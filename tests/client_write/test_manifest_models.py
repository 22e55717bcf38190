"""Manifest.modify and verify for every manifest type (schema1 signed with JWS, schema2, OCI, lists)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from harness.images import build_image, build_index, ImageSpec
from reginventory.client.jws import sign_schema1
from reginventory.client.manifest import parse_manifest
from reginventory.errors import DigestMismatchError, IllegalArgumentError, ManifestError
from reginventory.models.manifests import ManifestListV22, ManifestV21, ManifestV22, OCIIndex, OCIManifest, wrap_manifest


def _schema1(name: str = "team/app", tag: str = "v1") -> bytes:
    body = {
        "schemaVersion": 1, "name": name, "tag": tag, "architecture": "amd64",
        "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
        "history": [{"v1Compatibility": json.dumps({"id": "x", "created": "2024-01-01T00:00:00Z", "os": "linux"})}],
    }
    payload = json.dumps(body, indent=3).encode()
    return sign_schema1(payload, ec.generate_private_key(ec.SECP256R1()))


def test_schema1_signatures_verify_and_tampering_is_caught() -> None:
    raw = _schema1()
    manifest = wrap_manifest(parse_manifest(raw), "team/app", "v1")
    assert isinstance(manifest, ManifestV21) and manifest.verify() is True
    tampered = raw.replace(b'"amd64"', b'"arm64"')
    bad = wrap_manifest(parse_manifest(tampered), "team/app", "v1")
    with pytest.raises(ManifestError):
        bad.verify()


def test_schema1_modify_renames_and_drops_the_signatures() -> None:
    manifest = wrap_manifest(parse_manifest(_schema1()), "team/app", "v1")
    renamed = manifest.modify(repository="mirror/app", tag="v2")
    body = json.loads(renamed.raw)
    assert (body["name"], body["tag"], renamed.repository, renamed.tag) == ("mirror/app", "v2", "mirror/app", "v2")
    assert "signatures" not in body and renamed.verify() is None  # nothing left to verify, but the digest holds
    assert renamed.layers == manifest.layers
    with pytest.raises(IllegalArgumentError):
        manifest.modify(architecture="arm64")


@pytest.mark.parametrize("kind", ["oci", "docker", "oci-index", "docker-list"])
def test_content_addressed_manifests_verify_by_digest_and_keep_it_when_modified(kind: str) -> None:
    docker = kind.startswith("docker")
    image = build_image(ImageSpec(layers=[{"f": kind}], docker=docker))
    item = build_index([image, build_image(ImageSpec(layers=[{"g": kind}], architecture="arm64", docker=docker))],
                       docker=docker) if "index" in kind or "list" in kind else image
    manifest = wrap_manifest(parse_manifest(item.manifest.data), "team/app", "v1")
    expected = {"oci": OCIManifest, "docker": ManifestV22, "oci-index": OCIIndex, "docker-list": ManifestListV22}[kind]
    assert type(manifest) is expected
    assert manifest.verify() is True and manifest.digest == item.digest
    moved = manifest.modify(repository="mirror/app", tag="copy")
    assert (moved.repository, moved.tag, moved.digest, moved.raw) == ("mirror/app", "copy", item.digest, item.manifest.data)
    assert moved.verify() is True
    with pytest.raises(IllegalArgumentError):
        manifest.modify(digest="sha256:" + "0" * 64)
    lying = wrap_manifest(parse_manifest(item.manifest.data, digest="sha256:" + "0" * 64), "team/app", "v1")
    with pytest.raises(DigestMismatchError):
        lying.verify()

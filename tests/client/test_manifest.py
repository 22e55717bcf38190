"""Manifest parsing, kinds, platforms, created and schema1 signatures: pure functions."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from reginventory.client import mediatypes as mt
from reginventory.client.digest import sha256_digest
from reginventory.client.jws import sign_schema1, verify_schema1_signatures
from reginventory.client.manifest import (
    ImageManifest,
    IndexManifest,
    Schema1Manifest,
    parse_created,
    parse_image_config,
    parse_manifest,
    select_platform,
)
from reginventory.client.platform import Platform, host_platform, parse_platform
from reginventory.errors import InvalidReferenceError, ManifestError, PlatformNotFoundError

D = lambda c: "sha256:" + c * 64  # noqa: E731


def image(config_type: str = mt.OCI_CONFIG, **extra: object) -> bytes:
    body = {
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": D("c"), "size": 100},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": D("1"), "size": 1000},
                   {"mediaType": mt.OCI_LAYER_GZIP, "digest": D("2"), "size": 2000}],
        **extra,
    }
    return json.dumps(body).encode()


def test_image_manifest_size_is_config_plus_layers() -> None:
    raw = image()
    m = parse_manifest(raw)
    assert isinstance(m, ImageManifest)
    assert (m.size, m.layers_size, m.kind, m.digest) == (3100, 3000, "image", sha256_digest(raw))


def test_media_type_from_header_when_body_has_none() -> None:
    body = json.loads(image())
    del body["mediaType"]
    m = parse_manifest(json.dumps(body).encode(), "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
    assert m.media_type == mt.DOCKER_SCHEMA2


def test_index_platforms_skip_attestations() -> None:
    raw = json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_INDEX,
        "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": D("a"), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": mt.OCI_MANIFEST, "digest": D("b"), "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": mt.OCI_MANIFEST, "digest": D("e"), "size": 1, "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": D("a")}},
        ],
    }).encode()
    index = parse_manifest(raw)
    assert isinstance(index, IndexManifest)
    assert [str(p) for p in index.platforms] == ["linux/amd64", "linux/arm64/v8"]
    assert select_platform(index, parse_platform("linux/arm64")).digest == D("b")
    assert select_platform(index, Platform("linux", "arm64", "v8")).digest == D("b")
    with pytest.raises(PlatformNotFoundError, match="available: linux/amd64, linux/arm64/v8") as err:
        select_platform(index, parse_platform("windows/amd64"))
    assert err.value.available == ("linux/amd64", "linux/arm64/v8")
    with pytest.raises(PlatformNotFoundError):
        select_platform(index, Platform("unknown", "unknown"))


@pytest.mark.parametrize(
    ("extra", "config_type", "kind"),
    [
        ({}, mt.OCI_CONFIG, "image"),
        ({"artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}, mt.OCI_EMPTY, "signature"),
        ({"artifactType": "application/spdx+json"}, mt.OCI_EMPTY, "sbom"),
        ({"artifactType": "application/vnd.in-toto+json"}, mt.OCI_EMPTY, "attestation"),
        ({"artifactType": "application/x-custom"}, mt.OCI_EMPTY, "artifact"),
        ({"subject": {"mediaType": mt.OCI_MANIFEST, "digest": D("f"), "size": 10}}, "application/x-thing", "artifact"),
    ],
)
def test_kinds(extra: dict, config_type: str, kind: str) -> None:
    m = parse_manifest(image(config_type, **extra))
    assert m.kind == kind


def test_subject_is_parsed() -> None:
    m = parse_manifest(image(mt.OCI_EMPTY, subject={"mediaType": mt.OCI_MANIFEST, "digest": D("f"), "size": 10}))
    assert isinstance(m, ImageManifest) and m.subject is not None and m.subject.digest == D("f")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[1]", "not a JSON object"),
        (json.dumps({"schemaVersion": 2, "mediaType": "application/x-weird"}).encode(), "unknown manifest media type"),
        (json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": "x"}).encode(), "no 'manifests' list"),
        (json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": []}).encode(), "no config"),
        (b" " * (4 * 1024 * 1024 + 1), "exceeds"),
    ],
)
def test_bad_manifests(raw: bytes, fragment: str) -> None:
    with pytest.raises(ManifestError, match=fragment):
        parse_manifest(raw)


def test_created_epoch_and_nanoseconds() -> None:
    assert parse_created("1970-01-01T00:00:00Z") is None
    assert parse_created("") is None and parse_created(None) is None and parse_created("garbage") is None
    assert parse_created("2024-05-01T10:00:00.123456789Z") == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_created("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)


def test_image_config() -> None:
    cfg = parse_image_config(json.dumps({
        "created": "2023-01-02T03:04:05Z", "os": "linux", "architecture": "arm", "variant": "v7",
        "config": {"Labels": {"a": "<script>"}},
    }).encode())
    assert (cfg.os, cfg.architecture, cfg.variant, dict(cfg.labels)) == ("linux", "arm", "v7", {"a": "<script>"})


def test_schema1_signed_digest_and_signature() -> None:
    payload = json.dumps({
        "schemaVersion": 1, "name": "a/b", "tag": "v1", "architecture": "amd64",
        "fsLayers": [{"blobSum": D("2")}, {"blobSum": D("1")}],
        "history": [{"v1Compatibility": json.dumps({"created": "2021-01-01T00:00:00Z", "os": "linux"})}, {"v1Compatibility": "{}"}],
    }, indent=3).encode()
    signed = sign_schema1(payload, ec.generate_private_key(ec.SECP256R1()))
    m = parse_manifest(signed)
    assert isinstance(m, Schema1Manifest)
    assert m.media_type == mt.DOCKER_SCHEMA1_SIGNED
    assert m.digest == sha256_digest(payload)  # the signature is not covered by the digest
    assert m.fs_layers == (D("2"), D("1")) and m.created == datetime(2021, 1, 1, tzinfo=timezone.utc)
    assert verify_schema1_signatures(signed) is True
    assert verify_schema1_signatures(payload) is None
    tampered = signed.replace(b'"tag": "v1"', b'"tag": "v2"')
    with pytest.raises(ManifestError, match="does not verify"):
        verify_schema1_signatures(tampered)


def test_platform_parsing_and_host() -> None:
    assert str(parse_platform("linux/arm/v7")) == "linux/arm/v7"
    with pytest.raises(InvalidReferenceError, match="os/arch"):
        parse_platform("linux")
    assert host_platform().os and host_platform().architecture

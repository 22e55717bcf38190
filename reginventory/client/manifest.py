"""Manifests, indexes and image configs as typed values. Pure: parsing only, no I/O.

Formats: Docker schema1 (signed and unsigned), Docker schema2, Docker manifest list, OCI image
manifest, OCI index, OCI artifacts (``artifactType``, ``subject``) and the draft OCI artifact
manifest. ``kind`` sorts a manifest into image / index / signature / attestation / sbom /
artifact, the way the inventory reports it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from reginventory.client import mediatypes as mt
from reginventory.client.digest import sha256_digest
from reginventory.client.platform import Platform
from reginventory.errors import ManifestError, PlatformNotFoundError

#: distribution refuses manifests over 4 MiB; we refuse to read more than that too.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: Image configs are small JSON documents; this bounds a hostile one.
MAX_CONFIG_BYTES = 8 * 1024 * 1024

ATTESTATION_REFERENCE_TYPE = "attestation-manifest"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about a blob or another manifest."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None

    @property
    def foreign(self) -> bool:
        """A layer the registry does not store (Windows base layers with ``urls``)."""
        return bool(self.urls) or self.media_type == mt.DOCKER_FOREIGN_LAYER

    @property
    def is_attestation(self) -> bool:
        """BuildKit's attestation entry inside an index (``unknown/unknown``)."""
        return self.annotations.get("vnd.docker.reference.type") == ATTESTATION_REFERENCE_TYPE or bool(
            self.platform and self.platform.is_unknown
        )


@dataclass(frozen=True)
class Manifest:
    """Any manifest: its exact bytes, media type and digest."""

    raw: bytes
    media_type: str
    digest: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "image"


@dataclass(frozen=True)
class ImageManifest(Manifest):
    """A Docker schema2 or OCI image manifest (also artifacts, which use the same shape)."""

    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @property
    def layers_size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def size(self) -> int:
        """Compressed bytes of the image: config + layers (the crane convention)."""
        return (self.config.size if self.config else 0) + self.layers_size

    @property
    def kind(self) -> str:
        return classify_image_manifest(self)


@dataclass(frozen=True)
class IndexManifest(Manifest):
    """A Docker manifest list or an OCI index."""

    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @property
    def kind(self) -> str:
        return "index"

    @property
    def platforms(self) -> list[Platform]:
        """The real platforms of the children (attestation entries are not platforms)."""
        return [d.platform for d in self.manifests if d.platform and not d.is_attestation]


@dataclass(frozen=True)
class Schema1Manifest(Manifest):
    """A Docker schema1 manifest, signed (prettyjws) or not."""

    name: str = ""
    tag: str = ""
    architecture: str = ""
    fs_layers: tuple[str, ...] = ()  # blobSums, newest layer first as schema1 lists them
    history: tuple[Mapping[str, Any], ...] = ()  # parsed v1Compatibility documents
    signatures: tuple[Mapping[str, Any], ...] = ()

    @property
    def created(self) -> datetime | None:
        return parse_created(self.history[0].get("created")) if self.history else None

    @property
    def os(self) -> str:
        return str(self.history[0].get("os", "linux")) if self.history else "linux"


@dataclass(frozen=True)
class ImageConfig:
    """What reginventory reads from an image config blob."""

    created: datetime | None
    os: str | None
    architecture: str | None
    variant: str | None
    os_version: str | None
    labels: Mapping[str, str]
    raw: Mapping[str, Any]


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{what} is not valid JSON: {exc}") from None


def _descriptor(data: Any, what: str) -> Descriptor:
    if not isinstance(data, dict):
        raise ManifestError(f"{what} is not a descriptor object")
    try:
        platform = None
        if isinstance(data.get("platform"), dict):
            p = data["platform"]
            platform = Platform(
                str(p.get("os", "")), str(p.get("architecture", "")), p.get("variant") or None,
                p.get("os.version") or None,
            )
        return Descriptor(
            media_type=str(data.get("mediaType", "")),
            digest=str(data["digest"]),
            size=int(data.get("size", 0)),
            platform=platform,
            annotations=_string_map(data.get("annotations")),
            urls=tuple(str(u) for u in data.get("urls") or ()),
            artifact_type=data.get("artifactType"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{what} is malformed: {exc!r}") from None


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def detect_media_type(body: Mapping[str, Any], content_type: str | None) -> str:
    """The manifest's media type: the body's ``mediaType``, else Content-Type, else its shape."""
    declared = body.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    header = mt.normalize(content_type)
    if header in mt.MANIFEST_TYPES:
        return header
    if body.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if body.get("signatures") else mt.DOCKER_SCHEMA1
    if "manifests" in body:
        return mt.OCI_INDEX
    if "config" in body or "layers" in body:
        return mt.OCI_MANIFEST
    return header


def parse_manifest(raw: bytes, content_type: str | None = None, digest: str | None = None) -> Manifest:
    """Parse manifest bytes into an ImageManifest, IndexManifest or Schema1Manifest.

    ``digest`` is the digest the registry announced; without it the digest is computed (for a
    signed schema1 manifest, over the payload without its signatures, as distribution does).
    """
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest of {len(raw)} bytes exceeds the {MAX_MANIFEST_BYTES}-byte limit")
    body = _json(raw, "manifest")
    if not isinstance(body, dict):
        raise ManifestError("manifest is not a JSON object")
    media_type = detect_media_type(body, content_type)
    annotations = _string_map(body.get("annotations"))
    if media_type in mt.SCHEMA1_TYPES:
        return _parse_schema1(raw, body, media_type, digest)
    digest = digest or sha256_digest(raw)
    subject = _descriptor(body["subject"], "subject") if body.get("subject") else None
    if media_type in mt.INDEX_TYPES:
        children = body.get("manifests")
        if not isinstance(children, list):
            raise ManifestError("index has no 'manifests' list")
        return IndexManifest(
            raw=raw, media_type=media_type, digest=digest, annotations=annotations,
            manifests=tuple(_descriptor(c, f"manifests[{i}]") for i, c in enumerate(children)),
            subject=subject, artifact_type=body.get("artifactType"),
        )
    if media_type in mt.IMAGE_TYPES:
        layers_key = "blobs" if media_type == mt.OCI_ARTIFACT_DRAFT else "layers"
        layers = body.get(layers_key) or []
        if not isinstance(layers, list):
            raise ManifestError(f"manifest '{layers_key}' is not a list")
        config = _descriptor(body["config"], "config") if body.get("config") else None
        if config is None and media_type != mt.OCI_ARTIFACT_DRAFT:
            raise ManifestError("image manifest has no config descriptor")
        return ImageManifest(
            raw=raw, media_type=media_type, digest=digest, annotations=annotations, config=config,
            layers=tuple(_descriptor(layer, f"{layers_key}[{i}]") for i, layer in enumerate(layers)),
            subject=subject, artifact_type=body.get("artifactType"),
        )
    raise ManifestError(f"unknown manifest media type {media_type!r}")


def _parse_schema1(raw: bytes, body: dict[str, Any], media_type: str, digest: str | None) -> Schema1Manifest:
    history = []
    for entry in body.get("history") or []:
        compat = entry.get("v1Compatibility") if isinstance(entry, dict) else None
        history.append(_json(compat.encode(), "v1Compatibility") if isinstance(compat, str) else {})
    return Schema1Manifest(
        raw=raw,
        media_type=media_type,
        digest=digest or sha256_digest(schema1_payload(raw)),
        name=str(body.get("name", "")),
        tag=str(body.get("tag", "")),
        architecture=str(body.get("architecture", "")),
        fs_layers=tuple(str(layer.get("blobSum")) for layer in body.get("fsLayers") or []),
        history=tuple(history),
        signatures=tuple(body.get("signatures") or ()),
    )


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def schema1_payload(raw: bytes) -> bytes:
    """The signed payload of a prettyjws manifest (the bytes its digest covers)."""
    body = _json(raw, "manifest")
    signatures = body.get("signatures") if isinstance(body, dict) else None
    if not signatures:
        return raw
    protected = json.loads(b64url_decode(signatures[0]["protected"]))
    length = int(protected["formatLength"])
    return raw[:length] + b64url_decode(protected["formatTail"])


def parse_created(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None for absent, invalid or the epoch."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Python < 3.12 accepts at most 6 fractional digits; Go writes 9.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return None if moment <= _EPOCH else moment


def parse_image_config(raw: bytes) -> ImageConfig:
    """Parse an image config blob (Docker or OCI)."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise ManifestError(f"config of {len(raw)} bytes exceeds the {MAX_CONFIG_BYTES}-byte limit")
    body = _json(raw, "image config")
    if not isinstance(body, dict):
        raise ManifestError("image config is not a JSON object")
    inner = body.get("config") if isinstance(body.get("config"), dict) else {}
    return ImageConfig(
        created=parse_created(body.get("created")),
        os=body.get("os"),
        architecture=body.get("architecture"),
        variant=body.get("variant"),
        os_version=body.get("os.version"),
        labels=_string_map(inner.get("Labels")),
        raw=body,
    )


_COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
_INTOTO_LAYERS = frozenset({"application/vnd.dsse.envelope.v1+json", "application/vnd.in-toto+json"})


def classify_image_manifest(manifest: ImageManifest) -> str:
    """image, signature, attestation, sbom or artifact, from artifactType, config and layers."""
    candidates = {manifest.artifact_type or "", manifest.config.media_type if manifest.config else ""}
    candidates |= {layer.media_type for layer in manifest.layers}
    if manifest.annotations.get("vnd.docker.reference.type") == ATTESTATION_REFERENCE_TYPE:
        return "attestation"
    if candidates & mt.SIGNATURE_ARTIFACT_TYPES or _COSIGN_SIMPLESIGNING in candidates:
        return "signature"
    if candidates & (mt.ATTESTATION_ARTIFACT_TYPES | _INTOTO_LAYERS):
        return "attestation"
    if candidates & mt.SBOM_ARTIFACT_TYPES:
        return "sbom"
    config_type = manifest.config.media_type if manifest.config else ""
    if manifest.artifact_type or manifest.subject or config_type not in (mt.DOCKER_CONFIG, mt.OCI_CONFIG):
        return "artifact"
    return "image"


def select_platform(index: IndexManifest, wanted: Platform) -> Descriptor:
    """The child of ``index`` that matches ``wanted``; raise PlatformNotFoundError listing the rest."""
    for child in index.manifests:
        if child.platform and not child.is_attestation and child.platform.matches(wanted):
            return child
    available = [str(p) for p in index.platforms]
    raise PlatformNotFoundError(
        f"no manifest for platform {wanted}; available: {', '.join(available) or 'none'}", available=available
    )

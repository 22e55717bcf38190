"""Image metadata from a manifest and its config: size, created, platform, layers, labels.

Size convention (everywhere in reginventory): compressed bytes as the registry stores them,
``size = config_size + layers_size`` for an image (crane's recipe); the manifest's own bytes are
``manifest_size``, kept apart. ``created`` is the config's ``created``, else the manifest's
``org.opencontainers.image.created`` annotation; the Unix epoch means unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from reginventory.client.manifest import (
    ImageConfig,
    ImageManifest,
    IndexManifest,
    Manifest,
    Schema1Manifest,
    parse_created,
)

CREATED_ANNOTATION = "org.opencontainers.image.created"


@dataclass(frozen=True)
class LayerInfo:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class ImageInfo:
    """What reginventory knows about one image (one platform)."""

    registry: str
    repository: str
    reference: str
    digest: str  # the image manifest's digest
    media_type: str
    kind: str
    manifest_size: int
    index_digest: str | None = None  # the index the image was selected from, if any
    config_digest: str | None = None
    config_size: int = 0
    layers: tuple[LayerInfo, ...] = ()
    created: datetime | None = None
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject_digest: str | None = None

    @property
    def layers_size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def size(self) -> int:
        """Compressed bytes: config + layers."""
        return self.config_size + self.layers_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (the keys ``get_image_metadata`` and ``inspect`` return)."""
        return {
            "registry": self.registry,
            "repository": self.repository,
            "reference": self.reference,
            "digest": self.digest,
            "index_digest": self.index_digest,
            "media_type": self.media_type,
            "kind": self.kind,
            "manifest_size": self.manifest_size,
            "size": self.size,
            "config_digest": self.config_digest,
            "config_size": self.config_size,
            "layers_size": self.layers_size,
            "created": self.created.isoformat().replace("+00:00", "Z") if self.created else None,
            "os": self.os,
            "architecture": self.architecture,
            "variant": self.variant,
            "layers": [{"digest": l.digest, "size": l.size, "media_type": l.media_type} for l in self.layers],
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "artifact_type": self.artifact_type,
            "subject_digest": self.subject_digest,
        }


def image_info(
    registry: str,
    repository: str,
    reference: str,
    manifest: Manifest,
    config: ImageConfig | None,
    index: IndexManifest | None = None,
) -> ImageInfo:
    """Combine a manifest, its config and the index it came from into an ImageInfo."""
    common: dict[str, Any] = dict(
        registry=registry, repository=repository, reference=reference, digest=manifest.digest,
        media_type=manifest.media_type, kind=manifest.kind, manifest_size=len(manifest.raw),
        index_digest=index.digest if index else None, annotations=dict(manifest.annotations),
    )
    if isinstance(manifest, Schema1Manifest):
        # schema1 has no config blob and no layer sizes; v1Compatibility may carry "Size".
        return ImageInfo(
            **common,
            layers=tuple(LayerInfo(d, 0, "application/vnd.docker.image.rootfs.diff.tar.gzip") for d in reversed(manifest.fs_layers)),
            created=manifest.created, os=manifest.os, architecture=manifest.architecture or None,
            labels=dict((manifest.history[0].get("config") or {}).get("Labels") or {}) if manifest.history else {},
        )
    if not isinstance(manifest, ImageManifest):
        raise TypeError(f"image_info needs an image manifest, not {type(manifest).__name__}")
    child = next((d for d in index.manifests if d.digest == manifest.digest), None) if index else None
    created = config.created if config else None
    if created is None:
        created = parse_created(manifest.annotations.get(CREATED_ANNOTATION))
    return ImageInfo(
        **common,
        config_digest=manifest.config.digest if manifest.config else None,
        config_size=manifest.config.size if manifest.config else 0,
        layers=tuple(LayerInfo(l.digest, l.size, l.media_type) for l in manifest.layers),
        created=created,
        os=(config.os if config else None) or (child.platform.os if child and child.platform else None),
        architecture=(config.architecture if config else None) or (child.platform.architecture if child and child.platform else None),
        variant=(config.variant if config else None) or (child.platform.variant if child and child.platform else None),
        labels=dict(config.labels) if config else {},
        artifact_type=manifest.artifact_type,
        subject_digest=manifest.subject.digest if manifest.subject else None,
    )

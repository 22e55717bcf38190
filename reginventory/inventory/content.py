"""What the crawl remembers about one manifest digest, and the table rows made from it. Pure.

Digests are content addresses: a manifest is parsed (and its config fetched) once per registry
and crawl, whatever repository or tag it appears under. :class:`ManifestFacts` keeps only what
the rows need, with repeated strings interned, so that the crawl's memory grows with the number
of distinct digests and nothing else.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from reginventory.client import mediatypes as mt
from reginventory.client.image_info import CREATED_ANNOTATION
from reginventory.client.manifest import (
    ImageConfig,
    ImageManifest,
    IndexManifest,
    Manifest,
    Schema1Manifest,
    parse_created,
)
from reginventory.inventory import schema

#: (digest, size, media_type, foreign) of one layer.
Layer = tuple[str, int, str, bool]
Pairs = tuple[tuple[str, str], ...]

#: cosign's tag suffixes and the referrer kind each one means.
COSIGN_SUFFIX_KINDS = {".sig": schema.KIND_SIGNATURE, ".att": schema.KIND_ATTESTATION, ".sbom": schema.KIND_SBOM}
_REFERRER_KINDS = frozenset({schema.KIND_SIGNATURE, schema.KIND_ATTESTATION, schema.KIND_SBOM})

_intern = sys.intern


def _s(value: str | None) -> str | None:
    return _intern(value) if value else value


def _pairs(mapping: Mapping[str, str] | None) -> Pairs | None:
    if not mapping:
        return None
    return tuple((_intern(str(k)), str(v)) for k, v in mapping.items())


@dataclass(slots=True)
class ChildFact:
    """One entry of an index, as the index describes it."""

    digest: str
    media_type: str
    size: int
    os: str | None
    architecture: str | None
    variant: str | None
    attestation: bool
    artifact_type: str | None
    annotations: Pairs | None

    @property
    def platform(self) -> str | None:
        if self.attestation or not (self.os and self.architecture):
            return None
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(slots=True)
class ManifestFacts:
    """Everything the tables say about one manifest digest (repository-independent)."""

    digest: str
    media_type: str
    kind: str
    manifest_size: int
    config_digest: str | None = None
    config_media_type: str | None = None
    config_size: int | None = None
    layers: tuple[Layer, ...] = ()
    created: datetime | None = None
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    labels: Pairs | None = None
    annotations: Pairs | None = None
    artifact_type: str | None = None
    subject_digest: str | None = None
    children: tuple[ChildFact, ...] = ()
    #: Layer sizes are unknown (Docker schema1 lists digests only).
    sizes_unknown: bool = False
    #: The content rows (layers, index_children) of this digest are written in this crawl.
    emitted: bool = False

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    @property
    def layers_size(self) -> int | None:
        if self.is_index or self.sizes_unknown:
            return None
        return sum(layer[1] for layer in self.layers)


def needs_config(manifest: Manifest) -> bool:
    """True for an image whose config blob is worth a request (created, platform, labels).

    Signatures, attestations, SBOMs and other artifacts carry nothing the tables use in their
    config (often the empty ``{}``), so their config is never fetched.
    """
    return (
        isinstance(manifest, ImageManifest)
        and manifest.config is not None
        and manifest.config.media_type in (mt.DOCKER_CONFIG, mt.OCI_CONFIG)
        and manifest.kind == schema.KIND_IMAGE
    )


def facts_from_manifest(manifest: Manifest, config: ImageConfig | None = None) -> ManifestFacts:
    """The facts of a parsed manifest and (for an image) its parsed config."""
    annotations = _pairs(manifest.annotations)
    base: dict[str, Any] = dict(
        digest=_intern(manifest.digest), media_type=_intern(manifest.media_type), kind=manifest.kind,
        manifest_size=len(manifest.raw), annotations=annotations,
    )
    if isinstance(manifest, IndexManifest):
        children = tuple(
            ChildFact(
                digest=_intern(d.digest), media_type=_intern(d.media_type), size=d.size,
                os=_s(d.platform.os) if d.platform else None,
                architecture=_s(d.platform.architecture) if d.platform else None,
                variant=_s(d.platform.variant) if d.platform else None,
                attestation=d.is_attestation, artifact_type=_s(d.artifact_type), annotations=_pairs(d.annotations),
            )
            for d in manifest.manifests
        )
        return ManifestFacts(
            **base, children=children, artifact_type=_s(manifest.artifact_type),
            subject_digest=manifest.subject.digest if manifest.subject else None,
            created=parse_created(manifest.annotations.get(CREATED_ANNOTATION)),
        )
    if isinstance(manifest, Schema1Manifest):
        config_labels = (manifest.history[0].get("config") or {}).get("Labels") if manifest.history else None
        return ManifestFacts(
            **base,
            layers=tuple((_intern(d), 0, mt.DOCKER_LAYER, False) for d in reversed(manifest.fs_layers)),
            created=manifest.created, os=_s(manifest.os), architecture=_s(manifest.architecture or None),
            labels=_pairs(config_labels if isinstance(config_labels, dict) else None), sizes_unknown=True,
        )
    assert isinstance(manifest, ImageManifest)
    created = config.created if config else None
    if created is None:
        created = parse_created(manifest.annotations.get(CREATED_ANNOTATION))
    return ManifestFacts(
        **base,
        config_digest=_s(manifest.config.digest) if manifest.config else None,
        config_media_type=_s(manifest.config.media_type) if manifest.config else None,
        config_size=manifest.config.size if manifest.config else None,
        layers=tuple((_intern(l.digest), l.size, _intern(l.media_type), l.foreign) for l in manifest.layers),
        created=created,
        os=_s(config.os) if config and config.os else None,
        architecture=_s(config.architecture) if config and config.architecture else None,
        variant=_s(config.variant) if config and config.variant else None,
        labels=_pairs(config.labels) if config else None,
        artifact_type=_s(manifest.artifact_type),
        subject_digest=manifest.subject.digest if manifest.subject else None,
    )


def child_kind(child: ChildFact, facts: ManifestFacts | None) -> str:
    """image | attestation | index | artifact, for the ``index_children.kind`` column."""
    if child.attestation:
        return schema.KIND_ATTESTATION
    if child.media_type in mt.INDEX_TYPES or (facts is not None and facts.is_index):
        return schema.KIND_INDEX
    kind = facts.kind if facts is not None else (schema.KIND_ARTIFACT if child.artifact_type else schema.KIND_IMAGE)
    if kind == schema.KIND_ATTESTATION:
        return schema.KIND_ATTESTATION
    return schema.KIND_IMAGE if kind == schema.KIND_IMAGE else schema.KIND_ARTIFACT


def referrer_kind(facts: ManifestFacts | None, artifact_type: str | None = None, suffix: str | None = None) -> str:
    """signature | attestation | sbom | artifact, from a cosign suffix, the manifest or its type."""
    if suffix in COSIGN_SUFFIX_KINDS:
        return COSIGN_SUFFIX_KINDS[suffix]
    if facts is not None and facts.kind in _REFERRER_KINDS:
        return facts.kind
    candidate = artifact_type or (facts.artifact_type if facts else None) or ""
    if candidate in mt.SIGNATURE_ARTIFACT_TYPES:
        return schema.KIND_SIGNATURE
    if candidate in mt.ATTESTATION_ARTIFACT_TYPES:
        return schema.KIND_ATTESTATION
    if candidate in mt.SBOM_ARTIFACT_TYPES:
        return schema.KIND_SBOM
    return schema.KIND_ARTIFACT


def total_size(facts: ManifestFacts, lookup: Callable[[str], ManifestFacts | None]) -> int | None:
    """Image: config + layers. Index: the distinct config and layer blobs of all its children
    (nested indexes included); None when a child is unknown or a size is."""
    if not facts.is_index:
        if facts.sizes_unknown:
            return None
        return (facts.config_size or 0) + sum(layer[1] for layer in facts.layers)
    blobs: dict[str, int] = {}
    pending = [facts]
    seen = {facts.digest}
    while pending:
        current = pending.pop()
        for child in current.children:
            found = lookup(child.digest)
            if found is None or found.sizes_unknown:
                return None
            if found.is_index:
                if found.digest not in seen:
                    seen.add(found.digest)
                    pending.append(found)
                continue
            if found.config_digest:
                blobs[found.config_digest] = found.config_size or 0
            for layer in found.layers:
                if not layer[3]:  # foreign layers are not stored by the registry
                    blobs[layer[0]] = layer[1]
    return sum(blobs.values())


def manifest_row(
    facts: ManifestFacts,
    repository: str,
    *,
    tagged: bool,
    reached_by: str,
    first_seen: datetime,
    last_seen: datetime,
    total: int | None,
) -> dict[str, Any]:
    """One ``manifests`` row (registry and crawl_id are filled in by the writer)."""
    return {
        "repository": repository,
        "digest": facts.digest,
        "media_type": facts.media_type,
        "kind": facts.kind,
        "tagged": tagged,
        "reached_by": reached_by,
        "manifest_size": facts.manifest_size,
        "config_digest": facts.config_digest,
        "config_media_type": facts.config_media_type,
        "config_size": facts.config_size,
        "layers_size": facts.layers_size,
        "layer_count": None if facts.is_index else len(facts.layers),
        "total_size": total,
        "created": facts.created,
        "os": facts.os,
        "architecture": facts.architecture,
        "variant": facts.variant,
        "labels": list(facts.labels) if facts.labels else None,
        "annotations": list(facts.annotations) if facts.annotations else None,
        "artifact_type": facts.artifact_type,
        "subject_digest": facts.subject_digest,
        "first_seen": first_seen,
        "last_seen": last_seen,
    }


def layer_rows(facts: ManifestFacts) -> list[dict[str, Any]]:
    """The ``layers`` rows of one manifest (none for an index)."""
    return [
        {"digest": facts.digest, "position": i, "layer_digest": d, "size": size, "media_type": media_type, "foreign": foreign}
        for i, (d, size, media_type, foreign) in enumerate(facts.layers)
    ]


def child_rows(facts: ManifestFacts, lookup: Callable[[str], ManifestFacts | None]) -> list[dict[str, Any]]:
    """The ``index_children`` rows of one index."""
    return [
        {
            "digest": facts.digest,
            "position": i,
            "child_digest": c.digest,
            "child_media_type": c.media_type,
            "child_size": c.size,
            "platform": c.platform,
            "os": None if c.attestation else c.os,
            "architecture": None if c.attestation else c.architecture,
            "variant": None if c.attestation else c.variant,
            "kind": child_kind(c, lookup(c.digest)),
            "annotations": list(c.annotations) if c.annotations else None,
        }
        for i, c in enumerate(facts.children)
    ]


def facts_from_rows(
    manifest: Mapping[str, Any], layers: Iterable[Mapping[str, Any]], children: Iterable[Mapping[str, Any]]
) -> ManifestFacts:
    """Rebuild facts from a snapshot's rows (the previous crawl, or a resumed crawl's staging)."""
    layer_list = sorted(layers, key=lambda r: r["position"])
    child_list = sorted(children, key=lambda r: r["position"])
    media_type = manifest["media_type"]
    return ManifestFacts(
        digest=_intern(manifest["digest"]),
        media_type=_intern(media_type),
        kind=manifest["kind"],
        manifest_size=manifest["manifest_size"],
        config_digest=_s(manifest["config_digest"]),
        config_media_type=_s(manifest["config_media_type"]),
        config_size=manifest["config_size"],
        layers=tuple(
            (_intern(r["layer_digest"]), r["size"], _intern(r["media_type"]), r["foreign"]) for r in layer_list
        ),
        created=manifest["created"],
        os=_s(manifest["os"]),
        architecture=_s(manifest["architecture"]),
        variant=_s(manifest["variant"]),
        labels=_pairs(dict(manifest["labels"])) if manifest["labels"] else None,
        annotations=_pairs(dict(manifest["annotations"])) if manifest["annotations"] else None,
        artifact_type=_s(manifest["artifact_type"]),
        subject_digest=manifest["subject_digest"],
        children=tuple(
            ChildFact(
                digest=_intern(r["child_digest"]), media_type=_intern(r["child_media_type"]), size=r["child_size"],
                os=_s(r["os"]), architecture=_s(r["architecture"]), variant=_s(r["variant"]),
                attestation=r["kind"] == schema.KIND_ATTESTATION, artifact_type=None,
                annotations=_pairs(dict(r["annotations"])) if r["annotations"] else None,
            )
            for r in child_list
        ),
        sizes_unknown=media_type in mt.SCHEMA1_TYPES,
    )

"""The seed's Manifest family (``dockerreg.models``), as thin views over the pure manifest values.

=====================  =====================================================================
class                  what it wraps
=====================  =====================================================================
``ManifestV21``        Docker schema1 (v2, schema 1), signed or not
``ManifestV1Compat``   one ``v1Compatibility`` history entry of a schema1 manifest
``ManifestV22``        Docker schema2 image manifest
``OCIManifest``        OCI image manifest (and OCI artifacts), a ManifestV22 with OCI types
``ManifestListV22``    Docker manifest list
``OCIIndex``           OCI index, a ManifestListV22 with the OCI type
=====================  =====================================================================

``verify()`` returns True when verified, None when there is nothing to verify, and raises when
verification fails (the seed's contract). ``modify(repository=..., tag=...)`` returns a new
manifest for another name: content-addressed manifests keep their bytes (their digest cannot
change), schema1 rewrites ``name``/``tag`` and drops its now invalid signatures.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping

from reginventory.client import mediatypes as mt
from reginventory.client.digest import compute_like
from reginventory.client.manifest import (
    Descriptor,
    ImageConfig,
    ImageManifest,
    IndexManifest,
    Manifest as ManifestValue,
    Schema1Manifest,
    parse_created,
    parse_manifest,
    schema1_payload,
)
from reginventory.errors import DigestMismatchError, IllegalArgumentError


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class Manifest:
    """Any manifest: raw bytes, media type, digest, and the repository and tag it was read from."""

    valid_media_types: frozenset[str] = mt.MANIFEST_TYPES

    def __init__(self, value: ManifestValue, repository: str | None = None, tag: str | None = None) -> None:
        self.value = value
        self.repository = repository
        self.tag = tag

    @property
    def raw(self) -> bytes:
        return self.value.raw

    @property
    def media_type(self) -> str:
        return self.value.media_type

    @property
    def digest(self) -> str:
        return self.value.digest

    @property
    def id(self) -> str:
        return self.value.digest

    @property
    def manifest(self) -> dict[str, Any]:
        """The parsed JSON document."""
        return json.loads(self.value.raw)

    @property
    def schema_version(self) -> int:
        return int(self.manifest.get("schemaVersion", 2))

    @property
    def version(self) -> str:
        return f"v2-{self.schema_version}"

    def verify(self) -> bool | None:
        """True when the bytes hash to the digest; raise DigestMismatchError otherwise."""
        actual = compute_like(self.digest, self.raw)
        if actual != self.digest:
            raise DigestMismatchError(f"manifest bytes hash to {actual}, not {self.digest}", repository=self.repository)
        return True

    def modify(self, **kwargs: Any) -> Manifest:
        """A copy for another ``repository`` and/or ``tag`` (the bytes, and so the digest, stay)."""
        unknown = set(kwargs) - {"repository", "tag"}
        if unknown:
            raise IllegalArgumentError(f"{type(self).__name__}.modify() does not know {sorted(unknown)}")
        return type(self)(self.value, kwargs.get("repository", self.repository), kwargs.get("tag", self.tag))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.repository}:{self.tag} {self.digest})"


class ManifestV22(Manifest):
    """A Docker schema2 image manifest; ``config`` is the parsed config blob when it was fetched."""

    valid_media_types = frozenset({mt.DOCKER_SCHEMA2})

    def __init__(
        self,
        value: ImageManifest,
        repository: str | None = None,
        tag: str | None = None,
        config: ImageConfig | None = None,
        manifest_list: ManifestListV22 | None = None,
    ) -> None:
        super().__init__(value, repository, tag)
        self.image = value
        self.config = config
        self.manifest_list = manifest_list

    def modify(self, **kwargs: Any) -> ManifestV22:
        unknown = set(kwargs) - {"repository", "tag"}
        if unknown:
            raise IllegalArgumentError(f"{type(self).__name__}.modify() does not know {sorted(unknown)}")
        return type(self)(self.image, kwargs.get("repository", self.repository), kwargs.get("tag", self.tag),
                          self.config, self.manifest_list)

    def _platform(self) -> Any:
        if self.manifest_list is not None:
            for child in self.manifest_list.value.manifests:  # type: ignore[attr-defined]
                if child.digest == self.digest:
                    return child.platform
        return None

    @property
    def config_digest(self) -> str | None:
        return self.image.config.digest if self.image.config else None

    @property
    def config_media_type(self) -> str | None:
        return self.image.config.media_type if self.image.config else None

    @property
    def config_size(self) -> int:
        return self.image.config.size if self.image.config else 0

    @property
    def layers(self) -> list[Descriptor]:
        return list(self.image.layers)

    @property
    def size(self) -> int:
        """Compressed bytes of the image: config + layers."""
        return self.image.size

    @property
    def created(self) -> str | None:
        created = self.config.created if self.config else None
        return _iso(created or parse_created(self.image.annotations.get("org.opencontainers.image.created")))

    @property
    def architecture(self) -> str | None:
        platform = self._platform()
        return (self.config.architecture if self.config else None) or (platform.architecture if platform else None)

    @property
    def os(self) -> str | None:
        platform = self._platform()
        return (self.config.os if self.config else None) or (platform.os if platform else None)

    @property
    def variant(self) -> str | None:
        platform = self._platform()
        return (self.config.variant if self.config else None) or (platform.variant if platform else None)

    @property
    def os_version(self) -> str | None:
        return self.config.os_version if self.config else None

    @property
    def os_features(self) -> list[str]:
        return list((self.config.raw.get("os.features") or []) if self.config else [])

    @property
    def features(self) -> list[str]:
        platform = self._platform()
        return list(getattr(platform, "features", None) or [])


class OCIManifest(ManifestV22):
    """An OCI image manifest, or an OCI artifact (``artifact_type``, ``subject``)."""

    valid_media_types = frozenset({mt.OCI_MANIFEST, mt.OCI_ARTIFACT_DRAFT})

    @property
    def artifact_type(self) -> str | None:
        return self.image.artifact_type

    @property
    def subject(self) -> Descriptor | None:
        return self.image.subject


class ManifestListV22(Manifest):
    """A Docker manifest list: ``manifests`` are the child descriptors with their platforms."""

    valid_media_types = frozenset({mt.DOCKER_LIST})

    @property
    def manifests(self) -> list[Descriptor]:
        assert isinstance(self.value, IndexManifest)
        return list(self.value.manifests)

    @property
    def platforms(self) -> list[str]:
        assert isinstance(self.value, IndexManifest)
        return [str(p) for p in self.value.platforms]


class OCIIndex(ManifestListV22):
    """An OCI image index."""

    valid_media_types = frozenset({mt.OCI_INDEX})


class ManifestV1Compat:
    """One ``v1Compatibility`` entry of a schema1 manifest's history (the seed's ManifestV1 fields)."""

    def __init__(self, entry: Mapping[str, Any]) -> None:
        self.entry = dict(entry)

    def __getattr__(self, name: str) -> Any:
        if name in ("architecture", "config", "container", "container_config", "docker_version", "id", "os", "parent"):
            return self.entry.get(name)
        raise AttributeError(name)

    @property
    def created(self) -> str | None:
        return _iso(parse_created(self.entry.get("created")))

    @property
    def size(self) -> int:
        return int(self.entry.get("Size") or self.entry.get("size") or 0)


class ManifestV21(Manifest):
    """A Docker schema1 manifest (``v1+json`` or signed ``v1+prettyjws``)."""

    valid_media_types = mt.SCHEMA1_TYPES

    @property
    def schema1(self) -> Schema1Manifest:
        assert isinstance(self.value, Schema1Manifest)
        return self.value

    @property
    def architecture(self) -> str:
        return self.schema1.architecture

    @property
    def created(self) -> str | None:
        return _iso(self.schema1.created)

    @property
    def history(self) -> list[ManifestV1Compat]:
        return [ManifestV1Compat(entry) for entry in self.schema1.history]

    @property
    def layers(self) -> list[str]:
        """Layer digests, base layer first (schema1 lists them newest first)."""
        return list(reversed(self.schema1.fs_layers))

    @property
    def signatures(self) -> list[Mapping[str, Any]]:
        return list(self.schema1.signatures)

    def verify(self) -> bool | None:
        """Verify the JWS signatures (None when unsigned) and the digest of the payload."""
        # Imported here: cryptography costs every start ~10 ms, and only schema1 needs it.
        from reginventory.client.jws import verify_schema1_signatures

        verified = verify_schema1_signatures(self.raw)
        actual = compute_like(self.digest, schema1_payload(self.raw))
        if actual != self.digest:
            raise DigestMismatchError(f"schema1 payload hashes to {actual}, not {self.digest}")
        return verified

    def modify(self, **kwargs: Any) -> ManifestV21:
        """Rename: rewrites ``name`` and ``tag`` and drops the signatures (re-sign to push signed)."""
        unknown = set(kwargs) - {"repository", "tag"}
        if unknown:
            raise IllegalArgumentError(f"ManifestV21.modify() does not know {sorted(unknown)}")
        body = json.loads(schema1_payload(self.raw))
        body.pop("signatures", None)
        body["name"] = kwargs.get("repository", self.repository or body.get("name"))
        body["tag"] = kwargs.get("tag", self.tag or body.get("tag"))
        raw = json.dumps(body, indent=3).encode()
        value = parse_manifest(raw, mt.DOCKER_SCHEMA1)
        return ManifestV21(value, body["name"], body["tag"])


def wrap_manifest(
    value: ManifestValue,
    repository: str | None = None,
    tag: str | None = None,
    config: ImageConfig | None = None,
    manifest_list: ManifestListV22 | None = None,
) -> Manifest:
    """The seed class for a manifest value, by media type."""
    if isinstance(value, Schema1Manifest):
        return ManifestV21(value, repository, tag)
    if isinstance(value, IndexManifest):
        cls = OCIIndex if value.media_type == mt.OCI_INDEX else ManifestListV22
        return cls(value, repository, tag)
    if isinstance(value, ImageManifest):
        image_cls = ManifestV22 if value.media_type == mt.DOCKER_SCHEMA2 else OCIManifest
        return image_cls(value, repository, tag, config, manifest_list)
    return Manifest(value, repository, tag)

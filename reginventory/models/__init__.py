"""The seed-compatible object API (``dockerreg.models``): Registry, Repository, Image, Manifests."""

from reginventory.models.manifests import (
    Manifest,
    ManifestListV22,
    ManifestV1Compat,
    ManifestV21,
    ManifestV22,
    OCIIndex,
    OCIManifest,
    wrap_manifest,
)
from reginventory.models.registry import Image, Registry, Repository, namespace_of

__all__ = [
    "Image", "Manifest", "ManifestListV22", "ManifestV1Compat", "ManifestV21", "ManifestV22",
    "OCIIndex", "OCIManifest", "Registry", "Repository", "namespace_of", "wrap_manifest",
]

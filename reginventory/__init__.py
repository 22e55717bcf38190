"""reginventory: inventory container registries, find what can go, and clean up safely.

The public names are importable from here (``from reginventory import Registry``); the test
``tests/test_public_api.py`` keeps this list from drifting.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from reginventory.client.credentials import Credentials
    from reginventory.client.image_info import ImageInfo, LayerInfo
    from reginventory.client.manifest import (
        Descriptor,
        ImageConfig,
        ImageManifest,
        IndexManifest,
        Schema1Manifest,
        parse_image_config,
        parse_manifest,
    )
    from reginventory.client.platform import Platform, getgoarch, getgoos, parse_platform
    from reginventory.client.reference import Reference, parse_reference
    from reginventory.client.registry_client import RegistryClient
    from reginventory.client.transport import RetryPolicy, TLSOptions
    from reginventory.errors import (
        ConfigError,
        DigestMismatchError,
        ForbiddenError,
        IllegalArgumentError,
        InsecureRequestError,
        InvalidReferenceError,
        ManifestError,
        NotFoundError,
        PlanError,
        PlatformNotFoundError,
        RateLimitedError,
        RegInventoryError,
        RegistryError,
        RegistryUnavailableError,
        SnapshotError,
        UnauthorizedError,
        UnsupportedError,
    )
    from reginventory.models import (
        Image,
        Manifest,
        ManifestListV22,
        ManifestV1Compat,
        ManifestV21,
        ManifestV22,
        OCIIndex,
        OCIManifest,
        Registry,
        Repository,
    )

#: Where each public name lives: imported on first use (PEP 562), so that a command that only
#: reads snapshots (query, report) does not load the HTTP client stack.
_EXPORTS: dict[str, str] = {
    "Credentials": "reginventory.client.credentials",
    "ImageInfo": "reginventory.client.image_info",
    "LayerInfo": "reginventory.client.image_info",
    "Descriptor": "reginventory.client.manifest",
    "ImageConfig": "reginventory.client.manifest",
    "ImageManifest": "reginventory.client.manifest",
    "IndexManifest": "reginventory.client.manifest",
    "Schema1Manifest": "reginventory.client.manifest",
    "parse_image_config": "reginventory.client.manifest",
    "parse_manifest": "reginventory.client.manifest",
    "Platform": "reginventory.client.platform",
    "getgoarch": "reginventory.client.platform",
    "getgoos": "reginventory.client.platform",
    "parse_platform": "reginventory.client.platform",
    "Reference": "reginventory.client.reference",
    "parse_reference": "reginventory.client.reference",
    "RegistryClient": "reginventory.client.registry_client",
    "RetryPolicy": "reginventory.client.transport",
    "TLSOptions": "reginventory.client.transport",
    "ConfigError": "reginventory.errors",
    "DigestMismatchError": "reginventory.errors",
    "ForbiddenError": "reginventory.errors",
    "IllegalArgumentError": "reginventory.errors",
    "InsecureRequestError": "reginventory.errors",
    "InvalidReferenceError": "reginventory.errors",
    "ManifestError": "reginventory.errors",
    "NotFoundError": "reginventory.errors",
    "PlanError": "reginventory.errors",
    "PlatformNotFoundError": "reginventory.errors",
    "RateLimitedError": "reginventory.errors",
    "RegInventoryError": "reginventory.errors",
    "RegistryError": "reginventory.errors",
    "RegistryUnavailableError": "reginventory.errors",
    "SnapshotError": "reginventory.errors",
    "UnauthorizedError": "reginventory.errors",
    "UnsupportedError": "reginventory.errors",
    "Image": "reginventory.models",
    "Manifest": "reginventory.models",
    "ManifestListV22": "reginventory.models",
    "ManifestV1Compat": "reginventory.models",
    "ManifestV21": "reginventory.models",
    "ManifestV22": "reginventory.models",
    "OCIIndex": "reginventory.models",
    "OCIManifest": "reginventory.models",
    "Registry": "reginventory.models",
    "Repository": "reginventory.models",
}


__all__ = [
    "ConfigError", "Credentials", "Descriptor", "DigestMismatchError", "ForbiddenError",
    "IllegalArgumentError", "Image", "ImageConfig", "ImageInfo", "ImageManifest", "IndexManifest",
    "InsecureRequestError", "InvalidReferenceError", "LayerInfo", "Manifest", "ManifestError",
    "ManifestListV22", "ManifestV1Compat", "ManifestV21", "ManifestV22", "NotFoundError",
    "OCIIndex", "OCIManifest", "PlanError", "Platform", "PlatformNotFoundError",
    "RateLimitedError", "Reference", "RegInventoryError", "Registry", "RegistryClient",
    "RegistryError", "RegistryUnavailableError", "Repository", "RetryPolicy", "Schema1Manifest",
    "SnapshotError", "TLSOptions", "UnauthorizedError", "UnsupportedError", "__version__",
    "getgoarch", "getgoos", "parse_image_config", "parse_manifest", "parse_platform",
    "parse_reference",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reginventory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

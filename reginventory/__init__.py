"""reginventory: inventory container registries, find what can go, and clean up safely.

The public names are importable from here (``from reginventory import Registry``); the test
``tests/test_public_api.py`` keeps this list from drifting.
"""

from __future__ import annotations

__version__ = "0.1.0"

from reginventory.client.credentials import Credentials  # noqa: E402
from reginventory.client.image_info import ImageInfo, LayerInfo  # noqa: E402
from reginventory.client.manifest import (  # noqa: E402
    Descriptor,
    ImageConfig,
    ImageManifest,
    IndexManifest,
    Schema1Manifest,
    parse_image_config,
    parse_manifest,
)
from reginventory.client.platform import Platform, getgoarch, getgoos, parse_platform  # noqa: E402
from reginventory.client.reference import Reference, parse_reference  # noqa: E402
from reginventory.client.registry_client import RegistryClient  # noqa: E402
from reginventory.client.transport import RetryPolicy, TLSOptions  # noqa: E402
from reginventory.errors import (  # noqa: E402
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
from reginventory.models import (  # noqa: E402
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

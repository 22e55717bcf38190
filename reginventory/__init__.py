"""reginventory: inventory container registries, find what can go, and clean up safely.

The public names are importable from here (``from reginventory import Registry``); the test
``tests/test_public_api.py`` keeps this list from drifting.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Where each public name lives: imported on first use (PEP 562), so that a command that only
#: reads snapshots (query, report) does not load the HTTP client stack. ``__all__`` is these names.
_MODULES: dict[str, tuple[str, ...]] = {
    "reginventory.client.credentials": ("Credentials",),
    "reginventory.client.image_info": ("ImageInfo", "LayerInfo"),
    "reginventory.client.manifest": (
        "Descriptor", "ImageConfig", "ImageManifest", "IndexManifest", "Schema1Manifest",
        "parse_image_config", "parse_manifest",
    ),
    "reginventory.client.platform": ("Platform", "getgoarch", "getgoos", "parse_platform"),
    "reginventory.client.reference": ("Reference", "parse_reference"),
    "reginventory.client.registry_client": ("RegistryClient",),
    "reginventory.client.transport": ("RetryPolicy", "TLSOptions"),
    "reginventory.errors": (
        "ConfigError", "DigestMismatchError", "ForbiddenError", "IllegalArgumentError",
        "InsecureRequestError", "InvalidReferenceError", "ManifestError", "NotFoundError",
        "PlanError", "PlatformNotFoundError", "RateLimitedError", "RegInventoryError",
        "RegistryError", "RegistryUnavailableError", "SnapshotError", "UnauthorizedError",
        "UnsupportedError",
    ),
    "reginventory.models": (
        "Image", "Manifest", "ManifestListV22", "ManifestV1Compat", "ManifestV21", "ManifestV22",
        "OCIIndex", "OCIManifest", "Registry", "Repository",
    ),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted([*_EXPORTS, "__version__"])


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

"""The package root exports the public API, and nothing drifts silently."""

from __future__ import annotations

import reginventory

EXPECTED = {
    "Registry", "Repository", "Image", "Manifest", "ManifestV21", "ManifestV22", "ManifestListV22",
    "ManifestV1Compat", "OCIManifest", "OCIIndex", "RegistryClient", "parse_reference", "Reference",
    "Platform", "parse_platform", "getgoarch", "getgoos", "TLSOptions", "RetryPolicy", "Credentials",
    "RegInventoryError", "RegistryError", "NotFoundError", "UnauthorizedError", "DigestMismatchError",
    "IllegalArgumentError", "PlatformNotFoundError", "RateLimitedError",
}


def test_public_names_are_exported() -> None:
    assert EXPECTED <= set(reginventory.__all__)
    for name in reginventory.__all__:
        assert hasattr(reginventory, name), name


def test_exception_tree_has_one_root() -> None:
    for name in reginventory.__all__:
        obj = getattr(reginventory, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, reginventory.RegInventoryError), name

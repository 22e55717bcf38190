"""Test harness for reginventory: real registries, a token issuer and deterministic images.

Modules: ``registry`` (``RegistryServer``), ``token_issuer`` (``TokenIssuer``),
``images`` (builders, OCI/dir layouts, pushers, ``sample_set``), ``pki`` (test
certificates), ``names`` (unique repository names), ``binaries`` (skip/fail policy).
"""

from __future__ import annotations

from .images import (
    BuiltIndex,
    BuiltManifest,
    ImageSpec,
    Layer,
    Platform,
    SampleSet,
    build_artifact,
    build_attestation,
    build_cosign_signature,
    build_image,
    build_index,
    build_referrers_index,
    cosign_tag,
    describe,
    inspect_raw,
    make_layer,
    push,
    push_with_http,
    push_with_skopeo,
    random_image,
    random_layer,
    sample_images,
    sample_set,
    tag_existing,
    write_dir_layout,
    write_oci_layout,
)
from .names import unique_repository
from .registry import RegistryServer, all_servers
from .token_issuer import TokenIssuer, TokenRequest

__all__ = [
    "BuiltIndex",
    "BuiltManifest",
    "ImageSpec",
    "Layer",
    "Platform",
    "RegistryServer",
    "SampleSet",
    "TokenIssuer",
    "TokenRequest",
    "all_servers",
    "build_artifact",
    "build_attestation",
    "build_cosign_signature",
    "build_image",
    "build_index",
    "build_referrers_index",
    "cosign_tag",
    "describe",
    "inspect_raw",
    "make_layer",
    "push",
    "push_with_http",
    "push_with_skopeo",
    "random_image",
    "random_layer",
    "sample_images",
    "sample_set",
    "tag_existing",
    "unique_repository",
    "write_dir_layout",
    "write_oci_layout",
]

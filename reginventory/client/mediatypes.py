"""Media types of manifests, configs and layers, and the Accept header built from them."""

from __future__ import annotations

DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
#: The draft artifact manifest, dropped before image-spec 1.1 but still served by a few registries.
OCI_ARTIFACT_DRAFT = "application/vnd.oci.artifact.manifest.v1+json"

SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
IMAGE_TYPES = frozenset({DOCKER_SCHEMA2, OCI_MANIFEST, OCI_ARTIFACT_DRAFT})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MANIFEST_TYPES = SCHEMA1_TYPES | IMAGE_TYPES | INDEX_TYPES

#: Every GET and HEAD sends all of these: with fewer, distribution converts or picks a child.
ACCEPT = ", ".join(
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_SCHEMA2, OCI_ARTIFACT_DRAFT, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1]
)

#: Artifact types that mark a referrer as a signature, an attestation or an SBOM.
SIGNATURE_ARTIFACT_TYPES = frozenset(
    {
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "application/vnd.cncf.notary.signature",
    }
)
ATTESTATION_ARTIFACT_TYPES = frozenset(
    {
        "application/vnd.in-toto+json",
        "application/vnd.dsse.envelope.v1+json",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    }
)
SBOM_ARTIFACT_TYPES = frozenset(
    {
        "application/spdx+json",
        "application/vnd.cyclonedx+json",
        "text/spdx",
        "application/vnd.syft+json",
    }
)


def normalize(content_type: str | None) -> str:
    """A Content-Type without parameters (``;charset=...``), as the spec tells clients to read it."""
    return (content_type or "").split(";", 1)[0].strip().lower()

"""The snapshot tables: one explicit pyarrow schema per table, the only place they are defined.

Conventions shared by every table and query:

- ``registry`` is the registry host as the user names it (``127.0.0.1:5000``, ``ghcr.io``);
  ``repository`` the repository path; ``tag`` the bare tag; ``digest`` a manifest digest
  (``sha256:<hex>``). Other digests say what they address (``config_digest``, ``layer_digest``,
  ``child_digest``, ``subject_digest``).
- Sizes are compressed bytes as the registry stores them, taken from descriptors.
  ``total_size`` of an image is ``config_size + layers_size`` (the crane convention); the
  manifest's own bytes are kept apart in ``manifest_size``. For an index, ``total_size`` is the
  sum of the distinct config and layer blobs of all its children.
- Timestamps are UTC with microsecond precision. ``created`` is null when unknown (absent, or the
  Unix epoch that reproducible builds write).
- Content tables (``layers``, ``index_children``) hold one row per manifest digest and registry;
  presence tables (``tags``, ``manifests``, ``referrers``) hold one row per repository that holds
  the content, because deletion and garbage collection work per repository revision.
- Every table carries ``registry`` and ``crawl_id``; on disk they are also the Hive partition
  folders ``<table>/registry=<quoted>/crawl_id=<id>/``.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
STRING_MAP = pa.map_(pa.string(), pa.string())

#: Manifest kinds, as the ``kind`` column spells them.
KIND_IMAGE = "image"
KIND_INDEX = "index"
KIND_ARTIFACT = "artifact"
KIND_SIGNATURE = "signature"
KIND_ATTESTATION = "attestation"
KIND_SBOM = "sbom"
KINDS = (KIND_IMAGE, KIND_INDEX, KIND_ARTIFACT, KIND_SIGNATURE, KIND_ATTESTATION, KIND_SBOM)

#: Crawl statuses: ``complete`` saw everything; ``partial`` recorded errors and skipped something.
STATUS_COMPLETE = "complete"
STATUS_PARTIAL = "partial"

CRAWLS = pa.schema(
    [
        pa.field("registry", pa.string(), nullable=False),
        pa.field("crawl_id", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),  # "i/n", "0/1" for an unsharded crawl
        pa.field("started", TIMESTAMP, nullable=False),
        pa.field("finished", TIMESTAMP, nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),  # "full" or "incremental"
        pa.field("repositories", pa.int64(), nullable=False),
        pa.field("tags", pa.int64(), nullable=False),
        pa.field("manifests", pa.int64(), nullable=False),
        pa.field("errors", pa.int64(), nullable=False),
        pa.field("requests", pa.int64(), nullable=False),
        pa.field("options", pa.string(), nullable=False),  # JSON of the crawl options, no secrets
        pa.field("tool_version", pa.string(), nullable=False),
    ]
)

TAGS = pa.schema(
    [
        pa.field("registry", pa.string(), nullable=False),
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),
        pa.field("media_type", pa.string(), nullable=False),
        pa.field("first_seen", TIMESTAMP, nullable=False),  # first crawl that saw tag -> digest
        pa.field("last_seen", TIMESTAMP, nullable=False),  # this crawl's start
        pa.field("crawl_id", pa.string(), nullable=False),
    ]
)

MANIFESTS = pa.schema(
    [
        pa.field("registry", pa.string(), nullable=False),
        pa.field("repository", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),
        pa.field("media_type", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("tagged", pa.bool_(), nullable=False),  # some tag of this repository points here
        pa.field("reached_by", pa.string(), nullable=False),  # tag | index | referrer | history
        pa.field("manifest_size", pa.int64(), nullable=False),  # bytes of the manifest itself
        pa.field("config_digest", pa.string()),
        pa.field("config_media_type", pa.string()),
        pa.field("config_size", pa.int64()),
        pa.field("layers_size", pa.int64()),  # sum of layer descriptor sizes
        pa.field("layer_count", pa.int32()),
        pa.field("total_size", pa.int64()),  # image: config + layers; index: distinct child blobs
        pa.field("created", TIMESTAMP),
        pa.field("os", pa.string()),
        pa.field("architecture", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("labels", STRING_MAP),
        pa.field("annotations", STRING_MAP),
        pa.field("artifact_type", pa.string()),
        pa.field("subject_digest", pa.string()),
        pa.field("first_seen", TIMESTAMP, nullable=False),
        pa.field("last_seen", TIMESTAMP, nullable=False),
        pa.field("crawl_id", pa.string(), nullable=False),
    ]
)

INDEX_CHILDREN = pa.schema(
    [
        pa.field("registry", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),  # the index
        pa.field("position", pa.int32(), nullable=False),
        pa.field("child_digest", pa.string(), nullable=False),
        pa.field("child_media_type", pa.string(), nullable=False),
        pa.field("child_size", pa.int64(), nullable=False),  # bytes of the child manifest
        pa.field("platform", pa.string()),  # os/arch[/variant]; null for attestations
        pa.field("os", pa.string()),
        pa.field("architecture", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("kind", pa.string(), nullable=False),  # image | attestation | index | artifact
        pa.field("annotations", STRING_MAP),
        pa.field("crawl_id", pa.string(), nullable=False),
    ]
)

LAYERS = pa.schema(
    [
        pa.field("registry", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),  # the manifest
        pa.field("position", pa.int32(), nullable=False),
        pa.field("layer_digest", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("media_type", pa.string(), nullable=False),
        pa.field("foreign", pa.bool_(), nullable=False),  # has urls: not stored by the registry
        pa.field("crawl_id", pa.string(), nullable=False),
    ]
)

REFERRERS = pa.schema(
    [
        pa.field("registry", pa.string(), nullable=False),
        pa.field("repository", pa.string(), nullable=False),
        pa.field("subject_digest", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),  # the referrer manifest
        pa.field("kind", pa.string(), nullable=False),  # signature | attestation | sbom | artifact
        pa.field("artifact_type", pa.string()),
        pa.field("source", pa.string(), nullable=False),  # api | subject | tag
        pa.field("tag", pa.string()),  # cosign-style tag (sha256-<hex>.sig), when source = tag
        pa.field("crawl_id", pa.string(), nullable=False),
    ]
)

ERRORS = pa.schema(
    [
        pa.field("registry", pa.string(), nullable=False),
        pa.field("repository", pa.string()),
        pa.field("reference", pa.string()),
        pa.field("stage", pa.string(), nullable=False),  # catalog | tags | manifest | config | ...
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("status", pa.int32()),  # HTTP status when there was one
        pa.field("message", pa.string(), nullable=False),
        pa.field("crawl_id", pa.string(), nullable=False),
    ]
)

#: Every table of a snapshot, by name. The crawls table is written last: it commits a crawl.
TABLES: dict[str, pa.Schema] = {
    "crawls": CRAWLS,
    "tags": TAGS,
    "manifests": MANIFESTS,
    "index_children": INDEX_CHILDREN,
    "layers": LAYERS,
    "referrers": REFERRERS,
    "errors": ERRORS,
}

#: The columns that name a partition folder, in folder order.
PARTITION_COLUMNS = ("registry", "crawl_id")

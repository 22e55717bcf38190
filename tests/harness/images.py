"""Deterministic test images built from Python and pushed to a test registry.

Everything here is byte-for-byte reproducible: tar entries are sorted with a fixed
mtime and owner, gzip headers carry mtime 0, JSON is serialised compactly in a fixed
key order. The same files therefore always give the same blob digest, so base
layers shared between images (and repositories) really are shared blobs.

Two push paths exist:

* ``push_with_skopeo`` runs ``skopeo copy --preserve-digests`` (``--all`` for lists).
  OCI images, indexes and artifacts go through an OCI image layout (``oci-layout``,
  ``index.json``, ``blobs/sha256/...``). Docker schema2 images and Docker manifest
  lists go through a containers ``dir:`` layout, because skopeo's ``oci:`` transport
  ignores index.json entries with Docker media types; ``dir:`` keeps the bytes, and
  ``--all`` keeps a Docker manifest list a list (without it skopeo silently pushes
  one converted child).
* ``push_with_http`` is a small HTTP pusher (HEAD, monolithic POST+PUT upload,
  manifest PUT) for what skopeo 1.9 refuses to copy unchanged: an index whose
  children are artifacts (the OCI referrers fallback index). ``tag_existing`` also
  uses it to add tags to a pushed manifest.

``push`` picks the right one and returns the digest computed from the bytes built
here, cross-checked with ``skopeo inspect --raw``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import tarfile
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, Sequence, Union

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SBOM_ARTIFACT_TYPE = "application/spdx+json"

#: Send all four on every manifest GET/HEAD (distribution down-converts otherwise).
MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})

EMPTY_JSON = b"{}"
#: Fixed mtime of every tar entry (2000-01-01T00:00:00Z).
LAYER_MTIME = 946_684_800
SKOPEO = "/usr/bin/skopeo"

FileContent = Union[bytes, str]
Files = Mapping[str, FileContent]


def sha256_digest(data: bytes) -> str:
    """Return ``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Serialise JSON compactly, keeping insertion order (stable for our builders)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Blob:
    """Content-addressed bytes with a media type."""

    media_type: str
    data: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        """Return an OCI/Docker descriptor for this blob (extra keys appended)."""
        desc: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        desc.update({k: v for k, v in extra.items() if v is not None})
        return desc


EMPTY_BLOB = Blob(OCI_EMPTY, EMPTY_JSON)


@dataclass(frozen=True)
class Platform:
    """An OCI platform; ``str()`` gives ``os/arch[/variant]``."""

    os: str
    architecture: str
    variant: str | None = None

    def as_dict(self) -> dict[str, str]:
        d = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            d["variant"] = self.variant
        return d

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]``."""
        parts = text.split("/")
        return cls(parts[0], parts[1], parts[2] if len(parts) > 2 else None)


UNKNOWN_PLATFORM = Platform("unknown", "unknown")


def tar_bytes(files: Files) -> bytes:
    """Build a deterministic uncompressed tar: sorted paths, parent dirs, fixed metadata."""
    entries: dict[str, bytes | None] = {}
    for raw_name, content in files.items():
        name = raw_name.strip("/")
        parts = name.split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]) + "/", None)
        entries[name] = content.encode() if isinstance(content, str) else bytes(content)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            data = entries[name]
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = LAYER_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o755 if name.startswith(("bin/", "usr/bin/")) else 0o644
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with mtime 0 and no file name, so the output depends only on ``data``."""
    return gzip.compress(data, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class Layer:
    """A compressed layer blob plus its diff_id (sha256 of the uncompressed tar)."""

    blob: Blob
    diff_id: str

    @property
    def digest(self) -> str:
        return self.blob.digest

    @property
    def size(self) -> int:
        return self.blob.size


def make_layer(files: Files, *, media_type: str = OCI_LAYER_GZIP) -> Layer:
    """Build a deterministic gzip tar layer from ``{path: content}``."""
    tar = tar_bytes(files)
    return Layer(Blob(media_type, gzip_bytes(tar)), sha256_digest(tar))


def random_layer(size: int, seed: int = 0, *, media_type: str = OCI_LAYER_GZIP) -> Layer:
    """A layer holding ``size`` seeded random bytes (incompressible: blob is ~size)."""
    data = random.Random(seed).randbytes(size)
    return make_layer({f"data/random-{seed}.bin": data}, media_type=media_type)


def _with_media_type(layer: Layer, media_type: str) -> Layer:
    return layer if layer.blob.media_type == media_type else Layer(Blob(media_type, layer.blob.data), layer.diff_id)


@dataclass(frozen=True)
class ImageSpec:
    """What to build: layers (file maps or prebuilt ``Layer``), config fields, format.

    ``created=None`` omits the field from the config; ``docker=True`` builds a
    Docker schema2 image instead of an OCI one (the layer bytes stay identical).
    """

    layers: Sequence[Files | Layer]
    created: str | None = "2024-01-01T00:00:00Z"
    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    history: Sequence[Mapping[str, Any]] | None = None
    cmd: Sequence[str] = ("/bin/sh",)
    docker: bool = False

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant)


@dataclass(frozen=True)
class BuiltManifest:
    """A single manifest (image, attestation, artifact) with every blob it references.

    ``kind`` is ``image``, ``attestation``, ``signature`` or ``artifact``.
    ``index_annotations`` are put on this manifest's descriptor inside an index.
    """

    manifest: Blob
    config: Blob
    layers: tuple[Layer, ...]
    kind: str = "image"
    platform: Platform | None = None
    created: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    index_annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject: str | None = None

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def media_type(self) -> str:
        return self.manifest.media_type

    @property
    def size(self) -> int:
        """Size of the manifest JSON itself."""
        return self.manifest.size

    @property
    def config_digest(self) -> str:
        return self.config.digest

    @property
    def config_size(self) -> int:
        return self.config.size

    @property
    def layer_digests(self) -> tuple[str, ...]:
        return tuple(layer.digest for layer in self.layers)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return tuple(layer.size for layer in self.layers)

    @property
    def image_size(self) -> int:
        """Config + compressed layers (the crane recipe; excludes the manifest)."""
        return self.config.size + sum(self.layer_sizes)

    @property
    def platforms(self) -> tuple[str, ...]:
        return (str(self.platform),) if self.platform and self.kind == "image" else ()

    @property
    def children(self) -> tuple[BuiltManifest, ...]:
        return ()

    def blobs(self) -> list[Blob]:
        """Config and layer blobs (not the manifest)."""
        return [self.config, *(layer.blob for layer in self.layers)]

    def manifests(self) -> list[Blob]:
        """Manifest blobs in push order (just this one)."""
        return [self.manifest]

    def all_digests(self) -> set[str]:
        """Every digest stored for this manifest: itself, config, layers."""
        return {self.digest, *(b.digest for b in self.blobs())}

    def descriptor(self, *, in_index: bool = False) -> dict[str, Any]:
        """Descriptor of this manifest; with platform and annotations inside an index."""
        extra: dict[str, Any] = {}
        if self.artifact_type:
            extra["artifactType"] = self.artifact_type
        if in_index and self.platform:
            extra["platform"] = self.platform.as_dict()
        if in_index and self.index_annotations:
            extra["annotations"] = dict(self.index_annotations)
        return self.manifest.descriptor(**extra)


@dataclass(frozen=True)
class BuiltIndex:
    """An OCI index or Docker manifest list and its child manifests."""

    manifest: Blob
    children: tuple[BuiltManifest, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    kind: str = "index"
    artifact_type: str | None = None
    subject: str | None = None

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def media_type(self) -> str:
        return self.manifest.media_type

    @property
    def size(self) -> int:
        return self.manifest.size

    @property
    def platforms(self) -> tuple[str, ...]:
        """Platforms of the image children (attestations excluded)."""
        return tuple(str(c.platform) for c in self.children if c.kind == "image" and c.platform)

    @property
    def created(self) -> str | None:
        return self.annotations.get("org.opencontainers.image.created")

    @property
    def labels(self) -> Mapping[str, str]:
        return {}

    def child(self, platform: str) -> BuiltManifest:
        """The child for ``os/arch[/variant]`` (or ``unknown/unknown`` attestation)."""
        for c in self.children:
            if str(c.platform) == platform:
                return c
        raise KeyError(platform)

    def blobs(self) -> list[Blob]:
        """Unique config/layer blobs of all children."""
        seen: dict[str, Blob] = {}
        for c in self.children:
            for b in c.blobs():
                seen.setdefault(b.digest, b)
        return list(seen.values())

    def manifests(self) -> list[Blob]:
        """Manifest blobs in push order: children first, then the index."""
        return [*(c.manifest for c in self.children), self.manifest]

    def all_digests(self) -> set[str]:
        out = {self.digest}
        for c in self.children:
            out |= c.all_digests()
        return out

    def descriptor(self, *, in_index: bool = False) -> dict[str, Any]:
        return self.manifest.descriptor()


Built = Union[BuiltManifest, BuiltIndex]


def _config_json(spec: ImageSpec, diff_ids: Sequence[str]) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    if spec.created is not None:
        cfg["created"] = spec.created
    cfg["architecture"] = spec.architecture
    cfg["os"] = spec.os
    if spec.variant:
        cfg["variant"] = spec.variant
    inner: dict[str, Any] = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": list(spec.cmd),
    }
    if spec.labels:
        inner["Labels"] = dict(spec.labels)
    cfg["config"] = inner
    cfg["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    if spec.history is not None:
        cfg["history"] = [dict(h) for h in spec.history]
    else:
        hist: list[dict[str, Any]] = []
        for i in range(len(diff_ids)):
            h: dict[str, Any] = {"created_by": f"/bin/sh -c #(nop) harness layer {i}"}
            if spec.created is not None:
                h = {"created": spec.created, **h}
            hist.append(h)
        if spec.labels:
            h = {"created_by": "LABEL " + " ".join(sorted(spec.labels)), "empty_layer": True}
            if spec.created is not None:
                h = {"created": spec.created, **h}
            hist.append(h)
        cfg["history"] = hist
    return cfg


def build_image(spec: ImageSpec) -> BuiltManifest:
    """Build one image manifest (OCI, or Docker schema2 when ``spec.docker``)."""
    layer_type = DOCKER_LAYER_GZIP if spec.docker else OCI_LAYER_GZIP
    layers = tuple(
        _with_media_type(l, layer_type) if isinstance(l, Layer) else make_layer(l, media_type=layer_type)
        for l in spec.layers
    )
    config = Blob(DOCKER_CONFIG if spec.docker else OCI_CONFIG, canonical_json(_config_json(spec, [l.diff_id for l in layers])))
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if spec.docker else OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [l.blob.descriptor() for l in layers],
    }
    if spec.annotations:
        if spec.docker:
            raise ValueError("Docker schema2 manifests have no annotations")
        body["annotations"] = dict(spec.annotations)
    return BuiltManifest(
        manifest=Blob(body["mediaType"], canonical_json(body)),
        config=config,
        layers=layers,
        kind="image",
        platform=spec.platform,
        created=spec.created,
        labels=dict(spec.labels),
        annotations=dict(spec.annotations),
    )


def build_index(
    children: Sequence[BuiltManifest],
    *,
    docker: bool = False,
    annotations: Mapping[str, str] | None = None,
) -> BuiltIndex:
    """Build an OCI index (or a Docker manifest list) over ``children``."""
    if docker and annotations:
        raise ValueError("Docker manifest lists have no annotations")
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [c.descriptor(in_index=True) for c in children],
    }
    if annotations:
        body["annotations"] = dict(annotations)
    return BuiltIndex(Blob(body["mediaType"], canonical_json(body)), tuple(children), dict(annotations or {}))


def build_attestation(subject: BuiltManifest, *, created: str = "2024-01-01T00:00:00Z") -> BuiltManifest:
    """A BuildKit-style attestation manifest (in-toto SPDX layer) for an index.

    Its index descriptor gets platform ``unknown/unknown`` and the annotations
    ``vnd.docker.reference.type=attestation-manifest`` and
    ``vnd.docker.reference.digest=<subject>``.
    """
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://spdx.dev/Document",
        "subject": [{"name": "pkg:docker/harness", "digest": {"sha256": subject.digest.split(":", 1)[1]}}],
        "predicate": {"spdxVersion": "SPDX-2.3", "name": "harness", "creationInfo": {"created": created}},
    }
    raw = canonical_json(statement)
    layer = Layer(Blob(IN_TOTO, raw), sha256_digest(raw))
    cfg = {
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    config = Blob(OCI_CONFIG, canonical_json(cfg))
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.blob.descriptor(annotations={"in-toto.io/predicate-type": "https://spdx.dev/Document"})],
    }
    return BuiltManifest(
        manifest=Blob(OCI_MANIFEST, canonical_json(body)),
        config=config,
        layers=(layer,),
        kind="attestation",
        platform=UNKNOWN_PLATFORM,
        created=None,
        index_annotations={
            "vnd.docker.reference.digest": subject.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        },
    )


def build_artifact(
    subject: Built,
    *,
    artifact_type: str = SBOM_ARTIFACT_TYPE,
    payload: bytes = b'{"spdxVersion":"SPDX-2.3","name":"harness-sbom"}',
    payload_media_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> BuiltManifest:
    """An OCI 1.1 artifact manifest: empty config, one payload layer, ``subject``."""
    layer = Layer(Blob(payload_media_type or artifact_type, payload), sha256_digest(payload))
    ann = dict(annotations or {"org.opencontainers.image.created": "2024-02-16T00:00:00Z"})
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY_BLOB.descriptor(),
        "layers": [layer.blob.descriptor()],
        "subject": subject.manifest.descriptor(),
        "annotations": ann,
    }
    return BuiltManifest(
        manifest=Blob(OCI_MANIFEST, canonical_json(body)),
        config=EMPTY_BLOB,
        layers=(layer,),
        kind="artifact",
        created=ann.get("org.opencontainers.image.created"),
        annotations=ann,
        index_annotations=ann,
        artifact_type=artifact_type,
        subject=subject.digest,
    )


def build_referrers_index(referrers: Sequence[BuiltManifest]) -> BuiltIndex:
    """The OCI 1.1 referrers fallback index (pushed at tag ``sha256-<hex>``)."""
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [r.descriptor(in_index=True) for r in referrers],
    }
    return BuiltIndex(Blob(OCI_INDEX, canonical_json(body)), tuple(referrers), kind="referrers")


def build_cosign_signature(subject: Built, *, repository: str = "harness") -> BuiltManifest:
    """A cosign-style signature image (no ``subject``; found via tag ``sha256-<hex>.sig``)."""
    payload = canonical_json(
        {
            "critical": {
                "identity": {"docker-reference": repository},
                "image": {"docker-manifest-digest": subject.digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    )
    layer = Layer(Blob(COSIGN_SIMPLESIGNING, payload), sha256_digest(payload))
    cfg = {
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    config = Blob(OCI_CONFIG, canonical_json(cfg))
    fake_sig = base64.b64encode(hashlib.sha256(payload).digest()).decode()
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.blob.descriptor(annotations={"dev.cosignproject.cosign/signature": fake_sig})],
    }
    return BuiltManifest(
        manifest=Blob(OCI_MANIFEST, canonical_json(body)),
        config=config,
        layers=(layer,),
        kind="signature",
        subject=None,
    )


def cosign_tag(digest: str, suffix: str = ".sig") -> str:
    """``sha256:<hex>`` → ``sha256-<hex>.sig`` (cosign convention; suffix ``""`` = OCI fallback tag)."""
    return digest.replace(":", "-") + suffix


def random_image(
    size: int,
    seed: int = 0,
    *,
    layers: int = 1,
    created: str = "2024-01-01T00:00:00Z",
    docker: bool = False,
) -> BuiltManifest:
    """An image whose ``layers`` layers hold ``size`` seeded random bytes in total (benchmarks)."""
    per = max(1, size // layers)
    return build_image(
        ImageSpec(
            layers=[random_layer(per, seed * 1000 + i) for i in range(layers)],
            created=created,
            labels={"harness.seed": str(seed)},
            docker=docker,
        )
    )


# --------------------------------------------------------------------------- layouts


def iter_blobs(item: Built) -> Iterator[Blob]:
    """Every blob of ``item`` including manifests (duplicates possible)."""
    yield from item.blobs()
    yield from item.manifests()


def write_oci_layout(path: Path, refs: Mapping[str, Built]) -> Path:
    """Write an OCI image layout at ``path`` with one ``ref.name`` per entry of ``refs``."""
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    manifests = []
    for ref, item in refs.items():
        for blob in iter_blobs(item):
            target = blob_dir / blob.digest.split(":", 1)[1]
            if not target.exists():
                target.write_bytes(blob.data)
        desc = item.manifest.descriptor(annotations={"org.opencontainers.image.ref.name": ref})
        manifests.append(desc)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    (path / "index.json").write_bytes(canonical_json(index))
    return path


# --------------------------------------------------------------------------- pushing


class RegistryLike(Protocol):
    """What the pushers need from a registry (``RegistryServer`` satisfies it)."""

    @property
    def host(self) -> str: ...

    @property
    def url(self) -> str: ...

    def skopeo_args(self, direction: str) -> list[str]: ...

    def http_client(self, **kwargs: Any) -> httpx.Client: ...


class SkopeoError(RuntimeError):
    """A skopeo command failed; the message carries its stderr."""


def run_skopeo(args: Sequence[str], *, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run skopeo with a private, empty auth file; raise ``SkopeoError`` on failure."""
    with tempfile.TemporaryDirectory(prefix="harness-skopeo-") as tmp:
        auth = Path(tmp) / "auth.json"
        auth.write_text('{"auths":{}}')
        env = {**os.environ, "REGISTRY_AUTH_FILE": str(auth)}
        proc = subprocess.run([SKOPEO, *args], capture_output=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise SkopeoError(f"skopeo {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc


def inspect_raw(registry: RegistryLike, reference: str) -> bytes:
    """``skopeo inspect --raw docker://HOST/<reference>`` (reference = ``repo:tag`` or ``repo@digest``)."""
    return run_skopeo(["inspect", "--raw", *registry.skopeo_args(""), f"docker://{registry.host}/{reference}"]).stdout


def _reference(repository: str, tag: str | None, digest: str) -> str:
    return f"{repository}:{tag}" if tag else f"{repository}@{digest}"


def needs_http_push(item: Built) -> bool:
    """True when skopeo 1.9 cannot push ``item`` unchanged (see module docstring).

    That is an index whose children are not all images/attestations (a referrers
    index): skopeo wants to rewrite it and refuses under ``--preserve-digests``.
    """
    return isinstance(item, BuiltIndex) and any(c.kind not in ("image", "attestation") for c in item.children)


def write_dir_layout(path: Path, item: Built) -> Path:
    """Write a containers ``dir:`` layout (used for Docker schema2 images and lists).

    skopeo's ``oci:`` transport ignores index.json entries with Docker media types,
    while ``dir:`` keeps the manifest bytes: ``manifest.json``, blobs named by hex,
    list children as ``<hex>.manifest.json``.
    """
    path.mkdir(parents=True, exist_ok=True)
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    (path / "manifest.json").write_bytes(item.manifest.data)
    for blob in item.blobs():
        (path / blob.digest.split(":", 1)[1]).write_bytes(blob.data)
    for child in item.children:
        (path / f"{child.digest.split(':', 1)[1]}.manifest.json").write_bytes(child.manifest.data)
    return path


def push_with_skopeo(
    registry: RegistryLike,
    item: Built,
    repository: str,
    tag: str | None = None,
    *,
    workdir: Path | None = None,
) -> str:
    """``skopeo copy --preserve-digests [--all]`` ``item`` to ``repository:tag`` (or ``@digest``).

    OCI content goes through an ``oci:`` layout, Docker content through ``dir:``.
    """
    dest = f"docker://{registry.host}/{_reference(repository, tag, item.digest)}"
    with tempfile.TemporaryDirectory(prefix="harness-layout-", dir=workdir) as tmp:
        if item.media_type in (DOCKER_MANIFEST, DOCKER_LIST):
            src = f"dir:{write_dir_layout(Path(tmp) / 'dir', item)}"
        else:
            src = f"oci:{write_oci_layout(Path(tmp) / 'oci', {'img': item})}:img"
        args = ["copy", "--quiet", "--preserve-digests", *registry.skopeo_args("dest")]
        if isinstance(item, BuiltIndex):
            # Without --all skopeo silently pushes one converted child instead of the list.
            args.append("--all")
        run_skopeo([*args, src, dest])
    return item.digest


def push_with_http(
    registry: RegistryLike,
    item: Built,
    repository: str,
    tag: str | None = None,
    *,
    client: httpx.Client | None = None,
) -> str:
    """Push blobs then manifests (children first) over HTTP; returns the pushed digest.

    Uses monolithic uploads (POST then PUT ``?digest=``), skipping blobs the
    repository already has (HEAD). With ``tag=None`` the manifest is pushed by digest.
    """
    own = client is None
    c = client or registry.http_client(scopes=[f"repository:{repository}:pull,push"])
    try:
        seen: set[str] = set()
        for blob in item.blobs():
            if blob.digest in seen:
                continue
            seen.add(blob.digest)
            push_blob(c, repository, blob)
        children = item.children if isinstance(item, BuiltIndex) else ()
        for child in children:
            put_manifest(c, repository, child.digest, child.manifest)
        put_manifest(c, repository, tag or item.digest, item.manifest)
    finally:
        if own:
            c.close()
    return item.digest


def push_blob(client: httpx.Client, repository: str, blob: Blob) -> None:
    """Upload one blob unless the repository already links it."""
    head = client.head(f"/v2/{repository}/blobs/{blob.digest}")
    if head.status_code == 200:
        return
    start = client.post(f"/v2/{repository}/blobs/uploads/")
    if start.status_code != 202:
        raise RuntimeError(f"blob upload start failed: {start.status_code} {start.text}")
    location = start.headers["Location"]
    sep = "&" if "?" in location else "?"
    put = client.put(
        f"{location}{sep}digest={blob.digest}",
        content=blob.data,
        headers={"Content-Type": "application/octet-stream"},
    )
    if put.status_code != 201:
        raise RuntimeError(f"blob upload of {blob.digest} failed: {put.status_code} {put.text}")


def put_manifest(client: httpx.Client, repository: str, reference: str, manifest: Blob) -> None:
    """PUT a manifest at a tag or digest and check the returned digest."""
    resp = client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=manifest.data,
        headers={"Content-Type": manifest.media_type},
    )
    if resp.status_code != 201:
        raise RuntimeError(f"manifest PUT {repository}:{reference} failed: {resp.status_code} {resp.text}")
    got = resp.headers.get("Docker-Content-Digest")
    if got and got != manifest.digest:
        raise RuntimeError(f"registry computed {got}, expected {manifest.digest}")


def push(
    registry: RegistryLike,
    item: Built,
    repository: str,
    tag: str | None = None,
    *,
    verify: bool = True,
    method: str | None = None,
) -> str:
    """Push ``item`` to ``repository`` at ``tag`` (or by digest when ``tag`` is None).

    ``method`` forces ``"skopeo"`` or ``"http"``; by default skopeo is used where it
    keeps the bytes unchanged. With ``verify``, ``skopeo inspect --raw`` must return
    exactly the bytes built here. Returns the digest.
    """
    use_http = method == "http" or (method is None and needs_http_push(item))
    if use_http:
        digest = push_with_http(registry, item, repository, tag)
    else:
        digest = push_with_skopeo(registry, item, repository, tag)
    if verify:
        raw = inspect_raw(registry, _reference(repository, tag, digest))
        if raw != item.manifest.data:
            raise AssertionError(
                f"{repository}:{tag or digest}: registry returned {sha256_digest(raw)}, harness built {digest}"
            )
    return digest


def tag_existing(registry: RegistryLike, repository: str, tag: str, item: Built) -> str:
    """Add ``tag`` to an already pushed manifest (PUT of the same bytes over HTTP)."""
    with registry.http_client(scopes=[f"repository:{repository}:pull,push"]) as c:
        put_manifest(c, repository, tag, item.manifest)
    return item.digest


# --------------------------------------------------------------------------- sample set


BASE_FILES: dict[str, FileContent] = {
    "etc/os-release": 'NAME="Harness Linux"\nID=harness\nVERSION_ID=3.19.0\n',
    "bin/sh": "#!harness-shell\n",
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
}
XSS_LABEL = "<script>alert(1)</script>"


def describe(item: Built) -> dict[str, Any]:
    """Plain-dict description of a built manifest or index (JSON-serialisable)."""
    d: dict[str, Any] = {
        "digest": item.digest,
        "media_type": item.media_type,
        "size": item.size,
        "kind": item.kind,
        "platforms": list(item.platforms),
        "created": item.created,
        "labels": dict(item.labels),
        "artifact_type": item.artifact_type,
        "subject": item.subject,
    }
    if isinstance(item, BuiltManifest):
        d["platform"] = str(item.platform) if item.platform else None
        d["config"] = {"digest": item.config_digest, "size": item.config_size, "media_type": item.config.media_type}
        d["layers"] = [{"digest": l.digest, "size": l.size, "media_type": l.blob.media_type} for l in item.layers]
        d["annotations"] = dict(item.annotations)
    else:
        d["annotations"] = dict(item.annotations)
        d["children"] = [{**describe(c), "index_annotations": dict(c.index_annotations)} for c in item.children]
    return d


@dataclass(frozen=True)
class PushedTag:
    """One tag in a repository and what it points at."""

    repository: str
    tag: str
    item: Built

    @property
    def digest(self) -> str:
        return self.item.digest

    @property
    def media_type(self) -> str:
        return self.item.media_type


@dataclass
class SampleSet:
    """Exactly what ``sample_set`` pushed, for comparisons against reginventory output.

    ``tags[repo][tag]`` is the ``BuiltManifest``/``BuiltIndex`` at that tag (digest,
    media_type, size, platforms, layers, config_digest/config_size, created, labels,
    children); ``untagged[repo]`` lists manifests pushed by digest only; ``roles``
    names notable items (``alpine``, ``app_v1``, ``app_v11``, ``app_rc``, ``multi``,
    ``docker_image``, ``docker_list``, ``sbom``, ``signature``, ``referrers``, ``hello``,
    ``api``).
    """

    host: str
    tags: dict[str, dict[str, Built]] = field(default_factory=dict)
    untagged: dict[str, list[Built]] = field(default_factory=dict)
    roles: dict[str, Built] = field(default_factory=dict)
    role_repos: dict[str, str] = field(default_factory=dict)

    @property
    def repositories(self) -> list[str]:
        """Sorted repository names."""
        return sorted(set(self.tags) | set(self.untagged))

    def tag_names(self, repository: str) -> list[str]:
        return sorted(self.tags.get(repository, {}))

    def get(self, repository: str, tag: str) -> Built:
        return self.tags[repository][tag]

    def pushed_tags(self) -> list[PushedTag]:
        """All (repository, tag, item) triples, sorted."""
        return [PushedTag(r, t, self.tags[r][t]) for r in sorted(self.tags) for t in sorted(self.tags[r])]

    def tags_for_digest(self, repository: str, digest: str) -> list[str]:
        return sorted(t for t, item in self.tags.get(repository, {}).items() if item.digest == digest)

    def repository_of(self, role: str) -> str:
        return self.role_repos[role]

    def manifest_digests(self, repository: str) -> set[str]:
        """Every manifest digest stored in ``repository`` (tagged, untagged, index children)."""
        out: set[str] = set()
        for item in [*self.tags.get(repository, {}).values(), *self.untagged.get(repository, [])]:
            out.add(item.digest)
            out.update(c.digest for c in item.children)
        return out

    def blob_digests(self, repository: str | None = None) -> set[str]:
        """Config and layer digests referenced in one repository (or all)."""
        repos = [repository] if repository else self.repositories
        out: set[str] = set()
        for r in repos:
            for item in [*self.tags.get(r, {}).values(), *self.untagged.get(r, [])]:
                out.update(b.digest for b in item.blobs())
        return out

    def as_dict(self) -> dict[str, Any]:
        """``{"host", "tags": {repo: {tag: describe(item)}}, "untagged": {repo: [...]}}``."""
        return {
            "host": self.host,
            "tags": {r: {t: describe(i) for t, i in sorted(ts.items())} for r, ts in sorted(self.tags.items())},
            "untagged": {r: [describe(i) for i in items] for r, items in sorted(self.untagged.items())},
        }

    def _add(self, repository: str, tag: str | None, item: Built, role: str | None = None) -> None:
        if tag is None:
            self.untagged.setdefault(repository, []).append(item)
        else:
            self.tags.setdefault(repository, {})[tag] = item
        if role:
            self.roles[role] = item
            self.role_repos[role] = repository


def sample_images() -> dict[str, Built]:
    """Build (not push) the sample images by role; deterministic."""
    base = make_layer(BASE_FILES)
    alpine = build_image(
        ImageSpec(
            layers=[base],
            created="2023-12-07T11:13:43Z",
            labels={"org.opencontainers.image.title": "harness-alpine", "org.opencontainers.image.version": "3.19.0"},
        )
    )
    app_layer = {"app/main.py": "print('hello v1')\n"}
    app_v1 = build_image(
        ImageSpec(
            layers=[base, app_layer],
            created="2024-01-10T08:00:00Z",
            labels={"org.opencontainers.image.version": "1.0.0", "maintainer": "team-a@example.com"},
        )
    )
    app_v11 = build_image(
        ImageSpec(
            layers=[base, {"app/main.py": "print('hello v1.1')\n"}],
            created="2024-02-15T09:30:00Z",
            labels={"org.opencontainers.image.version": "1.1.0", "maintainer": "team-a@example.com"},
        )
    )
    app_rc = build_image(
        ImageSpec(
            layers=[base, {"app/main.py": "print('hello v2')\n"}, {"app/extra.txt": "rc\n"}],
            created="2024-03-01T12:00:00Z",
            labels={
                "org.opencontainers.image.version": "2.0.0-rc1",
                "org.opencontainers.image.description": XSS_LABEL,
            },
        )
    )
    amd64 = build_image(
        ImageSpec(
            layers=[{"bin/tool": "tool-amd64\n"}],
            created="2024-02-01T00:00:00Z",
            labels={"org.opencontainers.image.source": "https://example.com/multi"},
        )
    )
    arm64 = build_image(
        ImageSpec(
            layers=[{"bin/tool": "tool-arm64\n"}],
            created="2024-02-01T00:00:00Z",
            architecture="arm64",
            variant="v8",
            labels={"org.opencontainers.image.source": "https://example.com/multi"},
        )
    )
    multi = build_index(
        [amd64, arm64, build_attestation(amd64), build_attestation(arm64)],
        annotations={
            "org.opencontainers.image.created": "2024-02-01T00:00:00Z",
            "org.opencontainers.image.source": "https://example.com/multi",
        },
    )
    docker_image = build_image(
        ImageSpec(
            layers=[base, {"srv/api": "api v1\n"}],
            created="2023-06-01T10:00:00Z",
            labels={"com.example.team": "team-b"},
            docker=True,
        )
    )
    d_amd64 = build_image(
        ImageSpec(layers=[base, {"srv/api": "api amd64\n"}], created="2023-07-01T10:00:00Z", docker=True)
    )
    d_armv7 = build_image(
        ImageSpec(
            layers=[{"srv/api": "api armv7\n"}],
            created="2023-07-01T10:00:00Z",
            architecture="arm",
            variant="v7",
            docker=True,
        )
    )
    docker_list = build_index([d_amd64, d_armv7], docker=True)
    sbom = build_artifact(app_v11)
    signature = build_cosign_signature(app_v11, repository="team-a/app")
    referrers = build_referrers_index([sbom])
    hello = build_image(ImageSpec(layers=[{"hello": "hello world\n"}], created=None))
    api = build_image(
        ImageSpec(
            layers=[base, {"srv/api.py": "print('api')\n"}],
            created="2024-01-20T00:00:00Z",
            labels={"com.example.team": "team-b"},
        )
    )
    return {
        "alpine": alpine,
        "app_v1": app_v1,
        "app_v11": app_v11,
        "app_rc": app_rc,
        "multi": multi,
        "docker_image": docker_image,
        "docker_list": docker_list,
        "sbom": sbom,
        "signature": signature,
        "referrers": referrers,
        "hello": hello,
        "api": api,
    }


def sample_set(registry: RegistryLike, *, verify: bool = True) -> SampleSet:
    """Push the standard sample set into ``registry`` and describe it.

    Repositories and tags:

    * ``library/alpine``: ``3.19`` and ``latest`` (same OCI image; base layer shared below)
    * ``team-a/app``: ``1.0.0``; ``1.1.0``/``latest``/``stable`` (one digest);
      ``2.0.0-rc1`` (label with ``<script>``); ``sha256-<1.1.0 hex>.sig`` (cosign-style
      signature); ``sha256-<1.1.0 hex>`` (OCI referrers fallback index); an SBOM
      artifact with ``subject`` = 1.1.0 pushed by digest only (in ``untagged``)
    * ``team-a/multi``: ``1.0``/``latest`` OCI index (linux/amd64, linux/arm64/v8,
      two attestation manifests ``unknown/unknown``)
    * ``team-b/api``: ``1.0`` OCI image on the shared base
    * ``team-b/legacy``: ``v1`` Docker schema2 image; ``multi`` Docker manifest list
      (linux/amd64, linux/arm/v7)
    * ``hello``: ``latest`` (single-component name, config without ``created``)
    """
    imgs = sample_images()
    s = SampleSet(host=registry.host)
    lock = threading.Lock()

    def put(repo: str, tags: Sequence[str | None], role: str) -> None:
        item = imgs[role]
        first, *rest = tags
        push(registry, item, repo, first, verify=verify)
        for extra in rest:
            assert extra is not None
            tag_existing(registry, repo, extra, item)
        with lock:
            for t in tags:
                s._add(repo, t, item, role)

    app_digest = imgs["app_v11"].digest
    # One job per repository (order matters only within a repository).
    jobs: list[list[tuple[str, Sequence[str | None], str]]] = [
        [("library/alpine", ["3.19", "latest"], "alpine")],
        [
            ("team-a/app", ["1.0.0"], "app_v1"),
            ("team-a/app", ["1.1.0", "latest", "stable"], "app_v11"),
            ("team-a/app", ["2.0.0-rc1"], "app_rc"),
            ("team-a/app", [None], "sbom"),
            ("team-a/app", [cosign_tag(app_digest)], "signature"),
            ("team-a/app", [cosign_tag(app_digest, "")], "referrers"),
        ],
        [("team-a/multi", ["1.0", "latest"], "multi")],
        [("team-b/api", ["1.0"], "api")],
        [("team-b/legacy", ["v1"], "docker_image"), ("team-b/legacy", ["multi"], "docker_list")],
        [("hello", ["latest"], "hello")],
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for fut in [pool.submit(lambda js=job: [put(*j) for j in js]) for job in jobs]:
            fut.result()
    return s

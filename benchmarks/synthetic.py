"""Synthetic snapshots, written through the real SnapshotStore and CrawlWriter (real schemas).

Two tools:

- :class:`RegistryModel`: a small registry held in memory (blobs, images, indexes, referrers,
  repositories, tags) that you push to, tag, untag and delete from, and "crawl" into a snapshot
  the way an ideal crawler would see it. Tests build hand-made content with it and know every
  expected row.
- :func:`generate`: a large, seeded, realistic registry (shared base layers, multi-arch indexes
  with attestations, cosign signatures and SBOM referrers, foreign layers, untagged manifests,
  deletions between crawls) written column-wise, for the benchmark: 1M tags in about a minute.

Run ``python benchmarks/synthetic.py OUT --tags 100000 --repos 1000`` to write one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import posixpath
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from reginventory.inventory import schema  # noqa: E402
from reginventory.inventory.store import CrawlWriter, SnapshotStore, shard_label  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
COSIGN_PAYLOAD = "application/vnd.dev.cosign.simplesigning.v1+json"
SPDX = "application/spdx+json"
REFERRER_KINDS = (schema.KIND_SIGNATURE, schema.KIND_ATTESTATION, schema.KIND_SBOM)
DEFAULT_REGISTRY = "registry.test:5000"
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def digest_of(name: str) -> str:
    """A stable sha256 digest for a name."""
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def cosign_tag(digest: str) -> str:
    """The tag cosign gives the signature of a digest."""
    return digest.replace(":", "-") + ".sig"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str = OCI_LAYER
    foreign: bool = False


@dataclass(frozen=True)
class Child:
    digest: str
    media_type: str
    size: int
    kind: str
    platform: tuple[str, str, str | None] | None


@dataclass
class Manifest:
    """A manifest as content: what the registry stores under its digest."""

    digest: str
    media_type: str
    kind: str
    manifest_size: int
    config: Blob | None = None
    layers: list[Blob] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    created: dt.datetime | None = None
    platform: tuple[str, str, str | None] | None = None
    subject: str | None = None
    artifact_type: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    def blobs(self) -> list[Blob]:
        return ([self.config] if self.config else []) + list(self.layers)


class RegistryModel:
    """An in-memory registry that crawls into snapshots exactly as an ideal crawler would."""

    def __init__(self, registry: str = DEFAULT_REGISTRY) -> None:
        self.registry = registry
        self.content: dict[str, Manifest] = {}
        self.revisions: dict[str, set[str]] = {}  # repository -> present manifest digests
        self.tags: dict[str, dict[str, str]] = {}  # repository -> tag -> digest
        self._first_tag: dict[tuple[str, str, str], dt.datetime] = {}
        self._first_manifest: dict[tuple[str, str], dt.datetime] = {}

    # content -----------------------------------------------------------------------------
    def blob(self, name: str, size: int, media_type: str = OCI_LAYER, foreign: bool = False) -> Blob:
        return Blob(digest_of(name), size, media_type, foreign)

    def image(
        self,
        name: str,
        layers: Iterable[Blob],
        *,
        config_size: int = 100,
        created: dt.datetime | None = None,
        platform: tuple[str, str, str | None] = ("linux", "amd64", None),
        manifest_size: int = 500,
        kind: str = schema.KIND_IMAGE,
        subject: Manifest | None = None,
        artifact_type: str | None = None,
        config_media_type: str = OCI_CONFIG,
    ) -> Manifest:
        manifest = Manifest(
            digest=digest_of(f"manifest:{name}"),
            media_type=OCI_MANIFEST,
            kind=kind,
            manifest_size=manifest_size,
            config=Blob(digest_of(f"config:{name}"), config_size, config_media_type),
            layers=list(layers),
            created=created,
            platform=platform if kind == schema.KIND_IMAGE else None,
            subject=subject.digest if subject else None,
            artifact_type=artifact_type,
        )
        self.content[manifest.digest] = manifest
        return manifest

    def index(
        self,
        name: str,
        children: Iterable[Manifest],
        *,
        attestations: Iterable[Manifest] = (),
        manifest_size: int = 800,
    ) -> Manifest:
        entries = [
            Child(c.digest, c.media_type, c.manifest_size, c.kind, c.platform) for c in children
        ]
        entries += [
            Child(a.digest, a.media_type, a.manifest_size, schema.KIND_ATTESTATION, None)
            for a in attestations
        ]
        manifest = Manifest(
            digest=digest_of(f"index:{name}"),
            media_type=OCI_INDEX,
            kind=schema.KIND_INDEX,
            manifest_size=manifest_size,
            children=entries,
        )
        self.content[manifest.digest] = manifest
        return manifest

    def attestation(self, name: str, size: int = 1000) -> Manifest:
        """A buildkit provenance attestation manifest (an index child without platform)."""
        return self.image(
            name, [self.blob(f"intoto:{name}", size, IN_TOTO)], kind=schema.KIND_ATTESTATION,
            config_size=2, manifest_size=300,
        )

    def referrer(
        self, name: str, subject: Manifest, kind: str = schema.KIND_SIGNATURE, size: int = 250
    ) -> Manifest:
        media = {schema.KIND_SIGNATURE: COSIGN_PAYLOAD, schema.KIND_SBOM: SPDX}.get(kind, IN_TOTO)
        return self.image(
            name, [self.blob(f"payload:{name}", size, media)], kind=kind, subject=subject,
            artifact_type=media if kind != schema.KIND_SIGNATURE else None, config_size=2,
            manifest_size=400,
        )

    # registry operations ---------------------------------------------------------------------
    def push(self, repository: str, manifest: Manifest, *tags: str) -> Manifest:
        """Push a manifest (an index with its children) and tag it."""
        present = self.revisions.setdefault(repository, set())
        self.tags.setdefault(repository, {})
        for child in manifest.children:
            self.push(repository, self.content[child.digest])
        present.add(manifest.digest)
        for tag in tags:
            self.tags[repository][tag] = manifest.digest
        return manifest

    def sign(self, repository: str, subject: Manifest, name: str) -> Manifest:
        """A cosign signature: pushed and tagged ``sha256-<hex>.sig``."""
        signature = self.referrer(name, subject, schema.KIND_SIGNATURE)
        return self.push(repository, signature, cosign_tag(subject.digest))

    def untag(self, repository: str, tag: str) -> None:
        del self.tags[repository][tag]

    def delete(self, repository: str, manifest: Manifest) -> None:
        """Delete a revision by digest: its tags go with it, its children and referrers stay."""
        self.revisions[repository].discard(manifest.digest)
        self.tags[repository] = {t: d for t, d in self.tags[repository].items() if d != manifest.digest}

    # crawling -------------------------------------------------------------------------------
    def total_size(self, manifest: Manifest) -> int:
        if manifest.kind != schema.KIND_INDEX:
            return sum(b.size for b in manifest.blobs())
        unique = {b.digest: b.size for c in manifest.children for b in self.content[c.digest].blobs()}
        return sum(unique.values())

    def crawl(self, root: str | Path, crawl_id: str, started: dt.datetime) -> None:
        """Write what an ideal crawler sees now as a committed crawl."""
        writer = SnapshotStore(str(root)).writer(self.registry, crawl_id)
        rows = self.rows(started)
        for table, table_rows in rows.items():
            writer.add(table, table_rows)
        writer.commit(
            {
                "started": started,
                "finished": started + dt.timedelta(minutes=1),
                "status": schema.STATUS_COMPLETE,
                "mode": "full",
                "repositories": len([r for r in self.revisions if self.revisions[r]]),
                "tags": len(rows["tags"]),
                "manifests": len(rows["manifests"]),
                "errors": 0,
                "requests": 0,
                "options": "{}",
                "tool_version": "synthetic",
            }
        )

    def rows(self, started: dt.datetime) -> dict[str, list[dict[str, Any]]]:
        tags: list[dict[str, Any]] = []
        manifests: list[dict[str, Any]] = []
        referrers: list[dict[str, Any]] = []
        seen: set[str] = set()
        for repository in sorted(self.revisions):
            present = self.revisions[repository]
            repo_tags = self.tags.get(repository, {})
            tagged = set(repo_tags.values())
            children = {c.digest for d in present for c in self.content[d].children}
            for tag, digest in sorted(repo_tags.items()):
                if self.content[digest].subject and tag == cosign_tag(self.content[digest].subject):
                    continue  # like the crawler: cosign tags are filed under referrers
                key = (repository, tag, digest)
                first = self._first_tag.setdefault(key, started)
                tags.append(
                    {"repository": repository, "tag": tag, "digest": digest,
                     "media_type": self.content[digest].media_type, "first_seen": first,
                     "last_seen": started}
                )
            for digest in sorted(present):
                m = self.content[digest]
                seen.add(digest)
                reached = (
                    "referrer" if m.subject else "tag" if digest in tagged
                    else "index" if digest in children else "history"
                )
                first = self._first_manifest.setdefault((repository, digest), started)
                os_, arch, variant = m.platform or (None, None, None)
                manifests.append(
                    {"repository": repository, "digest": digest, "media_type": m.media_type,
                     "kind": m.kind, "tagged": digest in tagged, "reached_by": reached,
                     "manifest_size": m.manifest_size,
                     "config_digest": m.config.digest if m.config else None,
                     "config_media_type": m.config.media_type if m.config else None,
                     "config_size": m.config.size if m.config else None,
                     "layers_size": sum(b.size for b in m.layers) if m.kind != schema.KIND_INDEX else None,
                     "layer_count": len(m.layers) if m.kind != schema.KIND_INDEX else None,
                     "total_size": self.total_size(m), "created": m.created,
                     "os": os_, "architecture": arch, "variant": variant,
                     "labels": m.labels, "annotations": m.annotations,
                     "artifact_type": m.artifact_type, "subject_digest": m.subject,
                     "first_seen": first, "last_seen": started}
                )
                if m.subject:
                    sig_tag = cosign_tag(m.subject)
                    has_tag = repo_tags.get(sig_tag) == digest
                    referrers.append(
                        {"repository": repository, "subject_digest": m.subject, "digest": digest,
                         "kind": m.kind, "artifact_type": m.artifact_type,
                         "source": "tag" if has_tag else "api", "tag": sig_tag if has_tag else None}
                    )
        layers: list[dict[str, Any]] = []
        index_children: list[dict[str, Any]] = []
        for digest in sorted(seen):
            m = self.content[digest]
            for position, blob in enumerate(m.layers):
                layers.append(
                    {"digest": digest, "position": position, "layer_digest": blob.digest,
                     "size": blob.size, "media_type": blob.media_type, "foreign": blob.foreign}
                )
            for position, child in enumerate(m.children):
                os_, arch, variant = child.platform or ("unknown", "unknown", None)
                platform = None
                if child.platform:
                    platform = "/".join(p for p in child.platform if p)
                index_children.append(
                    {"digest": digest, "position": position, "child_digest": child.digest,
                     "child_media_type": child.media_type, "child_size": child.size,
                     "platform": platform, "os": os_, "architecture": arch, "variant": variant,
                     "kind": child.kind, "annotations": None}
                )
        return {"tags": tags, "manifests": manifests, "referrers": referrers, "layers": layers,
                "index_children": index_children}


# --------------------------------------------------------------------------------------------
# Large synthetic registries, column-wise
# --------------------------------------------------------------------------------------------

MB = 1_000_000
ARCHES = (("linux", "amd64", None), ("linux", "arm64", "v8"))
NEVER = 1 << 30  # a "gone" crawl index for rows that stay to the end


@dataclass(frozen=True)
class Shape:
    """How the synthetic registry looks; the defaults give realistic sharing of layers."""

    tags: int = 10_000
    repos: int = 100
    crawls: int = 3
    seed: int = 0
    registry: str = DEFAULT_REGISTRY
    bases: int = 40  # base images (os roots and runtimes), each in its own repository
    multiarch: float = 0.10  # repositories whose builds are indexes (amd64 + arm64)
    attested: float = 0.5  # of the multi-arch repositories: buildkit attestation children
    signed: float = 0.20  # repositories whose builds are signed with cosign (a tag per signature)
    sbom: float = 0.05  # repositories whose builds carry an SBOM referrer (no tag)
    windows: float = 0.01  # repositories on a base with a foreign layer
    aliases: float = 0.10  # tags that point at the same build as the tag before them
    deps_every: int = 8  # builds that share one dependency layer
    deleted: float = 0.02  # builds deleted (by digest) before each crawl after the first
    untagged: float = 0.005  # tags removed before each crawl after the first, manifest kept
    history_days: int = 730  # builds spread over this many days before the last crawl
    crawl_days: int = 7  # days between crawls
    start: dt.datetime = EPOCH


@dataclass
class _Columns:
    """Rows of one table, column-wise, with the crawl span [born, gone) of each row."""

    names: tuple[str, ...]
    data: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = {n: [] for n in (*self.names, "born", "gone")}

    def add(self, born: int, gone: int, **values: Any) -> None:
        for name in self.names:
            self.data[name].append(values.get(name))
        self.data["born"].append(born)
        self.data["gone"].append(gone)

    def extend(self, born: int, gone: int, count: int, **columns: Any) -> None:
        """Add ``count`` rows; a list value is one column, anything else repeats."""
        for name in self.names:
            value = columns.get(name)
            self.data[name].extend(value if isinstance(value, list) else [value] * count)
        self.data["born"].extend([born] * count)
        self.data["gone"].extend([gone] * count)

    def table(self) -> pa.Table:
        return pa.table({n: pa.array(v) for n, v in self.data.items()})


class _Generator:
    def __init__(self, shape: Shape) -> None:
        self.s = shape
        self.rng = random.Random(shape.seed)
        # base repositories are a quarter of the repositories at most
        self.nbases = max(1, min(shape.bases, shape.repos // 4))
        self.starts = [shape.start + dt.timedelta(days=shape.crawl_days * c) for c in range(shape.crawls)]
        self.tags = _Columns(("repository", "tag", "digest", "media_type", "first"))
        self.manifests = _Columns((
            "repository", "digest", "media_type", "kind", "tag_born", "tag_gone", "reached",
            "manifest_size", "config_digest", "config_media_type", "config_size", "layers_size",
            "layer_count", "total_size", "created", "os", "architecture", "variant",
            "artifact_type", "subject_digest",
        ))
        self.layers = _Columns(("digest", "position", "layer_digest", "size", "media_type", "foreign"))
        self.children = _Columns((
            "digest", "position", "child_digest", "child_media_type", "child_size", "platform",
            "os", "architecture", "variant", "kind",
        ))
        self.referrers = _Columns(("repository", "subject_digest", "digest", "kind", "artifact_type", "source", "tag"))
        # `latest` moves: per repository, the builds in order with their spans.
        self.builds: dict[str, list[tuple[int, int, str, str]]] = {}
        self.context: dict[str, tuple[Any, ...]] = {}  # per repository: what its builds share

    def digest(self) -> str:
        return "sha256:%064x" % self.rng.getrandbits(256)

    def size(self, low: float, high: float) -> int:
        """A compressed size, log-uniform between low and high bytes."""
        return int(low * (high / low) ** self.rng.random())

    def crawl_of(self, created: dt.datetime) -> int:
        """The first crawl that can see something created at this time."""
        for c, start in enumerate(self.starts):
            if created <= start:
                return c
        return len(self.starts) - 1

    # content ---------------------------------------------------------------------------
    def make_bases(self) -> list[dict[str, Any]]:
        """Base images: os roots of 1-2 layers, runtimes on top of them, per architecture."""
        roots = max(1, self.nbases // 4)
        bases: list[dict[str, Any]] = []
        for k in range(self.nbases):
            chain: dict[str, list[tuple[str, int, str, bool]]] = {}
            for arch in ARCHES:
                if k < roots:
                    layers = [(self.digest(), self.size(2 * MB, 30 * MB), OCI_LAYER, False)
                              for _ in range(self.rng.randint(1, 2))]
                else:
                    parent = bases[self.rng.randrange(roots)]["chain"][arch[1]]
                    layers = parent + [(self.digest(), self.size(5 * MB, 80 * MB), OCI_LAYER, False)
                                       for _ in range(self.rng.randint(1, 3))]
                chain[arch[1]] = layers
            bases.append({"chain": chain, "windows": False})
        windows = [(self.digest(), 1_500 * MB, DOCKER_FOREIGN, True), (self.digest(), 60 * MB, OCI_LAYER, False)]
        bases.append({"chain": {a[1]: windows for a in ARCHES}, "windows": True})
        return bases

    def add_image(self, repository: str, born: int, gone: int, tag_span: tuple[int, int],
                  layers: list[tuple[str, int, str, bool]], created: dt.datetime,
                  platform: tuple[str, str, str | None] | None, kind: str = schema.KIND_IMAGE,
                  reached: str = "tag", subject: str | None = None,
                  artifact_type: str | None = None) -> tuple[str, int, int]:
        digest = self.digest()
        config_size = self.size(1_000, 20_000) if kind == schema.KIND_IMAGE else 2
        manifest_size = 400 + 100 * len(layers)
        layers_size = sum(l[1] for l in layers)
        os_, arch, variant = platform or (None, None, None)
        self.manifests.add(
            born, gone, repository=repository, digest=digest, media_type=OCI_MANIFEST, kind=kind,
            tag_born=tag_span[0], tag_gone=tag_span[1], reached=reached,
            manifest_size=manifest_size, config_digest=self.digest(),
            config_media_type=OCI_CONFIG if kind == schema.KIND_IMAGE else OCI_EMPTY,
            config_size=config_size, layers_size=layers_size, layer_count=len(layers),
            total_size=config_size + layers_size, created=created if kind == schema.KIND_IMAGE else None,
            os=os_, architecture=arch, variant=variant, artifact_type=artifact_type,
            subject_digest=subject,
        )
        n = len(layers)
        self.layers.extend(
            born, gone, n, digest=digest, position=list(range(n)),
            layer_digest=[l[0] for l in layers], size=[l[1] for l in layers],
            media_type=[l[2] for l in layers], foreign=[l[3] for l in layers],
        )
        return digest, manifest_size, config_size + layers_size

    def add_build(self, repo: str, base: dict[str, Any], deps: dict[str, tuple[str, int, str, bool]],
                  multiarch: bool, attested: bool, created: dt.datetime, born: int, gone: int,
                  tag_gone: int, orphan_children: bool, exact: bool = False) -> tuple[str, str]:
        """One build: an image, or an index of per-architecture images (and attestations).

        ``exact`` builds a base image itself: its layers are the base chain and nothing more.
        """

        def layers_of(arch: str) -> list[tuple[str, int, str, bool]]:
            if exact:
                return list(base["chain"][arch])
            app = (self.digest(), self.size(200_000, 20 * MB), OCI_LAYER, False)
            return base["chain"][arch] + [deps[arch], app]

        if not multiarch:
            layers = layers_of("amd64")
            digest, _, _ = self.add_image(repo, born, gone, (born, tag_gone), layers, created, ARCHES[0])
            return digest, OCI_MANIFEST
        index = self.digest()
        child_gone = NEVER if orphan_children else gone
        entries = []
        blobs: dict[str, int] = {}
        for arch in ARCHES:
            layers = layers_of(arch[1])
            child, msize, _ = self.add_image(repo, born, child_gone, (NEVER, NEVER), layers,
                                             created, arch, reached="index")
            entries.append((child, msize, "/".join(p for p in arch if p), arch, schema.KIND_IMAGE))
            blobs.update({l[0]: l[1] for l in layers})
        if attested:
            for arch in ARCHES:
                layers = [(self.digest(), self.size(1_000, 20_000), IN_TOTO, False)]
                child, msize, _ = self.add_image(repo, born, child_gone, (NEVER, NEVER), layers,
                                                 created, None, kind=schema.KIND_ATTESTATION, reached="index")
                entries.append((child, msize, None, ("unknown", "unknown", None), schema.KIND_ATTESTATION))
                blobs.update({l[0]: l[1] for l in layers})
        # A config is unique per child: count them into the index's size too.
        child_configs = sum(self.manifests.data["config_size"][-len(entries):])
        manifest_size = 300 + 200 * len(entries)
        self.manifests.add(
            born, gone, repository=repo, digest=index, media_type=OCI_INDEX, kind=schema.KIND_INDEX,
            tag_born=born, tag_gone=tag_gone, reached="tag", manifest_size=manifest_size,
            total_size=sum(blobs.values()) + child_configs, created=None,
        )
        for position, (child, msize, platform, arch, kind) in enumerate(entries):
            self.children.add(
                born, gone, digest=index, position=position, child_digest=child,
                child_media_type=OCI_MANIFEST, child_size=msize, platform=platform, os=arch[0],
                architecture=arch[1], variant=arch[2], kind=kind,
            )
        return index, OCI_INDEX

    def run(self) -> None:
        s = self.s
        bases = self.make_bases()
        weights = [self.rng.lognormvariate(0, 1) for _ in range(s.repos)]
        total = sum(weights)
        counts = [max(1, int(s.tags * w / total)) for w in weights]
        for i in range(s.tags - sum(counts)):
            counts[i % s.repos] += 1
        end = self.starts[-1]
        for r in range(s.repos):
            n = max(1, counts[r])
            is_base = r < self.nbases
            repo = f"library/base-{r}" if is_base else f"team-{r % 97}/app-{r}"
            base = bases[r] if is_base else (
                bases[-1] if self.rng.random() < s.windows else bases[self.rng.randrange(self.nbases)])
            multiarch = not base["windows"] and self.rng.random() < s.multiarch
            attested = multiarch and self.rng.random() < s.attested
            signed = self.rng.random() < s.signed
            sbom = self.rng.random() < s.sbom
            span = dt.timedelta(days=s.history_days) / n
            deps: dict[str, tuple[str, int, str, bool]] = {}
            builds: list[tuple[int, int, str, str]] = []
            previous: tuple[str, str, int, int] | None = None
            for j in range(n - 1 if n > 1 else n):  # the last tag of each repository is `latest`
                created = end - span * (n - 1 - j) - dt.timedelta(seconds=self.rng.randrange(3600))
                born = self.crawl_of(created)
                if previous is not None and self.rng.random() < s.aliases:
                    digest, media, p_born, p_gone = previous
                    self.tags.add(max(born, p_born), p_gone, repository=repo, tag=f"{j}.0",
                                  digest=digest, media_type=media)
                    continue
                if j % s.deps_every == 0 or not deps:
                    deps = {a[1]: (self.digest(), self.size(1 * MB, 50 * MB), OCI_LAYER, False) for a in ARCHES}
                gone = tag_gone = NEVER
                orphan = False
                for c in range(max(born, 1), s.crawls):
                    roll = self.rng.random()
                    if roll < s.deleted * (c - born + 1) / 4:
                        gone = tag_gone = c
                        orphan = self.rng.random() < 0.5
                        break
                    if roll < s.deleted * (c - born + 1) / 4 + s.untagged:
                        tag_gone = c
                        break
                digest, media = self.add_build(repo, base, deps, multiarch, attested, created,
                                               born, gone, tag_gone, orphan, exact=is_base)
                self.tags.add(born, tag_gone, repository=repo, tag=f"{j}.0", digest=digest, media_type=media)
                builds.append((born, gone, digest, media))
                previous = (digest, media, born, tag_gone)
                if signed and self.rng.random() < 0.3:
                    dangling = self.rng.random() < 0.5
                    sig_gone = NEVER if dangling else gone
                    payload = [(self.digest(), self.size(200, 400), COSIGN_PAYLOAD, False)]
                    sig, _, _ = self.add_image(repo, born, sig_gone, (born, sig_gone), payload, created,
                                               None, kind=schema.KIND_SIGNATURE, reached="referrer",
                                               subject=digest)
                    tag = cosign_tag(digest)  # not a row of tags: the crawler files it here
                    self.referrers.add(born, sig_gone, repository=repo, subject_digest=digest, digest=sig,
                                       kind=schema.KIND_SIGNATURE, source="tag", tag=tag)
                if sbom:
                    payload = [(self.digest(), self.size(20_000, 2 * MB), SPDX, False)]
                    ref, _, _ = self.add_image(repo, born, gone, (NEVER, NEVER), payload, created, None,
                                               kind=schema.KIND_SBOM, reached="referrer", subject=digest,
                                               artifact_type=SPDX)
                    self.referrers.add(born, gone, repository=repo, subject_digest=digest, digest=ref,
                                       kind=schema.KIND_SBOM, artifact_type=SPDX, source="api")
            self.builds[repo] = builds
            self.context[repo] = (base, deps, multiarch, attested)
        self.top_up()

    def top_up(self) -> None:
        """New builds in the last crawl until it holds ``tags`` tags (deletions took some)."""
        last = self.s.crawls - 1
        tags = self.tags.data
        present = sum(1 for b, g in zip(tags["born"], tags["gone"]) if b <= last < g)
        present += sum(1 for builds in self.builds.values() if any(b <= last < g for b, g, _, _ in builds))
        repos = list(self.context)
        for i in range(max(0, self.s.tags - present)):
            repo = repos[self.rng.randrange(len(repos))]
            base, deps, multiarch, attested = self.context[repo]
            created = self.starts[-1] - dt.timedelta(seconds=self.rng.randrange(1, 7 * 86400))
            digest, media = self.add_build(repo, base, deps, multiarch, attested, created,
                                           last, NEVER, NEVER, False)
            self.tags.add(last, NEVER, repository=repo, tag=f"new-{i}", digest=digest, media_type=media)
            self.builds[repo].append((last, NEVER, digest, media))

    # writing -----------------------------------------------------------------------------
    def latest_tags(self, crawl: int) -> pa.Table:
        """`latest` of each repository: its newest build present in this crawl."""
        rows: dict[str, list[Any]] = {n: [] for n in ("repository", "digest", "media_type", "first_seen")}
        for repo, builds in self.builds.items():
            present = [b for b in builds if b[0] <= crawl < b[1]]
            if not present:
                continue
            born, _, digest, media = present[-1]
            # latest moved to this build when the build appeared or the newer one went away
            moved = max(born, max((b[1] for b in builds if b[1] <= crawl and b[0] < b[1]), default=0))
            rows["repository"].append(repo)
            rows["digest"].append(digest)
            rows["media_type"].append(media)
            rows["first_seen"].append(self.starts[min(moved, crawl)])
        n = len(rows["repository"])
        return pa.table({
            "repository": pa.array(rows["repository"], pa.string()),
            "tag": pa.array(["latest"] * n, pa.string()),
            "digest": pa.array(rows["digest"], pa.string()),
            "media_type": pa.array(rows["media_type"], pa.string()),
            "first_seen": pa.array(rows["first_seen"], schema.TIMESTAMP),
            "last_seen": pa.array([self.starts[crawl]] * n, schema.TIMESTAMP),
        })

    def write(self, root: str | Path) -> dict[str, Any]:
        store = SnapshotStore(str(root))
        tables = {
            "tags": self.tags.table(),
            "manifests": self.manifests.table(),
            "layers": self.layers.table(),
            "index_children": self.children.table(),
            "referrers": self.referrers.table(),
        }
        latest_targets: dict[int, set[str]] = {}
        summary: dict[str, Any] = {"crawls": []}
        for c, started in enumerate(self.starts):
            crawl_id = started.strftime("%Y%m%dT%H%M%SZ")
            writer = _ArrowWriter(store.fs, store.base, self.s.registry, crawl_id)
            counts: dict[str, int] = {}
            latest = self.latest_tags(c)
            latest_targets[c] = set(latest.column("digest").to_pylist())
            for name, table in tables.items():
                mask = pc.and_(pc.less_equal(table["born"], c), pc.greater(table["gone"], c))
                rows = table.filter(mask)
                rows = self.finish(name, rows, c, latest_targets[c])
                if name == "tags":
                    rows = pa.concat_tables([rows, latest.cast(rows.schema)])
                writer.add_table(name, rows)
                counts[name] = rows.num_rows
            writer.commit({
                "started": started, "finished": started + dt.timedelta(minutes=30),
                "status": schema.STATUS_COMPLETE, "mode": "full",
                "repositories": len(self.builds), "tags": counts["tags"],
                "manifests": counts["manifests"], "errors": 0, "requests": 0,
                "options": json.dumps({"synthetic": True, "seed": self.s.seed}),
                "tool_version": "synthetic",
            })
            summary["crawls"].append({"crawl_id": crawl_id, **counts})
        return summary

    def finish(self, name: str, rows: pa.Table, crawl: int, latest: set[str]) -> pa.Table:
        """Crawl-dependent columns: seen times, tagged, reached_by."""
        starts = pa.array(self.starts, schema.TIMESTAMP)
        n = rows.num_rows
        seen = pa.array([self.starts[crawl]] * n, schema.TIMESTAMP)
        if name == "tags":
            first = pc.take(starts, rows["born"])
            rows = rows.drop_columns(["first"]).append_column("first_seen", first)
            rows = rows.append_column("last_seen", seen)
        elif name == "manifests":
            tagged = pc.or_(
                pc.and_(pc.less_equal(rows["tag_born"], crawl), pc.greater(rows["tag_gone"], crawl)),
                pc.is_in(rows["digest"], pa.array(sorted(latest), pa.string())),
            )
            reached = pc.if_else(
                tagged, "tag",
                pc.if_else(pc.equal(rows["reached"], "tag"), "history", rows["reached"]),
            )
            rows = rows.drop_columns(["tag_born", "tag_gone", "reached"])
            rows = rows.append_column("tagged", tagged).append_column("reached_by", reached)
            rows = rows.append_column("first_seen", pc.take(starts, rows["born"]))
            rows = rows.append_column("last_seen", seen)
        return rows.drop_columns(["born", "gone"])


class _ArrowWriter(CrawlWriter):
    """A CrawlWriter that takes whole Arrow tables: same staging, part files and commit."""

    def add_table(self, table: str, data: pa.Table) -> None:
        from reginventory.inventory.store import FLUSH_ROWS

        target = pa.schema([f for f in schema.TABLES[table] if f.name not in schema.PARTITION_COLUMNS])
        for name in target.names:
            if name not in data.column_names:
                data = data.append_column(name, pa.nulls(data.num_rows, target.field(name).type))
        data = data.select(target.names).cast(target)
        folder = posixpath.join(self.staging_dir, table)
        self.fs.create_dir(folder, recursive=True)
        for offset in range(0, data.num_rows, FLUSH_ROWS):
            seq = self._seq[table]
            self._seq[table] = seq + 1
            path = posixpath.join(folder, f"part-{shard_label(self.shard)}-{seq:05d}.parquet")
            pq.write_table(data.slice(offset, FLUSH_ROWS), path, filesystem=self.fs, compression="zstd")


def generate(root: str | Path, shape: Shape | None = None, **overrides: Any) -> dict[str, Any]:
    """Write a synthetic registry's crawls under ``root``; returns per-crawl row counts."""
    shape = shape or Shape()
    if overrides:
        shape = Shape(**{**shape.__dict__, **overrides})
    generator = _Generator(shape)
    generator.run()
    return generator.write(root)


def cached_snapshot(shape: Shape, *, regenerate: bool = False) -> Path:
    """A synthetic snapshot of ``shape``, generated once under ``$TMPDIR/reginventory-synthetic``.

    The benchmarks share it: the queries and the report are timed on the same data.
    """
    import shutil
    import tempfile

    folder = Path(tempfile.gettempdir()) / "reginventory-synthetic" / (
        f"synthetic-{shape.tags}-{shape.repos}-c{shape.crawls}-s{shape.seed}")
    if regenerate or not (folder / "crawls").is_dir():
        if folder.exists():
            shutil.rmtree(folder)
        began = time.perf_counter()
        summary = generate(folder, shape)
        print(f"generated {folder} in {time.perf_counter() - began:.1f} s", flush=True)
        for crawl in summary["crawls"]:
            print("  " + ", ".join(f"{k}={v}" for k, v in crawl.items()), flush=True)
    else:
        print(f"reusing {folder}", flush=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="snapshot folder to write")
    parser.add_argument("--tags", type=int, default=Shape.tags)
    parser.add_argument("--repos", type=int, default=Shape.repos)
    parser.add_argument("--crawls", type=int, default=Shape.crawls)
    parser.add_argument("--seed", type=int, default=Shape.seed)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    summary = generate(args.out, tags=args.tags, repos=args.repos, crawls=args.crawls, seed=args.seed)
    for crawl in summary["crawls"]:
        print(json.dumps(crawl))
    print(f"written in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

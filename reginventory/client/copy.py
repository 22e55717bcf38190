"""Copy images between registries, and between a registry and the on-disk cache (async, streaming).

An image moves as: every blob (config and layers, several at a time), then the manifests,
children first and the top one last, each byte for byte, so every digest survives. A multi-arch
index or Docker manifest list is copied whole unless a platform is asked for; then only that
platform's image is copied, and the destination tag points at it.

Bytes stream from the source GET to the destination upload (or to a file) and are hashed as they
pass; nothing holds a whole layer in memory. A download writes ``<file>.partial`` and resumes it
with HTTP Range after a cut connection, in the same call or a later one; the file gets its final
name only once its bytes match the digest.
"""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterable

from reginventory.client import bulk
from reginventory.client.blob_cache import READ_PIECE_SIZE, BlobCache
from reginventory.client.manifest import (
    Descriptor,
    ImageManifest,
    IndexManifest,
    Manifest,
    Schema1Manifest,
    parse_manifest,
    select_platform,
)
from reginventory.client.platform import Platform
from reginventory.client.reference import referrer_tag_subject, validate_repository, validate_tag
from reginventory.client.registry_client import RegistryClient
from reginventory.client.registry_writer import (
    DEFAULT_CHUNK_SIZE,
    BlobSource,
    RegistryWriter,
    StreamDigest,
    TransferStats,
    gather_limited,
)
from reginventory.errors import (
    DigestMismatchError,
    IllegalArgumentError,
    ManifestError,
    NotFoundError,
    PlatformNotFoundError,
    RegistryUnavailableError,
)

#: Blobs moved at the same time. Two local registries on 2 cores are saturated by 3-4 streams,
#: and each holds up to two upload chunks (see DEFAULT_CHUNK_SIZE): 4 keeps memory near 64 MiB.
DEFAULT_CONCURRENCY = 4
#: A cut download is resumed (Range from what is on disk) this many times within one call.
RESUME_ATTEMPTS = 5
#: An index of indexes of... is followed this deep, no deeper (a hostile loop stops here).
MAX_INDEX_DEPTH = 4
#: Referrers of referrers are followed this deep (an attestation, its signature, ...).
MAX_REFERRER_DEPTH = 3


@dataclass(frozen=True)
class BlobRef:
    """A blob to move: its digest and, when a descriptor says so, its size."""

    digest: str
    size: int | None


@dataclass(frozen=True)
class ImagePlan:
    """What an image is made of: manifests in push order (children first) and unique blobs."""

    top: Manifest
    manifests: tuple[Manifest, ...]
    blobs: tuple[BlobRef, ...]

    @property
    def size(self) -> int:
        return sum(b.size or 0 for b in self.blobs)


@dataclass(frozen=True)
class CopyResult:
    """Where the image landed: ``reference`` (a tag or a digest) now points at ``digest``."""

    repository: str
    reference: str
    digest: str
    media_type: str
    manifests: tuple[str, ...]
    stats: TransferStats
    #: Referrers copied with the image (``referrers=True``): signatures, attestations, SBOMs.
    referrers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullResult:
    """A pull into the cache: the top manifest (as in ``<filebasename>.manifest``) and what moved."""

    plan: ImagePlan
    cache: BlobCache
    reused: int
    downloaded: int
    bytes_downloaded: int

    @property
    def manifest(self) -> Manifest:
        return self.plan.top


def blob_refs(manifest: Manifest) -> list[BlobRef]:
    """The blobs of one manifest with their sizes (foreign layers are not in the registry)."""
    if isinstance(manifest, ImageManifest):
        refs = [BlobRef(manifest.config.digest, manifest.config.size)] if manifest.config else []
        refs += [BlobRef(layer.digest, layer.size) for layer in manifest.layers if not layer.foreign]
        return refs
    if isinstance(manifest, Schema1Manifest):
        return [BlobRef(d, None) for d in manifest.fs_layers]
    return []


def _plan(top: Manifest, manifests: list[Manifest]) -> ImagePlan:
    blobs: dict[str, BlobRef] = {}
    for manifest in manifests:
        for ref in blob_refs(manifest):
            blobs.setdefault(ref.digest, ref)
    return ImagePlan(top, tuple(manifests), tuple(blobs.values()))


async def walk_image(
    top: Manifest, fetch_child: Callable[[Descriptor], Awaitable[Manifest]], host: str, repository: str
) -> ImagePlan:
    """The plan of ``top``: every manifest it reaches (children before their index), and its blobs.

    ``fetch_child`` gets each child of an index (the children of one index concurrently).
    """
    ordered: list[Manifest] = []
    seen: set[str] = set()

    async def walk(manifest: Manifest, depth: int) -> None:
        if isinstance(manifest, IndexManifest):
            if depth >= MAX_INDEX_DEPTH:
                raise ManifestError(f"indexes nested deeper than {MAX_INDEX_DEPTH}", registry=host, repository=repository)
            children = await asyncio.gather(*(fetch_child(c) for c in manifest.manifests))
            for child in children:
                await walk(child, depth + 1)
        if manifest.digest not in seen:
            seen.add(manifest.digest)
            ordered.append(manifest)

    await walk(top, 0)
    return _plan(top, ordered)


async def plan_image(
    client: RegistryClient, repository: str, reference: str, platform: Platform | None = None
) -> ImagePlan:
    """Fetch (verified) every manifest of an image; for an index, one platform's or all of them."""
    validate_repository(repository)
    top = await client.get_manifest(repository, reference)
    if isinstance(top, IndexManifest) and platform is not None:
        top = await client.get_manifest(repository, _select(top, platform, client.host, repository, reference).digest)
    return await walk_image(top, lambda child: client.get_manifest(repository, child.digest), client.host, repository)


def _select(index: IndexManifest, platform: Platform, host: str, repository: str, reference: str):  # type: ignore[no-untyped-def]
    try:
        return select_platform(index, platform)
    except PlatformNotFoundError as exc:
        raise PlatformNotFoundError(
            exc.message, available=exc.available, registry=host, repository=repository, reference=reference
        ) from None


def blob_stream(client: RegistryClient, repository: str, digest: str, offset: int = 0) -> AsyncIterator[bytes]:
    """A blob's bytes from ``offset``, in the pieces the socket delivered them."""
    return client.stream_blob(repository, digest, offset=offset)


def registry_source(client: RegistryClient, repository: str, blob: BlobRef) -> BlobSource:
    """A BlobSource streaming a blob from a registry."""
    return BlobSource(
        blob.digest, blob.size, lambda: blob_stream(client, repository, blob.digest),
        direct=lambda: client.blocking_blob_get(repository, blob.digest),
    )


def file_source(path: Path, blob: BlobRef) -> BlobSource:
    """A BlobSource reading a cached file in pieces (in a worker thread, the loop stays free)."""

    async def stream() -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(open, path, "rb")
        try:
            while piece := await asyncio.to_thread(f.read, READ_PIECE_SIZE):
                yield piece
        finally:
            f.close()

    async def direct() -> bulk.FileSource:
        return bulk.FileSource(path)

    size = blob.size if blob.size is not None else path.stat().st_size
    return BlobSource(blob.digest, size, stream, direct)


def same_registry(a: RegistryClient, b: RegistryClient) -> bool:
    """True when both clients talk to the same registry (a mount is then possible)."""
    return a.base_url.rstrip("/") == b.base_url.rstrip("/")


def _target_reference(reference: str, tag: str | None, plan: ImagePlan) -> str:
    if tag:
        return validate_tag(tag)
    if ":" in reference:  # a digest (tags cannot hold a colon)
        return plan.top.digest
    return reference


async def _push_manifests(writer: RegistryWriter, repository: str, plan: ImagePlan, target: str) -> list[str]:
    pushed: list[str] = []
    for manifest in plan.manifests[:-1]:
        pushed.append(await writer.put_manifest(repository, manifest.digest, manifest.raw, manifest.media_type))
    top = plan.manifests[-1]
    pushed.append(await writer.put_manifest(repository, target, top.raw, top.media_type))
    return pushed


async def copy_image(
    src: RegistryClient,
    src_repository: str,
    reference: str,
    dst: RegistryClient,
    dst_repository: str,
    dst_tag: str | None = None,
    platform: Platform | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    referrers: bool = False,
) -> CopyResult:
    """Copy ``src_repository:reference`` to ``dst_repository:dst_tag`` (another registry or not).

    ``dst_tag`` defaults to the source tag (or the digest, when ``reference`` is one). The
    destination's push permission is checked before any blob moves. Blobs the destination has
    are skipped; on the same registry they are mounted from the source repository.
    ``referrers``: also copy the signatures, attestations and SBOMs that refer to the image
    (see :func:`copy_referrers`).
    """
    validate_repository(dst_repository)
    plan = await plan_image(src, src_repository, reference, platform)
    target = _target_reference(reference, dst_tag, plan)
    if same_registry(src, dst) and src_repository == dst_repository and target == reference:
        raise IllegalArgumentError("source and destination are the same image; nothing to copy")
    mount_from = src_repository if same_registry(src, dst) and src_repository != dst_repository else None
    stats = TransferStats()
    async with RegistryWriter(dst, chunk_size=chunk_size) as writer:
        await writer.check_push(dst_repository)

        async def one(blob: BlobRef) -> None:
            if blob.size is None:  # schema1 descriptors have no sizes
                size = await src.head_blob(src_repository, blob.digest)
                if size is None:
                    raise NotFoundError("blob unknown to the source", registry=src.host, repository=src_repository,
                                        reference=blob.digest)
                blob = BlobRef(blob.digest, size)
            outcome = await writer.push_blob(dst_repository, registry_source(src, src_repository, blob), mount_from=mount_from)
            stats.count(outcome, blob.size or 0)

        await gather_limited(concurrency, [functools.partial(one, b) for b in plan.blobs])
        pushed = await _push_manifests(writer, dst_repository, plan, target)
    stats.manifests_pushed = len(pushed)
    copied: tuple[str, ...] = ()
    if referrers:
        copied = await copy_referrers(
            src, src_repository, dst, dst_repository, [m.digest for m in plan.manifests], concurrency=concurrency
        )
    return CopyResult(dst_repository, target, plan.top.digest, plan.top.media_type, tuple(pushed), stats, copied)


async def copy_referrers(
    src: RegistryClient,
    src_repository: str,
    dst: RegistryClient,
    dst_repository: str,
    subjects: Iterable[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> tuple[str, ...]:
    """Copy the referrers of ``subjects`` (and theirs, such as a signed attestation's signature).

    Referrers are found both ways a registry may hold them: tags of the source repository named
    after a subject (cosign's ``sha256-<hex>.sig|.att|.sbom``, the OCI fallback index
    ``sha256-<hex>``), copied under the same tag; and the OCI referrers API, copied by digest.
    Digests are kept, so each still points at its subject. Returns the digests copied.
    """
    tags = await src.list_tags(src_repository)
    by_subject: dict[str, list[str]] = {}
    for tag in tags:
        subject = referrer_tag_subject(tag)
        if subject:
            by_subject.setdefault(subject, []).append(tag)
    pending = list(dict.fromkeys(subjects))
    visited = set(pending)
    copied: list[str] = []
    for _ in range(MAX_REFERRER_DEPTH):
        if not pending:
            break
        found: list[tuple[str, str | None]] = []  # (reference to copy, tag to copy it to)
        for subject in pending:
            found += [(tag, tag) for tag in by_subject.get(subject, [])]
            listed = await src.referrers(src_repository, subject)
            found += [(d.digest, None) for d in listed or ()]
        pending = []
        for reference, tag in dict.fromkeys(found):
            if tag is None and reference in visited:
                continue
            result = await copy_image(src, src_repository, reference, dst, dst_repository, tag, concurrency=concurrency)
            for digest in result.manifests:  # the children, then the referrer itself
                if digest not in visited:
                    visited.add(digest)
                    copied.append(digest)
                    pending.append(digest)
    return tuple(copied)


async def tag_image(client: RegistryClient, repository: str, reference: str, new_tag: str) -> str:
    """Put the manifest at ``reference`` under ``new_tag`` (same bytes); return its digest."""
    async with RegistryWriter(client) as writer:
        return await writer.tag_image(repository, reference, new_tag)


async def delete_manifest(client: RegistryClient, repository: str, digest: str) -> None:
    """Delete a manifest by digest (every tag pointing at it goes too)."""
    async with RegistryWriter(client) as writer:
        await writer.delete_manifest(repository, digest)


async def delete_tag(client: RegistryClient, repository: str, tag: str):  # type: ignore[no-untyped-def]
    """Remove one tag and keep the image (see :meth:`RegistryWriter.delete_tag`)."""
    async with RegistryWriter(client) as writer:
        return await writer.delete_tag(repository, tag)


# -- the cache --------------------------------------------------------------------------------


def _hash_prefix(verifier: StreamDigest, path: Path, length: int) -> None:
    with open(path, "rb") as f:
        left = length
        while left > 0:
            piece = f.read(min(READ_PIECE_SIZE, left))
            if not piece:
                break
            verifier.feed_sync(piece)
            left -= len(piece)


async def download_blob(
    client: RegistryClient, repository: str, blob: BlobRef, cache: BlobCache, *, attempts: int = RESUME_ATTEMPTS
) -> int:
    """Stream a blob to ``cache.blob_path``, resuming a ``.partial`` file; return bytes downloaded.

    The bytes already on disk are hashed first, the rest is asked for with ``Range: bytes=<n>-``
    (a registry that ignores Range sends everything; the known prefix is skipped). A cut stream is
    resumed up to ``attempts`` times. Bytes that do not match the digest are rejected and the
    partial file removed; a resumed file that fails is retried once from scratch.
    """
    digest = blob.digest
    final = cache.blob_path(digest)
    partial = cache.partial_path(final)
    context = {"registry": client.host, "repository": repository, "reference": digest}
    cache.ensure_folder()
    downloaded = 0
    attempt = 0
    restarted = False
    while True:
        attempt += 1
        offset = partial.stat().st_size if partial.exists() else 0
        if blob.size is not None and offset > blob.size:
            partial.unlink()
            offset = 0
        failure: RegistryUnavailableError | None = None
        with open(partial, "ab") as f:
            verifier = StreamDigest(digest, sink=f)
            try:
                if offset:
                    await asyncio.to_thread(_hash_prefix, verifier, partial, offset)
                if blob.size is None or offset < blob.size:
                    async for piece in blob_stream(client, repository, digest, offset):
                        await verifier.update(piece)
                        if blob.size is not None and verifier.size > blob.size:
                            raise DigestMismatchError(f"blob is longer than the {blob.size} bytes its descriptor says", **context)
                await verifier.flush()
            except RegistryUnavailableError as exc:
                failure = exc
            except DigestMismatchError:
                verifier.close()
                f.close()
                partial.unlink(missing_ok=True)
                raise
            finally:
                verifier.close()
        downloaded += max(0, verifier.size - offset)
        short = blob.size is not None and verifier.size < blob.size
        if failure is not None or short:
            if attempt < attempts:
                continue  # resume from what reached the disk
            raise failure or RegistryUnavailableError(
                f"blob download stopped at {verifier.size} of {blob.size} bytes", **context
            )
        if verifier.actual != digest:
            partial.unlink(missing_ok=True)
            if offset and not restarted:
                restarted, attempt = True, 0  # the old prefix may be what was wrong: once more from zero
                continue
            raise DigestMismatchError(f"blob bytes hash to {verifier.actual}, not {digest}; partial file removed", **context)
        os.replace(partial, final)
        return downloaded


async def _cached_child(client: RegistryClient, repository: str, cache: BlobCache, digest: str, media_type: str,
                        refresh: bool) -> Manifest:
    path = cache.child_manifest_path(digest)
    if not refresh and path.is_file():
        raw = await asyncio.to_thread(path.read_bytes)
        try:
            manifest = parse_manifest(raw, media_type or None)
        except ManifestError:
            manifest = None
        if manifest is not None and manifest.digest == digest:
            return manifest
    manifest = await client.get_manifest(repository, digest)
    await asyncio.to_thread(cache.write_atomic, path, manifest.raw)
    return manifest


async def pull_to_cache(
    client: RegistryClient,
    repository: str,
    reference: str,
    cache: BlobCache,
    platform: Platform | None = None,
    *,
    refresh: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> PullResult:
    """Pull an image into the cache: manifests first, then every blob, verified, resumable.

    Without ``refresh`` a cached ``<filebasename>.manifest`` is used as is (the seed's rule: the
    manifest is not refreshed) and blob files that verify are reused. With ``platform`` an index
    is resolved to that platform's image, which becomes ``<filebasename>.manifest``.
    """
    validate_repository(repository)
    cache.ensure_folder()
    if not refresh and cache.has_manifest():
        top = await asyncio.to_thread(cache.read_manifest)
    else:
        top = await client.get_manifest(repository, reference)
        if isinstance(top, IndexManifest) and platform is not None:
            top = await client.get_manifest(repository, _select(top, platform, client.host, repository, reference).digest)
        await asyncio.to_thread(cache.write_atomic, cache.manifest_path, top.raw)
    plan = await walk_image(
        top, lambda child: _cached_child(client, repository, cache, child.digest, child.media_type, refresh),
        client.host, repository,
    )
    reused = downloaded = 0
    moved = 0

    async def fetch(blob: BlobRef) -> None:
        nonlocal reused, downloaded, moved
        final = cache.blob_path(blob.digest)
        if refresh:
            final.unlink(missing_ok=True)
            cache.partial_path(final).unlink(missing_ok=True)
        elif final.exists():
            if await asyncio.to_thread(cache.valid_blob, blob.digest, blob.size):
                reused += 1
                return
            final.unlink()
        count = await download_blob(client, repository, blob, cache)
        moved += count  # not `moved += await ...`: that reads `moved` before the await
        downloaded += 1

    await gather_limited(concurrency, [functools.partial(fetch, b) for b in plan.blobs])
    return PullResult(plan, cache, reused, downloaded, moved)


def read_cached_plan(cache: BlobCache) -> ImagePlan:
    """The image stored in a cache (manifests verified against the index's digests)."""
    if not cache.has_manifest():
        raise IllegalArgumentError(f"no cached image at {cache.manifest_path}")
    top = cache.read_manifest()
    ordered: list[Manifest] = []
    seen: set[str] = set()

    def walk(manifest: Manifest, depth: int) -> None:
        if isinstance(manifest, IndexManifest):
            if depth >= MAX_INDEX_DEPTH:
                raise ManifestError(f"indexes nested deeper than {MAX_INDEX_DEPTH}")
            for child in manifest.manifests:
                path = cache.child_manifest_path(child.digest)
                if not path.is_file():
                    raise IllegalArgumentError(f"the cache lacks child manifest {child.digest} ({path.name})")
                value = parse_manifest(path.read_bytes(), child.media_type or None)
                if value.digest != child.digest:
                    raise DigestMismatchError(f"cached child manifest {path.name} hashes to {value.digest}")
                walk(value, depth + 1)
        if manifest.digest not in seen:
            seen.add(manifest.digest)
            ordered.append(manifest)

    walk(top, 0)
    return _plan(top, ordered)


async def push_from_cache(
    client: RegistryClient,
    repository: str,
    tag: str | None,
    cache: BlobCache,
    *,
    mount_from: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CopyResult:
    """Push a cached image to ``repository:tag`` (by digest when ``tag`` is None).

    Every file must be present before anything is sent; each blob is verified as it is read
    (a corrupt file is never committed) and the manifests are pushed last, byte for byte.
    """
    validate_repository(repository)
    plan = await asyncio.to_thread(read_cached_plan, cache)
    missing = [cache.blob_path(b.digest).name for b in plan.blobs if not cache.blob_path(b.digest).is_file()]
    if missing:
        raise IllegalArgumentError(f"the cache lacks {len(missing)} blob file(s): {', '.join(missing[:5])}")
    target = validate_tag(tag) if tag else plan.top.digest
    stats = TransferStats()
    async with RegistryWriter(client, chunk_size=chunk_size) as writer:
        await writer.check_push(repository)

        async def one(blob: BlobRef) -> None:
            source = file_source(cache.blob_path(blob.digest), blob)
            outcome = await writer.push_blob(repository, source, mount_from=mount_from)
            stats.count(outcome, source.size or 0)

        await gather_limited(concurrency, [functools.partial(one, b) for b in plan.blobs])
        pushed = await _push_manifests(writer, repository, plan, target)
    stats.manifests_pushed = len(pushed)
    return CopyResult(repository, target, plan.top.digest, plan.top.media_type, tuple(pushed), stats)


__all__ = [
    "BlobRef", "CopyResult", "DEFAULT_CONCURRENCY", "ImagePlan", "PullResult", "blob_refs", "copy_image",
    "delete_manifest", "delete_tag", "download_blob", "file_source", "plan_image", "pull_to_cache",
    "push_from_cache", "read_cached_plan", "registry_source", "same_registry", "tag_image",
]

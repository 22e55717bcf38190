"""The seed's write operations on Registry (pull, push, copy, tag, delete) and on Image (copy_to).

Synchronous wrappers over :mod:`reginventory.client.copy` and
:mod:`reginventory.client.registry_writer`, run on the background loop. A Ctrl-C cancels the
running operation (a download keeps its ``.partial`` file for the next pull) instead of leaving
it running behind the caller's back.

Where the seed is silent, reginventory decides:

- ``arch``/``oss``: when neither is given, a multi-arch index is pulled or copied whole (every
  child, then the index); when one is given, only that platform's image (the other defaults to
  this machine's). The Image returned by a pull is this machine's platform (or the first one).
- ``filebasename``: the cache layout of :mod:`reginventory.client.blob_cache`
  (``<fb>.manifest``, ``<fb>.<hex>.manifest`` for index children, ``<fb>.<hex>`` for blobs).
  Without it nothing large is read: blobs are streamed when asked (:meth:`ImageTransferMixin.iter_blob`).
- ``delete_image`` and ``delete_tag`` act on what the tag points at; ``arch``/``oss`` are accepted
  for compatibility and ignored (deletes are by digest: a platform cannot be deleted alone).
- ``pull_and_push_image``: ``dst_registry`` is a :class:`Registry` or a URL; the ``dst_*``
  connection options build a new Registry for it (also for the same URL with other credentials).
  ``filebasename`` makes the copy go through the cache unless ``dst_no_cache``; tokens are only
  ever held in memory, so ``dst_cache_file`` is accepted and ignored (with a warning).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator, TypeVar

from reginventory.client.blob_cache import BlobCache
from reginventory.client.copy import (
    CopyResult,
    ImagePlan,
    blob_stream,
    copy_image,
    plan_image,
    pull_to_cache,
    push_from_cache,
    same_registry,
)
from reginventory.client.manifest import (
    ImageManifest,
    IndexManifest,
    Manifest as ManifestValue,
    parse_image_config,
    select_platform,
)
from reginventory.client.platform import Platform, host_platform, platform_from
from reginventory.client.registry_client import RegistryClient
from reginventory.client.registry_writer import DeleteReport, RegistryWriter, StreamDigest, TagDeletion
from reginventory.client.sync import run_sync
from reginventory.errors import IllegalArgumentError, PlatformNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from reginventory.models.registry import Image, Registry

T = TypeVar("T")
#: After a Ctrl-C, wait this long for the cancelled operation to close its files and sockets.
CANCEL_GRACE_SECONDS = 10.0


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def run_interruptible(make_client: Callable[[], Awaitable[RegistryClient]],
                      operation: Callable[[RegistryClient], Awaitable[T]]) -> T:
    """Like ``Registry.run`` but a KeyboardInterrupt cancels the operation before propagating."""
    loop = run_sync(_running_loop())
    finished = threading.Event()

    async def call() -> T:
        try:
            return await operation(await make_client())
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(call(), loop)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        finished.wait(CANCEL_GRACE_SECONDS)  # let it close its files (a download keeps its .partial)
        raise


def _platform(arch: str | None, oss: str | None) -> Platform | None:
    """None (the whole index) when neither is given, else the platform with host defaults."""
    return None if arch is None and oss is None else platform_from(oss, arch)


def _pick_image(plan: ImagePlan) -> ManifestValue:
    """The image a pull returns: the plan's top image, or this machine's child of an index."""
    top = plan.top
    if not isinstance(top, IndexManifest):
        return top
    by_digest = {m.digest: m for m in plan.manifests}
    try:
        wanted = select_platform(top, host_platform()).digest
    except PlatformNotFoundError:
        children = [c for c in top.manifests if not c.is_attestation] or list(top.manifests)
        wanted = children[0].digest if children else top.digest
    return by_digest.get(wanted, top)


class ImageTransferMixin:
    """Blob access and ``copy_to`` for an Image (``repository``, ``tag``, ``manifest``, ``filebasename``)."""

    repository: Any
    tag: str
    manifest: Any
    filebasename: str | None
    platform: Platform

    @property
    def _registry(self) -> Registry:
        return self.repository.registry  # type: ignore[no-any-return]

    @property
    def cache(self) -> BlobCache | None:
        return BlobCache(self.filebasename) if self.filebasename else None

    @property
    def blob_digests(self) -> list[str]:
        """Config and layer digests of this image (the seed's layer ids are their hex)."""
        value = self.manifest.value
        if isinstance(value, ImageManifest):
            return ([value.config.digest] if value.config else []) + [l.digest for l in value.layers if not l.foreign]
        return list(getattr(value, "fs_layers", ()))

    def blob_path(self, digest: str) -> Path | None:
        """The cached file of a blob, when this image was pulled with a filebasename."""
        cache = self.cache
        if cache is None:
            return None
        path = cache.blob_path(digest)
        return path if path.is_file() else None

    def iter_blob(self, digest: str) -> Iterator[bytes]:
        """A blob's bytes in pieces: from the cache when pulled there, else streamed (and verified)."""
        path = self.blob_path(digest)
        if path is not None:
            with open(path, "rb") as f:
                while piece := f.read(1024 * 1024):
                    yield piece
            return
        registry, name = self._registry, self.repository.name

        async def open_stream(client: RegistryClient) -> Any:
            return blob_stream(client, name, digest)

        stream = registry.run(open_stream)

        async def next_piece() -> bytes | None:
            try:
                return await stream.__anext__()  # type: ignore[no-any-return]
            except StopAsyncIteration:
                return None

        verifier = StreamDigest(digest)
        try:
            while True:
                piece = run_sync(next_piece())
                if piece is None:
                    break
                verifier.feed_sync(piece)
                yield piece
            run_sync(verifier.check(registry=registry.name, repository=name, reference=digest))
        finally:
            run_sync(stream.aclose())

    def read_blob(self, digest: str) -> bytes:
        """A whole blob in memory (only when asked: meant for configs and small layers)."""
        return b"".join(self.iter_blob(digest))

    def copy_to(self, repository: Any = None, tag: str | None = None, filebasename: str | None = None,
                lazy: bool = True, platform_only: bool = False) -> CopyResult:
        """Copy this image to another repository (a Repository, possibly of another registry, or
        a name in this registry) and/or tag.

        The tag's whole content is copied (a multi-arch index with every child) unless
        ``platform_only``. With ``lazy`` and no ``filebasename`` the bytes stream from registry
        to registry; otherwise they go through the cache (``filebasename``, or a temporary one).
        Raises IllegalArgumentError when neither is given or both equal the current ones.
        """
        if repository is None and tag is None:
            raise IllegalArgumentError("copy_to needs a repository and/or a tag")
        src = self._registry
        if repository is None:
            dst, dst_name = src, self.repository.name
        elif isinstance(repository, str):
            dst, dst_name = src, repository
        else:
            dst, dst_name = repository.registry, repository.name
        dst_tag = tag or self.tag
        if dst.url == src.url and dst_name == self.repository.name and dst_tag == self.tag:
            raise IllegalArgumentError("copy_to: the destination is this image itself")
        reference = self.manifest.digest if platform_only else self.tag
        use_cache = bool(filebasename) or not lazy
        return _copy_between(src, self.repository.name, reference, dst, dst_name, dst_tag, None, filebasename,
                             use_cache=use_cache)


_PULLED_IMAGE: type | None = None


def _pulled_image_class() -> type:
    """``PulledImage(Image, ImageTransferMixin)``, made on first use (registry.py imports this module)."""
    global _PULLED_IMAGE
    if _PULLED_IMAGE is None:
        from reginventory.models.registry import Image

        _PULLED_IMAGE = type("PulledImage", (Image, ImageTransferMixin), {
            "__doc__": "An Image returned by a pull: blob access (cached or streamed) and copy_to.",
            "__module__": __name__,
        })
    return _PULLED_IMAGE


def _copy_between(src: Registry, src_name: str, reference: str, dst: Registry, dst_name: str, dst_tag: str | None,
                  platform: Platform | None, filebasename: str | None, *, use_cache: bool, refresh: bool = False) -> CopyResult:
    """Copy on the background loop, streaming or through a cache (a temporary one when none is named)."""

    async def op(src_client: RegistryClient) -> CopyResult:
        dst_client = src_client if dst is src else await dst._make_client()
        if not use_cache:
            return await copy_image(src_client, src_name, reference, dst_client, dst_name, dst_tag, platform)
        with tempfile.TemporaryDirectory(prefix="reginventory-copy-") as tmp:
            cache = BlobCache(filebasename or Path(tmp) / "image")
            await pull_to_cache(src_client, src_name, reference, cache, platform, refresh=refresh)
            mount_from = src_name if same_registry(src_client, dst_client) and src_name != dst_name else None
            return await push_from_cache(dst_client, dst_name, dst_tag, cache, mount_from=mount_from)

    return run_interruptible(src._make_client, op)


class RegistryWriteMixin:
    """Pull, push, copy, tag and delete (mixed into :class:`reginventory.models.Registry`)."""

    def _registry(self) -> Registry:
        return self  # type: ignore[return-value]

    def _interruptible(self, operation: Callable[[RegistryClient], Awaitable[T]]) -> T:
        return run_interruptible(self._registry()._make_client, operation)

    # -- pull / push --------------------------------------------------------------------------

    def pull_image(self, repository: str, tag: str, arch: str | None = None, oss: str | None = None,
                   filebasename: str | None = None, refresh: bool = False) -> Image:
        """Pull an image; with ``filebasename``, stream the manifests and every blob to the cache.

        Each blob is verified while it streams and written as ``.partial`` until it is; files
        already there and valid are reused unless ``refresh``; an interrupted pull resumes with
        HTTP Range. Without ``filebasename`` only manifests and the config are fetched: blobs are
        read when asked (``iter_blob``, ``read_blob``). Returns the Image for ``arch``/``oss``
        (this machine's by default) as a PulledImage (``iter_blob``, ``blob_path``, ``copy_to``).
        """
        registry = self._registry()
        platform = _platform(arch, oss)

        async def op(client: RegistryClient) -> tuple[ImagePlan, bytes | None]:
            if filebasename:
                result = await pull_to_cache(client, repository, tag, BlobCache(filebasename), platform, refresh=refresh)
                plan = result.plan
            else:
                plan = await plan_image(client, repository, tag, platform)
            image = _pick_image(plan)
            config = None
            if isinstance(image, ImageManifest) and image.config is not None and filebasename is None:
                config = await client.get_blob(repository, image.config.digest)
            return plan, config

        plan, config_raw = self._interruptible(op)
        image = _pick_image(plan)
        if config_raw is None and filebasename and isinstance(image, ImageManifest) and image.config is not None:
            config_raw = BlobCache(filebasename).blob_path(image.config.digest).read_bytes()
        return self._image(repository, tag, plan, image, config_raw, platform, filebasename)

    def _image(self, repository: str, tag: str, plan: ImagePlan, image: ManifestValue, config_raw: bytes | None,
               platform: Platform | None, filebasename: str | None) -> Image:
        from reginventory.models.manifests import wrap_manifest
        from reginventory.models.registry import Repository

        config = None
        if config_raw is not None and isinstance(image, ImageManifest) and image.config is not None \
                and image.config.media_type.endswith(("container.image.v1+json", "image.config.v1+json")):
            config = parse_image_config(config_raw)
        manifest_list = wrap_manifest(plan.top, repository, tag) if isinstance(plan.top, IndexManifest) else None
        manifest = wrap_manifest(image, repository, tag, config, manifest_list)  # type: ignore[arg-type]
        cls = _pulled_image_class()
        return cls(Repository(self._registry(), repository), tag, manifest, platform or host_platform(), filebasename)  # type: ignore[no-any-return]

    def push_image(self, repository: str, tag: str, filebasename: str) -> str:
        """Push the image cached at ``filebasename`` to ``repository:tag``; return its digest.

        Blobs the repository has are skipped; the rest are uploaded (monolithic when small,
        chunked when large) and verified against their digests as they are read; the manifests
        go last, byte for byte. Push permission is checked before any blob is sent.
        """
        if not filebasename:
            raise IllegalArgumentError("push_image needs the filebasename of a pulled image")
        cache = BlobCache(filebasename)
        result = self._interruptible(lambda client: push_from_cache(client, repository, tag, cache))
        return result.digest

    # -- copy ---------------------------------------------------------------------------------

    def pull_and_push_image(
        self, repository: str, tag: str, arch: str | None = None, oss: str | None = None,
        filebasename: str | None = None, refresh: bool = False, dst_registry: Any = None,
        dst_repository: str | None = None, dst_tag: str | None = None, dst_username: str | None = None,
        dst_password: str | None = None, dst_no_verify: bool | None = None, dst_cert: str | None = None,
        dst_ca_bundle: str | None = None, dst_skip_docker_config: bool = False, dst_no_cache: bool = False,
        dst_cache_file: str | None = None,
    ) -> CopyResult:
        """Copy ``repository:tag`` to ``dst_registry/dst_repository:dst_tag``.

        Unset ``dst_*`` values are taken from the source; all three unset, or a destination equal
        to the source, raise IllegalArgumentError. A multi-arch index is copied whole unless
        ``arch``/``oss`` ask for one platform.
        """
        if dst_registry is None and dst_repository is None and dst_tag is None:
            raise IllegalArgumentError("pull_and_push_image needs dst_registry, dst_repository and/or dst_tag")
        if dst_cache_file is not None:
            warnings.warn("dst_cache_file is ignored: reginventory keeps tokens in memory only", stacklevel=2)
        src = self._registry()
        dst, created = self._destination(dst_registry, dst_username, dst_password, dst_no_verify, dst_cert,
                                         dst_ca_bundle, dst_skip_docker_config)
        dst_name = dst_repository or repository
        target = dst_tag or tag
        if dst.url == src.url and dst_name == repository and target == tag:
            raise IllegalArgumentError("the destination is the source image itself")
        try:
            use_cache = bool(filebasename) and not dst_no_cache
            return _copy_between(src, repository, tag, dst, dst_name, target, _platform(arch, oss),
                                 filebasename if use_cache else None, use_cache=use_cache, refresh=refresh)
        finally:
            if created:
                dst.close()

    def _destination(self, dst_registry: Any, username: str | None, password: str | None, no_verify: bool | None,
                     cert: str | None, ca_bundle: str | None, skip_docker_config: bool) -> tuple[Registry, bool]:
        from reginventory.models.registry import Registry

        src = self._registry()
        if isinstance(dst_registry, Registry):
            return dst_registry, False
        options = any(v for v in (username, password, no_verify, cert, ca_bundle, skip_docker_config))
        if dst_registry is None and not options:
            return src, False
        url = dst_registry if isinstance(dst_registry, str) else src.url
        registry = Registry(
            url, username=username, password=password, no_verify=bool(no_verify), ca_bundle=ca_bundle, cert=cert,
            skip_docker_config=skip_docker_config, plain_http=src.plain_http and dst_registry is None,
            allow_insecure=src.allow_insecure,
        )
        return registry, True

    # -- tags and deletes ---------------------------------------------------------------------

    def tag_image(self, repository: str, tag: str, newtag: str, arch: str | None = None,
                  oss: str | None = None) -> Image:
        """Put the manifest of ``repository:tag`` under ``newtag`` too (same bytes, same digest)."""
        from reginventory.models.registry import Repository

        async def op(client: RegistryClient) -> str:
            async with RegistryWriter(client) as writer:
                return await writer.tag_image(repository, tag, newtag)

        self._interruptible(op)
        return Repository(self._registry(), repository).get_image(newtag, arch, oss)

    def delete_image(self, repository: str, tag: str, layers: bool = False, arch: str | None = None,
                     oss: str | None = None, children: bool = True, dry_run: bool = False) -> DeleteReport:
        """Delete the manifest ``tag`` points at, by digest; every tag of that digest goes with it.

        The report lists those tags (``tags``), the index children deleted with it, and with
        ``layers`` the blobs unlinked and those kept because a remaining manifest uses them.
        """

        async def op(client: RegistryClient) -> DeleteReport:
            async with RegistryWriter(client) as writer:
                return await writer.delete_image(repository, tag, layers=layers, children=children, dry_run=dry_run)

        report = self._interruptible(op)
        self.last_delete = report
        return report

    def delete_tag(self, repository: str, tag: str, arch: str | None = None, oss: str | None = None) -> TagDeletion:
        """Remove one tag and keep the image and its other tags (see RegistryWriter.delete_tag)."""

        async def op(client: RegistryClient) -> TagDeletion:
            async with RegistryWriter(client) as writer:
                return await writer.delete_tag(repository, tag)

        return self._interruptible(op)

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest (every tag pointing at it goes too)."""

        async def op(client: RegistryClient) -> None:
            async with RegistryWriter(client) as writer:
                await writer.delete_manifest(repository, digest)

        self._interruptible(op)


__all__ = ["ImageTransferMixin", "RegistryWriteMixin", "run_interruptible"]

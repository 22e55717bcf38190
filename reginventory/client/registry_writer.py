"""The registry's write operations over a :class:`RegistryClient`: uploads, manifests, deletes.

- Blobs: HEAD first (present: skip); on the same registry a cross-repository mount
  (``POST ?mount=&from=`` with a token for both repositories: 201 mounted, 202 upload at
  ``Location``); otherwise a monolithic upload (POST, then PUT ``?digest=`` with the bytes) for
  blobs up to :data:`MONOLITHIC_MAX_BYTES`, and a chunked upload for larger ones: PATCHes with
  ``Content-Range`` of at most ``chunk_size`` bytes, each body streamed straight from the source
  (a registry GET or a file), then an empty PUT ``?digest=``. Bytes are hashed as they pass
  and the closing PUT is only sent when they match the digest. A large blob whose source says
  how to read it directly (``BlobSource.direct``: a registry GET, a file) is moved by a worker
  thread over blocking sockets (:mod:`reginventory.client.bulk`); what the thread cannot serve
  goes through the async path.
- ``Location`` is resolved against the URL of the request that returned it (relative or absolute),
  its query (the upload state) is kept verbatim and ``digest=`` appended with ``&``. A Location on
  another host gets no ``Authorization`` header (the credentials are the registry's, not the
  storage's).
- Manifests are PUT byte for byte, so the digest does not change; the registry's
  ``Docker-Content-Digest`` is checked against ours.
- Deletes are by digest only (distribution refuses a tag). Removing one tag while keeping the
  image uses ``DELETE /manifests/<tag>`` where the registry supports it, else regclient's
  placeholder technique (see :meth:`RegistryWriter.delete_tag`).

Per-registry behaviour of :meth:`RegistryWriter.delete_tag`:

============================  ==================================================================
registry                      what happens
============================  ==================================================================
CNCF distribution 2.x         ``DELETE /manifests/<tag>`` answers 400 ``DIGEST_INVALID`` (seen on
(``docker-registry``,         2.8.2): a unique placeholder image is pushed to the tag, then
``registry:2``)               deleted by digest. Needs push and delete rights; leaves an orphan
                              config blob of ~300 bytes and the ``{}`` blob for the next GC.
distribution, deletes off     405 ``UNSUPPORTED`` for every DELETE: :class:`UnsupportedError` that
                              says how to enable deletes, raised before anything is pushed (a
                              probe DELETE of a digest that cannot exist tells the two apart)
registries with the OCI       202 on ``DELETE /manifests/<tag>`` (e.g. GitLab's container
tag-delete endpoint           registry): only that tag goes, nothing is pushed. If the manifest
                              turns out gone afterwards (a registry that took the tag for its
                              manifest), a RegistryError says so
registries that refuse       the tag DELETE and the probe are refused (UNSUPPORTED, 401/403):
deletes in the API (Docker    the error is raised before anything is pushed; such registries
Hub...)                       have their own deletion APIs
============================  ==================================================================
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Sequence

import httpx

from reginventory.client import bulk
from reginventory.client import mediatypes as mt
from reginventory.client.auth import EXTRA_SCOPES
from reginventory.client.digest import hasher_for, sha256_digest
from reginventory.client.manifest import (
    ImageManifest,
    IndexManifest,
    Manifest,
    Schema1Manifest,
    schema1_payload,
)
from reginventory.client.reference import SHA256_RE, validate_digest, validate_repository, validate_tag
from reginventory.client.registry_client import MAX_ERROR_BYTES, RegistryClient, redact
from reginventory.client.transport import make_http_client, origin
from reginventory.errors import (
    DigestMismatchError,
    ForbiddenError,
    NotFoundError,
    RegistryError,
    RegistryUnavailableError,
    UnauthorizedError,
    UnsupportedError,
)

#: Chunked uploads send PATCHes of at most this many bytes, each streamed from the source as it
#: arrives (memory holds a piece or two, not a chunk). distribution spends tens of milliseconds per
#: PATCH (it saves and reloads the hash state), so chunks are large; 64 MiB stays under the
#: request-size caps of common proxies (Cloudflare's 100 MB, nginx ``client_max_body_size``).
DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
#: Blobs up to this size are read whole and sent in the closing PUT (monolithic upload): one
#: request fewer, and a body small enough to replay after a 401 or a 5xx.
MONOLITHIC_MAX_BYTES = 4 * 1024 * 1024
#: A request body is handed to the transport in pieces of at most this size, so asyncio never
#: copies a large buffer into its write queue (Python 3.11's transport copies what the socket refuses).
BODY_PIECE_SIZE = 1024 * 1024
#: Blob uploads are restarted (from a new session) this many times after a network failure.
UPLOAD_ATTEMPTS = 3
#: The upload thread waits this long for the event loop to fetch a renewed token.
TOKEN_WAIT_SECONDS = 120.0
#: Tags are resolved this many at a time when looking for the other tags of a digest.
HEAD_CONCURRENCY = 8
#: What to do when a registry refuses deletes; distribution's switch, named both ways.
DELETE_HINT = (
    "the registry refuses deletes; on CNCF distribution set `storage.delete.enabled: true` in its "
    "configuration (or the environment variable REGISTRY_STORAGE_DELETE_ENABLED=true) and restart it"
)
#: The placeholder manifest of :meth:`RegistryWriter.delete_tag` carries these labels.
PLACEHOLDER_LABEL = "io.reginventory.placeholder"
#: The OCI empty descriptor's content (``application/vnd.oci.empty.v1+json``), used as a layer.
EMPTY_JSON = b"{}"
EMPTY_DIGEST = sha256_digest(EMPTY_JSON)
#: Pieces of at least this size are hashed by a worker thread (smaller ones inline).
THREADED_HASH_MIN_BYTES = 64 * 1024
#: Bytes that may wait for the hashing thread (a few socket reads of up to 1 MiB each): enough
#: to keep the thread busy while the loop receives, small enough to bound the memory per stream.
HASH_QUEUE_BYTES = 4 * 1024 * 1024

class StreamDigest:
    """Digest (and optionally write to a file) the pieces of a stream as they pass.

    Large pieces are hashed (and written) by a worker thread of this stream, in order, while the
    event loop goes on receiving and sending: hashlib and file writes release the GIL, so on two
    cores SHA-256 (about 380 MB/s here, no SHA extensions) no longer stalls the socket. At most
    :data:`HASH_QUEUE_BYTES` wait for the thread, which bounds the memory. ``size`` counts
    the bytes handed over; :meth:`flush` waits until they are hashed and written.
    """

    def __init__(self, digest: str, sink: Any = None) -> None:
        self.digest = validate_digest(digest)
        self._hash = hasher_for(digest)
        self._sink = sink
        self._worker: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[asyncio.Future[None], int]] = deque()
        self.queued = 0  # bytes handed to the thread and not yet hashed
        self.size = 0

    def _consume(self, piece: bytes | memoryview) -> None:
        self._hash.update(piece)
        if self._sink is not None:
            self._sink.write(piece)

    async def update(self, piece: bytes | memoryview) -> None:
        self.size += len(piece)
        if len(piece) < THREADED_HASH_MIN_BYTES and not self._pending:
            self._consume(piece)  # a thread hop costs more than hashing a small piece
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reginventory-digest")
        loop = asyncio.get_running_loop()
        self._pending.append((loop.run_in_executor(self._worker, self._consume, piece), len(piece)))
        self.queued += len(piece)
        while self.queued > HASH_QUEUE_BYTES:
            await self._wait_oldest()

    async def _wait_oldest(self) -> None:
        future, size = self._pending[0]
        await future
        self._pending.popleft()
        self.queued -= size

    def feed_sync(self, piece: bytes | memoryview) -> None:
        """Hash bytes that are already on disk (no write to the sink); usable from a worker thread."""
        self._hash.update(piece)
        self.size += len(piece)

    async def flush(self) -> None:
        """Wait until every piece handed over is hashed (and written)."""
        while self._pending:
            await self._wait_oldest()

    def close(self) -> None:
        """Finish the queued pieces and stop the worker thread (blocks for at most a few pieces)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        for future, _ in self._pending:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a failed write is reported by the caller's check
        self._pending.clear()
        self.queued = 0

    @property
    def actual(self) -> str:
        return f"{self.digest.split(':', 1)[0]}:{self._hash.hexdigest()}"

    async def check(self, **context: Any) -> None:
        """Raise DigestMismatchError unless the bytes seen hash to the digest."""
        await self.flush()
        if self.actual != self.digest:
            raise DigestMismatchError(f"blob bytes hash to {self.actual}, not {self.digest}", **context)


@dataclass(frozen=True)
class BlobSource:
    """Where a blob's bytes come from: ``open()`` starts a fresh stream (called again on retry).

    ``direct``, when given, says how a worker thread can read the same bytes itself (see
    :mod:`reginventory.client.bulk`).
    """

    digest: str
    size: int | None
    open: Callable[[], AsyncIterator[bytes]]
    direct: Callable[[], Awaitable[bulk.Source]] | None = None


def bytes_source(data: bytes, digest: str | None = None) -> BlobSource:
    """A BlobSource over bytes in memory (configs, small blobs)."""

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), BODY_PIECE_SIZE):
            yield data[start : start + BODY_PIECE_SIZE]

    return BlobSource(digest or sha256_digest(data), len(data), stream)


class _SourceReader:
    """Hands out a source stream's bytes in bounded takes, hashing them as they pass.

    A failure of the source is remembered in ``error``: raised inside a request body, it reaches
    the caller only as a broken connection, and the writer re-raises the real cause.
    """

    def __init__(self, stream: AsyncIterator[bytes], verifier: StreamDigest) -> None:
        self.stream = stream
        self.verifier = verifier
        self.error: BaseException | None = None
        self._carry: bytes | memoryview | None = None

    async def take(self, limit: int) -> bytes | memoryview | None:
        """At most ``limit`` (and at most BODY_PIECE_SIZE) bytes; None at the end of the stream."""
        if self._carry is not None:
            piece, self._carry = self._carry, None
        else:
            try:
                piece = await self.stream.__anext__()
                while not piece:
                    piece = await self.stream.__anext__()
            except StopAsyncIteration:
                return None
            except BaseException as exc:
                self.error = exc
                raise
            await self.verifier.update(piece)
        limit = min(limit, BODY_PIECE_SIZE)
        if len(piece) > limit:
            view = memoryview(piece)
            piece, self._carry = view[:limit], view[limit:]
        return piece


class _BodyReplayed(Exception):
    """A streamed request body was asked for a second time (a retry): it cannot be replayed."""


class _StreamBody:
    """One PATCH body: exactly the next ``length`` bytes of a source, streamed, not replayable."""

    def __init__(self, reader: _SourceReader, length: int, context: dict[str, Any]) -> None:
        self.reader = reader
        self.length = length
        self.context = context
        self._used = False

    async def __aiter__(self) -> AsyncIterator[bytes | memoryview]:
        if self._used:
            raise _BodyReplayed()
        self._used = True
        sent = 0
        while sent < self.length:
            piece = await self.reader.take(self.length - sent)
            if piece is None:
                # Ending early would leave the registry waiting for the rest: abort instead.
                self.reader.error = DigestMismatchError(
                    f"blob source ended after {self.reader.verifier.size} bytes, fewer than its size", **self.context
                )
                raise self.reader.error
            sent += len(piece)
            yield piece


class _Body:
    """A small request body held in memory; re-iterable, so it can be replayed after a 401 or a 5xx."""

    def __init__(self, pieces: Sequence[bytes | memoryview]) -> None:
        self.pieces = pieces
        self.size = sum(len(p) for p in pieces)

    async def __aiter__(self) -> AsyncIterator[bytes | memoryview]:
        for piece in self.pieces:
            view = memoryview(piece)
            for start in range(0, len(view), BODY_PIECE_SIZE):
                yield view[start : start + BODY_PIECE_SIZE]


@dataclass
class TransferStats:
    """What a push or a copy did with its blobs and manifests."""

    blobs_skipped: int = 0
    blobs_mounted: int = 0
    blobs_uploaded: int = 0
    bytes_uploaded: int = 0
    manifests_pushed: int = 0

    def count(self, outcome: str, size: int) -> None:
        if outcome == "exists":
            self.blobs_skipped += 1
        elif outcome == "mounted":
            self.blobs_mounted += 1
        else:
            self.blobs_uploaded += 1
            self.bytes_uploaded += size


@dataclass(frozen=True)
class DeleteReport:
    """What :meth:`RegistryWriter.delete_image` removed (or, with ``dry_run``, would remove).

    ``tags`` are every tag that pointed at ``digest`` (all disappear with it); ``children`` the
    index children deleted with it; ``blobs_deleted``/``blobs_kept`` the blobs of the deleted
    manifests, removed or kept because a remaining manifest of the repository references them.
    """

    repository: str
    digest: str
    media_type: str
    tags: tuple[str, ...]
    children: tuple[str, ...] = ()
    children_kept: tuple[str, ...] = ()
    blobs_deleted: tuple[str, ...] = ()
    blobs_kept: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class TagDeletion:
    """How :meth:`RegistryWriter.delete_tag` removed a tag: ``api`` or ``placeholder``."""

    repository: str
    tag: str
    digest: str
    method: str
    placeholder_digest: str | None = None


def manifest_blobs(manifest: Manifest) -> list[str]:
    """The blob digests a manifest references (config and layers; foreign layers excluded)."""
    if isinstance(manifest, ImageManifest):
        blobs = [manifest.config.digest] if manifest.config else []
        blobs += [layer.digest for layer in manifest.layers if not layer.foreign]
        return list(dict.fromkeys(blobs))
    if isinstance(manifest, Schema1Manifest):
        return list(dict.fromkeys(manifest.fs_layers))
    return []


def manifest_digest(raw: bytes, media_type: str) -> str:
    """The digest a registry gives these manifest bytes (schema1: over the signed payload)."""
    return sha256_digest(schema1_payload(raw) if media_type in mt.SCHEMA1_TYPES else raw)


def location_url(response: httpx.Response) -> httpx.URL:
    """The ``Location`` of an upload answer, resolved against the request URL, query kept."""
    value = response.headers.get("location")
    if not value:
        raise RegistryError(
            f"{response.request.method} {redact(response.request.url)}: answer {response.status_code} has no Location"
        )
    return response.request.url.join(value)


def with_digest(url: httpx.URL, digest: str) -> httpx.URL:
    """``url`` with ``digest=`` appended to its query, keeping the existing parameters verbatim."""
    query = url.query
    extra = b"digest=" + digest.replace(":", "%3A").encode()
    return url.copy_with(query=query + b"&" + extra if query else extra)


class RegistryWriter:
    """Write operations on one registry through a :class:`RegistryClient` (async).

    ``chunk_size`` bounds every PATCH and, with the blobs in flight, the memory an upload holds.
    """

    def __init__(self, client: RegistryClient, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if chunk_size < 64 * 1024:
            raise ValueError("chunk_size must be at least 64 KiB")
        self.client = client
        self.chunk_size = chunk_size
        self._foreign: httpx.AsyncClient | None = None
        self._spare_sessions: dict[str, list[httpx.URL]] = {}
        #: Large blobs moved by a worker thread (see :meth:`_upload_threaded`), and those it
        #: handed back to the async path.
        self.threaded_uploads = 0
        self.threaded_fallbacks = 0

    async def aclose(self) -> None:
        """Cancel unused upload sessions and close the client for foreign Locations."""
        for repository, urls in list(self._spare_sessions.items()):
            for url in urls:
                await self._cancel_upload(url, repository)
        self._spare_sessions.clear()
        if self._foreign is not None:
            await self._foreign.aclose()
            self._foreign = None

    async def __aenter__(self) -> RegistryWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests ---------------------------------------------------------------------------

    def _same_origin(self, url: httpx.URL) -> bool:
        base = httpx.URL(self.client.base_url)
        return origin(url) == origin(base)

    async def _send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        repository: str,
        reference: str | None = None,
        ok: tuple[int, ...],
        headers: dict[str, str] | None = None,
        content: Any = None,
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send through the client (auth, retries); a Location on another host goes without auth."""
        target = httpx.URL(str(url)) if not isinstance(url, httpx.URL) else url
        if target.is_relative_url or self._same_origin(target):
            return await self.client.send(
                method, target, repository=repository, reference=reference, ok=ok, headers=headers,
                content=content, extensions=extensions,
            )
        # Another host (a storage backend): our registry credentials must not travel there.
        if self._foreign is None:
            self._foreign = make_http_client(f"{target.scheme}://{target.netloc.decode()}", self.client.tls, max_in_flight=4)
        try:
            response = await self._foreign.send(
                self._foreign.build_request(method, target, headers=headers, content=content), stream=True
            )
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(
                f"cannot reach {redact(target)}: {type(exc).__name__}: {exc}", registry=self.client.host,
                repository=repository,
            ) from None
        if response.status_code not in ok:
            await self.client.raise_for(response, registry=self.client.host, repository=repository, reference=reference)
        return response

    async def _done(self, response: httpx.Response) -> httpx.Response:
        """Read (and drop) a small body so the connection is reused; return the response."""
        await self.client.read(response, MAX_ERROR_BYTES)
        return response

    # -- blobs ------------------------------------------------------------------------------

    async def blob_exists(self, repository: str, digest: str) -> bool:
        """True when the repository has the blob (HEAD)."""
        validate_repository(repository)
        return await self.client.head_blob(repository, validate_digest(digest)) is not None

    async def start_upload(
        self, repository: str, *, mount: str | None = None, mount_from: str | None = None
    ) -> httpx.URL | None:
        """Open an upload session and return its Location; ``None`` when the mount succeeded (201)."""
        validate_repository(repository)
        url = f"/v2/{repository}/blobs/uploads/"
        extensions = None
        if mount and mount_from:
            validate_repository(mount_from)
            url += f"?mount={validate_digest(mount)}&from={mount_from}"
            # The token must allow pull on the source too, or the registry silently answers 202.
            extensions = {EXTRA_SCOPES: [f"repository:{mount_from}:pull"]}
        elif self._spare_sessions.get(repository):
            return self._spare_sessions[repository].pop()
        response = await self._done(
            await self._send("POST", url, repository=repository, reference=mount, ok=(201, 202), extensions=extensions)
        )
        if response.status_code == 201:
            return None
        return location_url(response)

    async def _cancel_upload(self, location: httpx.URL, repository: str) -> None:
        """Best effort: cancel an upload session (needs the delete action on token registries)."""
        try:
            await self._done(await self._send("DELETE", location, repository=repository, ok=(204, 202, 200)))
        except RegistryError:
            pass  # the registry purges abandoned uploads itself

    async def check_push(self, repository: str) -> None:
        """Fail now, before any blob moves, when the credentials cannot push to ``repository``.

        Opens an upload session (what the first upload needs anyway) and keeps it for the first
        blob; :meth:`aclose` cancels it when unused.
        """
        validate_repository(repository)
        response = await self._done(
            await self._send("POST", f"/v2/{repository}/blobs/uploads/", repository=repository, ok=(202,))
        )
        self._spare_sessions.setdefault(repository, []).append(location_url(response))

    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount on the same registry; True when mounted, False when refused."""
        location = await self.start_upload(repository, mount=digest, mount_from=from_repository)
        if location is None:
            return True
        await self._cancel_upload(location, repository)
        return False

    async def upload_blob(self, repository: str, source: BlobSource, *, location: httpx.URL | None = None) -> str:
        """Upload a blob and return its digest.

        Up to :data:`MONOLITHIC_MAX_BYTES`: read whole, sent in the closing PUT. Larger: PATCHes
        of at most ``chunk_size`` bytes (``Content-Range``, ``Content-Length``), each body streamed
        from the source as it arrives, then an empty PUT ``?digest=``. The bytes are hashed as
        they pass; the PUT that commits the blob is only sent when they match the digest, so a
        corrupt source never becomes a blob.
        """
        validate_repository(repository)
        digest = validate_digest(source.digest)
        context = {"registry": self.client.host, "repository": repository, "reference": digest}
        if source.size is None:
            raise ValueError("upload_blob needs the blob's size (HEAD the source for it)")
        if location is None:
            location = await self.start_upload(repository)
            assert location is not None
        if source.size > MONOLITHIC_MAX_BYTES and source.direct is not None:
            moved = await self._upload_threaded(repository, source, location, context)
            if moved is None:
                return digest
            location = moved
        verifier = StreamDigest(digest)
        stream = source.open()
        reader = _SourceReader(stream, verifier)
        try:
            if source.size <= MONOLITHIC_MAX_BYTES:
                pieces: list[bytes | memoryview] = []
                while (piece := await reader.take(MONOLITHIC_MAX_BYTES + 1)) is not None:
                    pieces.append(bytes(piece))
                    if verifier.size > source.size:
                        break
                body = _Body(pieces)
                await verifier.check(**context)
                self._check_size(source, verifier, context)
                await self._done(
                    await self._send(
                        "PUT", with_digest(location, digest), repository=repository, reference=digest, ok=(201, 204),
                        headers={"Content-Type": "application/octet-stream", "Content-Length": str(body.size)},
                        content=body,
                    )
                )
                return digest
            offset = 0
            while offset < source.size:
                length = min(self.chunk_size, source.size - offset)
                body_stream = _StreamBody(reader, length, context)
                try:
                    location = await self._patch(repository, location, body_stream, offset, length, digest)
                except RegistryError:
                    if reader.error is not None:
                        raise reader.error from None  # the source failed, not the destination
                    raise
                offset += length
            await self._commit(repository, location, source, verifier, longer=await reader.take(1) is not None)
            return digest
        except asyncio.CancelledError:
            raise  # no network I/O while being cancelled; the registry purges the session
        except BaseException:
            await self._cancel_upload(location, repository)
            raise
        finally:
            verifier.close()
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # noqa: BLE001 - closing a failed source
                    pass

    async def _upload_threaded(
        self, repository: str, source: BlobSource, location: httpx.URL, context: dict[str, Any]
    ) -> httpx.URL | None:
        """Move a large blob by a worker thread (:func:`bulk.upload`) and commit it; None when
        done. When the thread cannot serve (:class:`bulk.NotServed`), the session's Location for
        the async path instead: the same one when no byte was sent, else a new session (the old
        one is cancelled). A digest or size mismatch raises, as on the async path."""
        assert source.direct is not None and source.size is not None
        spec = await source.direct()
        loop = asyncio.get_running_loop()

        def authorize(url: str) -> str | None:
            """In the thread: the known header, or one the loop fetches (a token that expired)."""
            known, value = self.client.known_authorization(httpx.URL(url), "PATCH")
            if known:
                return value
            fetching = asyncio.run_coroutine_threadsafe(self.client.authorization(httpx.URL(url), "PATCH"), loop)
            return fetching.result(timeout=TOKEN_WAIT_SECONDS)

        verifier = StreamDigest(source.digest)
        target = bulk.UploadTarget(str(location), authorize, self.client.tls, self.chunk_size)
        interrupt = bulk.Interrupt()
        moving = loop.run_in_executor(None, bulk.upload, spec, source.size, target, verifier, interrupt)
        try:
            uploaded = await moving
        except asyncio.CancelledError:
            interrupt.set()  # the thread stops at once; the registry purges the session
            raise
        except bulk.NotServed as exc:
            self.threaded_fallbacks += 1
            if not exc.sent:
                return location
            await self._cancel_upload(httpx.URL(exc.location or str(location)), repository)
            fresh = await self.start_upload(repository)
            assert fresh is not None
            return fresh
        last = httpx.URL(uploaded.location)
        try:
            self._check_size(source, verifier, context)
            await self._commit(repository, last, source, verifier, longer=uploaded.longer)
        except asyncio.CancelledError:
            raise
        except BaseException:
            await self._cancel_upload(last, repository)
            raise
        self.threaded_uploads += 1
        return None

    async def _commit(
        self, repository: str, location: httpx.URL, source: BlobSource, verifier: StreamDigest, *, longer: bool
    ) -> None:
        """Close a chunked upload (an empty PUT ``?digest=``) once its bytes are known to be the
        blob's: not ``longer`` than its size, and hashing to its digest."""
        context = {"registry": self.client.host, "repository": repository, "reference": source.digest}
        if longer:
            raise DigestMismatchError(f"blob source has more than its {source.size} bytes", **context)
        await verifier.check(**context)
        await self._done(
            await self._send(
                "PUT", with_digest(location, source.digest), repository=repository, reference=source.digest,
                ok=(201, 204), headers={"Content-Length": "0"},
            )
        )

    @staticmethod
    def _check_size(source: BlobSource, verifier: StreamDigest, context: dict[str, Any]) -> None:
        if source.size is not None and verifier.size != source.size:
            raise DigestMismatchError(f"blob has {verifier.size} bytes, its descriptor says {source.size}", **context)

    async def _patch(
        self, repository: str, location: httpx.URL, body: Any, offset: int, length: int, digest: str
    ) -> httpx.URL:
        end = offset + length - 1
        response = await self._send(
            "PATCH", location, repository=repository, reference=digest, ok=(202, 204),
            headers=bulk.patch_headers(offset, length), content=body,
        )
        await self._done(response)
        received = response.headers.get("range")
        if not bulk.holds_through(received, end):
            raise RegistryError(
                f"PATCH {redact(location)}: registry holds bytes {received}, expected 0-{end}",
                registry=self.client.host, repository=repository, reference=digest,
            )
        return location_url(response)

    async def push_blob(
        self, repository: str, source: BlobSource, *, mount_from: str | None = None, skip_existing: bool = True
    ) -> str:
        """Make the blob present in ``repository``: ``exists``, ``mounted`` or ``uploaded``.

        ``mount_from`` names a repository of the same registry that has the blob. Uploads that
        fail on the network are restarted from a new session (:data:`UPLOAD_ATTEMPTS` in all).
        """
        if skip_existing and await self.blob_exists(repository, source.digest):
            return "exists"
        location: httpx.URL | None = None
        if mount_from and mount_from != repository:
            location = await self.start_upload(repository, mount=source.digest, mount_from=mount_from)
            if location is None:
                return "mounted"
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                await self.upload_blob(repository, source, location=location)
                return "uploaded"
            except RegistryUnavailableError:
                if attempt == UPLOAD_ATTEMPTS:
                    raise
                location = None  # a new session; the old one is purged by the registry
        raise AssertionError("unreachable")  # pragma: no cover

    async def delete_blob(self, repository: str, digest: str) -> None:
        """Unlink a blob from a repository (``DELETE /blobs/<digest>``)."""
        validate_repository(repository)
        try:
            await self._done(
                await self._send(
                    "DELETE", f"/v2/{repository}/blobs/{validate_digest(digest)}", repository=repository,
                    reference=digest, ok=(202, 200, 204),
                )
            )
        except UnsupportedError as exc:
            raise _delete_refused(exc) from None

    # -- manifests --------------------------------------------------------------------------

    async def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        """PUT manifest bytes unchanged at a tag or digest; return the digest (checked)."""
        validate_repository(repository)
        if not SHA256_RE.match(reference):
            validate_tag(reference)
        expected = manifest_digest(raw, media_type)
        if SHA256_RE.match(reference) and reference != expected:
            raise DigestMismatchError(
                f"manifest bytes hash to {expected}", registry=self.client.host, repository=repository, reference=reference
            )
        response = await self._send(
            "PUT", f"/v2/{repository}/manifests/{reference}", repository=repository, reference=reference,
            ok=(201, 200, 204), headers={"Content-Type": media_type}, content=raw,
        )
        await self._done(response)
        announced = response.headers.get("docker-content-digest")
        if announced and announced != expected:
            raise DigestMismatchError(
                f"registry stored the manifest as {announced}, expected {expected}",
                registry=self.client.host, repository=repository, reference=reference,
            )
        return expected

    async def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest: every tag pointing at it goes too (no tags: by design)."""
        validate_repository(repository)
        if not SHA256_RE.match(digest):
            validate_digest(digest)
        try:
            await self._done(
                await self._send(
                    "DELETE", f"/v2/{repository}/manifests/{digest}", repository=repository, reference=digest,
                    ok=(202, 200, 204),
                )
            )
        except UnsupportedError as exc:
            raise _delete_refused(exc) from None

    async def tag_image(self, repository: str, reference: str, new_tag: str) -> str:
        """Put the manifest at ``reference`` under ``new_tag`` too (same bytes, same digest)."""
        validate_tag(new_tag)
        manifest = await self.client.get_manifest(repository, reference)
        return await self.put_manifest(repository, new_tag, manifest.raw, manifest.media_type)

    async def tags_for_digest(self, repository: str, digest: str, tags: Iterable[str] | None = None) -> list[str]:
        """Every tag of the repository whose manifest is ``digest`` (HEAD with the full Accept list)."""
        names = list(tags) if tags is not None else await self.client.list_tags(repository)
        slots = asyncio.Semaphore(HEAD_CONCURRENCY)

        async def resolve(tag: str) -> str | None:
            async with slots:
                try:
                    return (await self.client.head_manifest(repository, tag)).digest
                except NotFoundError:
                    return None  # deleted meanwhile

        digests = await asyncio.gather(*(resolve(t) for t in names))
        return sorted(t for t, d in zip(names, digests) if d == digest)

    async def _remaining(self, repository: str, tags: Iterable[str]) -> tuple[set[str], set[str]]:
        """(manifest digests, blob digests) reachable from ``tags`` (index children included)."""
        manifests: set[str] = set()
        blobs: set[str] = set()
        slots = asyncio.Semaphore(HEAD_CONCURRENCY)

        async def walk(reference: str) -> None:
            async with slots:
                try:
                    manifest = await self.client.get_manifest(repository, reference)
                except NotFoundError:
                    return
            if manifest.digest in manifests:
                return
            manifests.add(manifest.digest)
            blobs.update(manifest_blobs(manifest))
            if isinstance(manifest, IndexManifest):
                await asyncio.gather(*(walk(child.digest) for child in manifest.manifests))

        await asyncio.gather(*(walk(tag) for tag in tags))
        return manifests, blobs

    async def delete_image(
        self, repository: str, reference: str, *, layers: bool = False, children: bool = True, dry_run: bool = False
    ) -> DeleteReport:
        """Delete what ``reference`` points at, by digest, and report every tag that goes with it.

        The tag is resolved by HEAD with the full Accept list (fewer types make distribution pick
        or convert another manifest). ``children``: for an index, also delete its child manifests
        that no remaining tag reaches (distribution keeps them otherwise, with all their blobs).
        ``layers``: also unlink the blobs that no remaining manifest of the repository references;
        the others are listed in ``blobs_kept``. Untagged manifests cannot be listed through the
        API, so "remaining" means reachable from the remaining tags.
        """
        validate_repository(repository)
        head = await self.client.head_manifest(repository, reference)
        digest = head.digest
        all_tags = await self.client.list_tags(repository)
        tags = await self.tags_for_digest(repository, digest, all_tags)
        target = await self.client.get_manifest(repository, digest)
        child_digests = [c.digest for c in target.manifests] if isinstance(target, IndexManifest) else []
        doomed_children: list[str] = []
        kept_children: list[str] = []
        blobs_deleted: list[str] = []
        blobs_kept: list[str] = []
        child_manifests: list[Manifest] = []
        if (children and child_digests) or layers:
            remaining_manifests, remaining_blobs = await self._remaining(repository, [t for t in all_tags if t not in tags])
            if children:
                for child in dict.fromkeys(child_digests):
                    (kept_children if child in remaining_manifests else doomed_children).append(child)
                for child in doomed_children:
                    try:
                        child_manifests.append(await self.client.get_manifest(repository, child))
                    except NotFoundError:
                        pass
            if layers:
                candidates = list(dict.fromkeys(manifest_blobs(target) + [b for m in child_manifests for b in manifest_blobs(m)]))
                for blob in candidates:
                    (blobs_kept if blob in remaining_blobs else blobs_deleted).append(blob)
        report = DeleteReport(
            repository=repository, digest=digest, media_type=target.media_type, tags=tuple(tags),
            children=tuple(doomed_children), children_kept=tuple(kept_children),
            blobs_deleted=tuple(blobs_deleted), blobs_kept=tuple(blobs_kept), dry_run=dry_run,
        )
        if dry_run:
            return report
        # Re-check right before deleting: a tag that moved since must not lose its new manifest.
        if reference != digest and not SHA256_RE.match(reference):
            now = await self.client.head_manifest(repository, reference)
            if now.digest != digest:
                raise RegistryError(
                    f"tag moved from {digest} to {now.digest} while preparing the delete; nothing deleted",
                    registry=self.client.host, repository=repository, reference=reference,
                )
        await self.delete_manifest(repository, digest)
        for child in doomed_children:
            try:
                await self.delete_manifest(repository, child)
            except NotFoundError:
                pass
        for blob in blobs_deleted:
            try:
                await self.delete_blob(repository, blob)
            except NotFoundError:
                pass
        return report

    async def delete_tag(self, repository: str, tag: str) -> TagDeletion:
        """Remove one tag, keeping its manifest and the other tags that point at it.

        1. ``DELETE /manifests/<tag>`` (OCI tag deletion): 202 means done.
        2. Otherwise (distribution 2.x answers 400 ``DIGEST_INVALID``): check that deletes are enabled
           at all, by deleting a digest that cannot exist (404 = enabled; 405 = disabled, raise
           before anything is pushed, or the tag would be left on the placeholder).
        3. Push a small placeholder image, unique (a UUID and the time in its config), to the
           tag: the tag now points at it alone. Its digest was checked absent beforehand.
        4. Delete the placeholder by digest: the tag goes with it, the original image stays.
        """
        validate_repository(repository)
        validate_tag(tag)
        head = await self.client.head_manifest(repository, tag)
        try:
            await self._done(
                await self._send(
                    "DELETE", f"/v2/{repository}/manifests/{tag}", repository=repository, reference=tag, ok=(202, 200, 204)
                )
            )
            # A registry that took the tag for its manifest would have deleted every tag of it: say so.
            try:
                await self.client.head_manifest(repository, head.digest)
            except NotFoundError:
                raise RegistryError(
                    f"the registry deleted manifest {head.digest} (and every tag of it), not only the tag",
                    registry=self.client.host, repository=repository, reference=tag,
                ) from None
            return TagDeletion(repository, tag, head.digest, "api")
        except (UnauthorizedError, ForbiddenError, RegistryUnavailableError):
            raise
        except RegistryError as exc:
            if exc.status not in (400, 404, 405) and not ({"UNSUPPORTED", "DIGEST_INVALID"} & set(exc.codes)):
                raise
        await self._require_deletes(repository)
        raw, media_type, config = placeholder_manifest(tag, docker=head.media_type in (mt.DOCKER_SCHEMA2, mt.DOCKER_LIST))
        placeholder = manifest_digest(raw, media_type)
        try:
            await self.client.head_manifest(repository, placeholder)
            raise RegistryError(
                f"placeholder {placeholder} already exists; refusing to delete it", registry=self.client.host,
                repository=repository, reference=tag,
            )
        except NotFoundError:
            pass
        await self.push_blob(repository, bytes_source(config))
        await self.push_blob(repository, bytes_source(EMPTY_JSON))
        # The tag may have moved since the HEAD: do not move it again, it is someone else's now.
        now = await self.client.head_manifest(repository, tag)
        if now.digest != head.digest:
            raise RegistryError(
                f"tag moved from {head.digest} to {now.digest}; not deleted", registry=self.client.host,
                repository=repository, reference=tag,
            )
        await self.put_manifest(repository, tag, raw, media_type)
        await self.delete_manifest(repository, placeholder)
        return TagDeletion(repository, tag, head.digest, "placeholder", placeholder)

    async def _require_deletes(self, repository: str) -> None:
        """Raise UnsupportedError (with the fix) when the registry refuses every delete."""
        probe = sha256_digest(f"reginventory-delete-probe-{uuid.uuid4()}".encode())
        try:
            await self._done(
                await self._send(
                    "DELETE", f"/v2/{repository}/manifests/{probe}", repository=repository, reference=probe,
                    ok=(202, 200, 204, 404),
                )
            )
        except UnsupportedError as exc:
            raise _delete_refused(exc) from None


def placeholder_manifest(tag: str, *, docker: bool = False) -> tuple[bytes, str, bytes]:
    """(manifest bytes, media type, config bytes) of a tiny unique image to take a tag's place.

    Its config is a real image config (some registries check config media types) with labels
    naming the tag, the time and a UUID, so its digest has never been seen; its one layer is the
    OCI empty blob ``{}``. Docker schema2 when the tag held a Docker manifest (registries that
    refuse OCI accept it), OCI otherwise.
    """
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    config = json.dumps(
        {
            "created": now,
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {PLACEHOLDER_LABEL: str(uuid.uuid4()), f"{PLACEHOLDER_LABEL}.tag": tag}},
            "rootfs": {"type": "layers", "diff_ids": [EMPTY_DIGEST]},
            "history": [{"created": now, "created_by": "reginventory delete-tag placeholder"}],
        },
        separators=(",", ":"),
    ).encode()
    media_type = mt.DOCKER_SCHEMA2 if docker else mt.OCI_MANIFEST
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": mt.DOCKER_LAYER if docker else mt.OCI_LAYER_GZIP, "digest": EMPTY_DIGEST, "size": len(EMPTY_JSON)}],
    }
    return json.dumps(body, separators=(",", ":")).encode(), media_type, config


def _delete_refused(exc: UnsupportedError) -> UnsupportedError:
    return UnsupportedError(
        f"{DELETE_HINT} ({exc.message})", registry=exc.registry, repository=exc.repository,
        reference=exc.reference, status=exc.status, codes=exc.codes, detail=exc.detail,
    )


async def gather_limited(limit: int, tasks: Iterable[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run coroutine factories with at most ``limit`` at a time; the first failure cancels the rest."""
    slots = asyncio.Semaphore(limit)

    async def run(factory: Callable[[], Awaitable[Any]]) -> Any:
        async with slots:
            return await factory()

    pending = [asyncio.ensure_future(run(f)) for f in tasks]
    try:
        return await asyncio.gather(*pending)
    except BaseException:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        raise


__all__ = [
    "BlobSource", "DEFAULT_CHUNK_SIZE", "DELETE_HINT", "DeleteReport", "RegistryWriter", "StreamDigest",
    "TagDeletion", "TransferStats", "bytes_source", "gather_limited", "location_url", "manifest_blobs",
    "manifest_digest", "placeholder_manifest", "with_digest",
]

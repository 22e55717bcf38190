"""A blob's bytes moved by a worker thread over blocking sockets, hashed as they pass.

The source is a registry GET or a file; the sink is the PATCH requests of an upload session. The
thread loops ``readinto`` -> ``hash`` -> ``sendall`` over one reused 1 MiB buffer, so a blob costs
the hash, the kernel's copies and about nothing else. The async pipeline pays the event loop,
httpx and aiohttp for every piece on top: ``benchmarks/bench_upload_paths.py`` measures the
thread at 0.86x the client CPU of the async path on a 512 MiB blob, and on two cores shared with
both registries, CPU is what a copy's speed is made of. hashlib and socket calls release the GIL,
so several blobs move in parallel.

The thread serves the plain case only, with what the async client holds: the TLS context of
its :class:`TLSOptions`, the ``Authorization`` of the source GET (its token fetched before the
thread starts), and for each PATCH the one ``UploadTarget.authorize`` gives (a token about to
expire during a long upload is renewed by the event loop in between). A source redirect is followed as httpx does it (at most
:data:`MAX_REDIRECTS`, no ``Authorization`` off the registry's origin, never from https down to
http). Anything else (a 401, a status it does not expect, a cut connection) raises
:class:`NotServed`, and the caller moves the blob through the async path, which owns the auth
flow, the retries and the error messages. The digest is the caller's to check: a mismatch is
final, never a reason to try again.
"""

from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Union

import httpx

from reginventory.client.transport import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_REDIRECTS,
    READ_TIMEOUT_SECONDS,
    USER_AGENT,
    TLSOptions,
    origin,
)

#: Bytes read, hashed and sent per step: large enough that the per-step work vanishes, small
#: enough to stay in the CPU cache while it is hashed and sent.
PIECE_SIZE = 1024 * 1024
#: An answer to a PATCH is read up to this size (distribution's is empty).
MAX_ANSWER_BYTES = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

__all__ = [
    "FileSource", "HttpSource", "Interrupt", "NotServed", "UploadTarget", "Uploaded", "holds_through", "patch_headers",
    "upload",
]


class NotServed(Exception):
    """The thread cannot move this blob; ``sent`` says whether bytes reached the upload session
    (it then holds a partial blob and must be cancelled)."""

    def __init__(self, reason: str, *, sent: bool = False) -> None:
        super().__init__(reason)
        self.sent = sent
        #: The session's last known Location (to cancel it with).
        self.location: str | None = None


class Interrupt:
    """Stops a transfer from another thread: :meth:`set` makes the thread stop at its next piece
    and shuts its sockets down, so a blocked ``recv`` or ``send`` returns at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if connection.sock is not None:
                self._sockets.append(connection.sock)
        if self._event.is_set():
            self.set()

    def set(self) -> None:
        self._event.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def check(self) -> None:
        if self._event.is_set():
            raise NotServed("interrupted")


class Digester(Protocol):
    """What hashes the bytes (``StreamDigest.feed_sync``)."""

    def feed_sync(self, piece: bytes | memoryview) -> None: ...


@dataclass(frozen=True)
class HttpSource:
    """A blob GET: ``url``, and the ``authorization`` that goes to that URL's origin only."""

    url: str
    authorization: str | None
    tls: TLSOptions


@dataclass(frozen=True)
class FileSource:
    """A blob in a file."""

    path: Path


Source = Union[HttpSource, FileSource]


@dataclass(frozen=True)
class UploadTarget:
    """An upload session: its ``location``, the largest PATCH to send, and ``authorize``, which
    gives the ``Authorization`` for a PATCH to a URL (None for none), asked before each PATCH so
    that a token that expires during a long upload is renewed."""

    location: str
    authorize: Callable[[str], str | None]
    tls: TLSOptions
    chunk_size: int


@dataclass(frozen=True)
class Uploaded:
    """What the thread left: the session's last ``location``, and whether the source had bytes
    beyond the expected size (``longer``). A source that ended early shows in the digester's count."""

    location: str
    longer: bool


def patch_headers(offset: int, length: int) -> dict[str, str]:
    """The headers of a PATCH that carries bytes ``offset`` to ``offset + length - 1`` of a blob
    (both upload paths send exactly these)."""
    return {
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{offset}-{offset + length - 1}",
        "Content-Length": str(length),
    }


def holds_through(received: str | None, end: int) -> bool:
    """Whether a PATCH answer's ``Range`` (absent: not said) agrees that the registry holds bytes
    0 to ``end``."""
    return not received or received.strip() == f"0-{end}"


def _connect(url: httpx.URL, tls: TLSOptions, interrupt: Interrupt) -> http.client.HTTPConnection:
    if url.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            url.host, url.port, timeout=CONNECT_TIMEOUT_SECONDS, context=tls.ssl_context()
        )
    elif url.scheme == "http":
        connection = http.client.HTTPConnection(url.host, url.port, timeout=CONNECT_TIMEOUT_SECONDS)
    else:
        raise NotServed(f"scheme {url.scheme!r}")
    connection.connect()
    assert connection.sock is not None
    connection.sock.settimeout(READ_TIMEOUT_SECONDS)
    interrupt.watch(connection)
    return connection


def _target(url: httpx.URL) -> str:
    return url.raw_path.decode("ascii")


class _Connections:
    """One keep-alive connection per origin, closed together."""

    def __init__(self, tls: TLSOptions, interrupt: Interrupt) -> None:
        self.tls = tls
        self.interrupt = interrupt
        self._open: dict[tuple[str, str, int | None], http.client.HTTPConnection] = {}

    def get(self, url: httpx.URL) -> http.client.HTTPConnection:
        key = origin(url)
        if key not in self._open:
            self._open[key] = _connect(url, self.tls, self.interrupt)
        return self._open[key]

    def drop(self, url: httpx.URL) -> None:
        """Close the connection to ``url``'s origin (an answer left unread would spoil it)."""
        connection = self._open.pop(origin(url), None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()
        self._open.clear()


class _Reader(Protocol):
    def readinto(self, buffer: memoryview) -> int: ...


def _open_get(source: HttpSource, connections: _Connections) -> http.client.HTTPResponse:
    """GET the blob, following redirects the way httpx does; a 200 answer, or NotServed."""
    registry = httpx.URL(source.url)
    url = registry
    for _ in range(MAX_REDIRECTS + 1):
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if source.authorization is not None and origin(url) == origin(registry):
            headers["Authorization"] = source.authorization
        connection = connections.get(url)
        connection.request("GET", _target(url), headers=headers)
        response = connection.getresponse()
        if response.status == 200 and response.getheader("content-encoding", "identity") == "identity":
            return response
        location = response.getheader("location")
        connections.drop(url)
        if response.status not in _REDIRECTS or not location:
            raise NotServed(f"GET answered {response.status}")
        following = url.join(location)
        if following.scheme not in ("http", "https") or (url.scheme, following.scheme) == ("https", "http"):
            raise NotServed(f"redirect to {following.scheme}")
        url = following
    raise NotServed("too many redirects")


def _patch(
    connection: http.client.HTTPConnection, url: httpx.URL, target: UploadTarget, reader: _Reader, buffer: memoryview,
    offset: int, length: int, digester: Digester, interrupt: Interrupt,
) -> tuple[httpx.URL, int]:
    """Send one PATCH of ``length`` bytes from ``reader``; return the next Location and the bytes
    sent (fewer than ``length`` when the source ended early: the request is then abandoned)."""
    try:
        authorization = target.authorize(str(url))
    except Exception as exc:  # noqa: BLE001 - whatever it is, the async path reports it
        raise NotServed(f"no authorization: {type(exc).__name__}") from None
    headers = {"User-Agent": USER_AGENT, **patch_headers(offset, length)}
    if authorization is not None:
        headers["Authorization"] = authorization
    connection.putrequest("PATCH", _target(url), skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    sent = 0
    while sent < length:
        interrupt.check()
        count = reader.readinto(buffer[: min(len(buffer), length - sent)])
        if not count:
            return url, sent
        piece = buffer[:count]
        digester.feed_sync(piece)
        connection.send(piece)
        sent += count
    response = connection.getresponse()
    response.read(MAX_ANSWER_BYTES)
    if not response.isclosed():
        connection.close()  # a longer answer is left unread: this connection is spent
    received = response.getheader("range")
    location = response.getheader("location")
    if response.status not in (202, 204) or not location:
        raise NotServed(f"PATCH answered {response.status}", sent=True)
    if not holds_through(received, offset + length - 1):
        raise NotServed(f"registry holds bytes {received}", sent=True)
    return url.join(location), sent


def upload(source: Source, size: int, target: UploadTarget, digester: Digester, interrupt: Interrupt) -> Uploaded:
    """Move ``size`` bytes of ``source`` into the upload session, in PATCHes of at most
    ``target.chunk_size`` bytes, feeding each piece to ``digester``. Blocking: run it in a thread.

    Raises NotServed when something other than the plain case happens (see the module's text).
    """
    connections = _Connections(target.tls, interrupt)
    sources = _Connections(source.tls, interrupt) if isinstance(source, HttpSource) else None
    buffer = memoryview(bytearray(PIECE_SIZE))
    file = None
    sent = 0
    patching = False
    url = httpx.URL(target.location)
    try:
        try:
            declared = None
            if isinstance(source, FileSource):
                file = open(source.path, "rb", buffering=0)
                reader: _Reader = file
            else:
                assert sources is not None
                response = _open_get(source, sources)
                declared = response.getheader("content-length")
                if declared is not None and declared != str(size):
                    raise NotServed(f"GET declares {declared} bytes")
                reader = response
            patching = True  # from here on, the session may hold bytes
            while sent < size:
                length = min(target.chunk_size, size - sent)
                url, count = _patch(
                    connections.get(url), url, target, reader, buffer, sent, length, digester, interrupt
                )
                sent += count
                if count < length:
                    if declared is not None:
                        raise NotServed(f"GET cut after {sent} of {size} bytes")  # its length was promised
                    return Uploaded(str(url), False)
            return Uploaded(str(url), reader.readinto(buffer[:1]) > 0)
        except (OSError, http.client.HTTPException) as exc:
            failure = NotServed(f"{type(exc).__name__}: {exc}", sent=patching)
            failure.location = str(url)
            raise failure from None
        except NotServed as exc:
            exc.sent = exc.sent or patching
            exc.location = str(url)
            raise
    finally:
        if file is not None:
            file.close()
        connections.close()
        if sources is not None:
            sources.close()

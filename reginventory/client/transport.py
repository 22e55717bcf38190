"""The HTTP layer: TLS options, scheme rules, retries, rate limits, and the httpx client.

httpx gives the API (requests, auth flows, redirects that drop ``Authorization`` across hosts);
the ``httpx-aiohttp`` transport gives the speed: on this project's benchmark (manifest GETs against
distribution 2.8 on 2 cores) it serves about 1.6x the requests per second of httpx's own pool.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from email.utils import parsedate_to_datetime
from typing import AsyncIterator, Mapping

import aiohttp
import httpx
from aiohttp import ClientResponse, ClientSession
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

from reginventory import __version__
from reginventory.client.auth import is_loopback
from reginventory.client.reference import split_registry_url
from reginventory.client.startup import wait_for_ca_stores

USER_AGENT = f"reginventory/{__version__}"
#: Requests in flight per registry by default: distribution on 2 cores peaks near 8-16.
DEFAULT_MAX_IN_FLIGHT = 16
#: Generous timeouts: a slow registry is not a dead one, but nothing waits forever.
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0
#: Statuses worth retrying: request timeout, rate limit, and the server's transient failures.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_REDIRECTS = 10
#: A response body of at least this many bytes (a blob) is received in socket reads of up to
#: :data:`LARGE_BODY_RECV_BYTES`, instead of asyncio's 256 KiB: a quarter of the reads, and of the
#: trips of each piece through the parser, the streams, the hash and the upload. Measured on a
#: 1 GiB copy between two local registries: ~3,800 pieces become ~1,000.
LARGE_BODY_MIN_BYTES = 4 * 1024 * 1024
LARGE_BODY_RECV_BYTES = 1024 * 1024



def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """A URL's origin (scheme, host, port): credentials go to the registry's origin only."""
    return url.scheme, url.host, url.port


@dataclass(frozen=True)
class TLSOptions:
    """TLS settings: verification is on unless ``no_verify``; ``ca_bundle`` adds trusted CAs;
    ``cert`` is a client certificate file (or a (cert, key) pair)."""

    no_verify: bool = False
    ca_bundle: str | None = None
    cert: str | tuple[str, str] | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """The SSL context of these options, shared by every client that uses them.

        Loading the system CA store costs tens of milliseconds; a context is safe to share.
        """
        return _ssl_context(self)

    def aiohttp_ssl(self) -> ssl.SSLContext | bool:
        """What aiohttp's connector gets: ``True`` (aiohttp's own verified context, with the system
        CA store loaded beside the start: see :mod:`reginventory.client.startup`) for the default
        options, this options' context otherwise."""
        return True if self == TLSOptions() else self.ssl_context()

    def _build_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_bundle)
        if self.no_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert:
            certfile, keyfile = (self.cert, None) if isinstance(self.cert, str) else self.cert
            context.load_cert_chain(certfile, keyfile)
        return context


@lru_cache(maxsize=16)
def _ssl_context(options: TLSOptions) -> ssl.SSLContext:
    return options._build_ssl_context()


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter, honouring ``Retry-After``."""

    attempts: int = 5
    base_seconds: float = 0.25
    max_wait_seconds: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based), without a server hint."""
        return random.uniform(0, min(self.max_wait_seconds, self.base_seconds * 2 ** (attempt - 1)))


NO_RETRIES = RetryPolicy(attempts=1)


def resolve_base_url(registry: str, *, plain_http: bool = False) -> tuple[str, str]:
    """(base URL, host) for a registry: HTTPS unless the URL says http, ``plain_http`` is set,
    or the host is loopback (as docker and crane allow)."""
    scheme, host = split_registry_url(registry)
    if scheme is None:
        scheme = "http" if plain_http or is_loopback(host) else "https"
    return f"{scheme}://{host}", host


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's wait hint: ``Retry-After`` (seconds or an HTTP date), else ``RateLimit-Reset``
    when ``RateLimit-Remaining`` is 0."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    remaining, reset = headers.get("ratelimit-remaining"), headers.get("ratelimit-reset")
    if remaining is not None and reset is not None:
        try:
            if float(remaining.split(";")[0]) <= 0:
                return max(0.0, float(reset.split(";")[0]))
        except ValueError:
            return None
    return None


class RateLimiter:
    """At most ``rate`` request starts per second (None: unlimited), plus pauses a server asks for."""

    def __init__(self, rate: float | None = None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a 429 or an exhausted RateLimit budget)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        if not self.interval and self._paused_until <= time.monotonic():
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._paused_until)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


async def iter_received(response: ClientResponse) -> AsyncIterator[bytes]:
    """An aiohttp response's body, each read as it arrived; aiohttp's errors as httpx's."""
    with map_aiohttp_exceptions():
        async for chunk in response.content.iter_any():
            yield chunk


class ReceivedBytesStream(httpx.AsyncByteStream):
    """A response body as aiohttp receives it: each read as it arrived, without re-chunking.

    httpx-aiohttp re-chunks bodies into fixed pieces, which joins and slices (copies) every
    read; a 1 GiB blob then costs a second of CPU more than the socket reads themselves.
    """

    def __init__(self, stream: AiohttpResponseStream) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        return iter_received(self._stream._aiohttp_response)

    async def aclose(self) -> None:
        await self._stream.aclose()


def receive_in_large_pieces(response: ClientResponse) -> None:
    """Let a plain TCP connection read up to LARGE_BODY_RECV_BYTES per ``recv`` from now on.

    asyncio's selector transport reads ``max_size`` bytes at a time (256 KiB by default); a TLS
    transport has no such attribute and keeps its own sizes.
    """
    connection = response.connection
    transport = connection.transport if connection is not None else None
    if transport is not None and getattr(transport, "max_size", LARGE_BODY_RECV_BYTES) < LARGE_BODY_RECV_BYTES:
        transport.max_size = LARGE_BODY_RECV_BYTES  # type: ignore[attr-defined]


class RegistryTransport(AiohttpTransport):
    """The aiohttp transport, with three changes.

    - A body-less redirect is sent body-less: httpx rebuilds a 307 redirect with a stream body,
      which the aiohttp transport would send chunked even for a GET; reading the (empty)
      stream first makes it a plain request.
    - Response bodies stream as received (:class:`ReceivedBytesStream`).
    - Large bodies are received in large pieces (:func:`receive_in_large_pieces`).

    The TLS context is given to aiohttp's connector when the first request is sent
    (:meth:`TLSOptions.aiohttp_ssl`), not built by httpx.
    """

    def __init__(self, tls: TLSOptions, *, limits: httpx.Limits) -> None:
        # verify=False only keeps httpx from loading a CA store here: get_client() builds the
        # connector, with the real TLS settings, and nothing else reads ssl_context.
        super().__init__(verify=False, limits=limits, trust_env=False)
        self.ssl_context = None  # type: ignore[assignment]
        self.tls = tls

    def get_client(self) -> ClientSession:
        """The aiohttp session: a TCP connector with the TLS settings and the connection limit."""
        wait_for_ca_stores()  # aiohttp's default contexts are used for ssl=True
        limit = {"limit": self.limits.max_connections} if self.limits.max_connections is not None else {}
        connector = aiohttp.TCPConnector(keepalive_timeout=self.limits.keepalive_expiry, ssl=self.tls.aiohttp_ssl(), **limit)
        return ClientSession(connector=connector)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("GET", "HEAD", "DELETE"):
            try:
                request.content
            except httpx.RequestNotRead:
                await request.aread()
        response = await super().handle_async_request(request)
        if isinstance(response.stream, AiohttpResponseStream):
            received = response.stream._aiohttp_response
            if (received.content_length or 0) >= LARGE_BODY_MIN_BYTES:
                receive_in_large_pieces(received)
            response.stream = ReceivedBytesStream(response.stream)
        return response

    def session(self) -> ClientSession:
        """The aiohttp session (and connection pool) under this transport, made on first use."""
        if not isinstance(self.client, ClientSession):
            self.client = self.get_client()
        return self.client


def make_transport(tls: TLSOptions, *, max_in_flight: int) -> RegistryTransport:
    """The aiohttp transport with at most ``max_in_flight`` connections."""
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    return RegistryTransport(tls, limits=limits)


def make_http_client(
    base_url: str, tls: TLSOptions, *, max_in_flight: int, auth: httpx.Auth | None = None,
    transport: RegistryTransport | None = None,
) -> httpx.AsyncClient:
    """An httpx AsyncClient over the aiohttp transport (``transport``, or a new one), following
    redirects safely."""
    transport = transport or make_transport(tls, max_in_flight=max_in_flight)
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        auth=auth,
        follow_redirects=True,  # httpx drops Authorization when a redirect leaves the origin
        max_redirects=MAX_REDIRECTS,
        timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        # Bodies are read raw (digests are of the bytes as stored, and reads are capped before
        # decoding): ask every server, proxies included, not to compress them.
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        trust_env=False,
    )

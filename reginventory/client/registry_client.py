"""The registry operations over HTTP (async): ping, catalog, tags, manifests, blobs, referrers.

One :class:`RegistryClient` talks to one registry host with bounded requests in flight, an
optional requests-per-second limit, bounded retries, and one auth object shared by every request.
Everything fetched by digest is verified; manifests and error bodies are read with a size cap.
The write operations (push, mount, delete) live in :mod:`reginventory.client.registry_writer`.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, NamedTuple, TypeVar, Union

import aiohttp
import httpx
from httpx_aiohttp.transport import map_aiohttp_exceptions

from reginventory.client import bulk
from reginventory.client import mediatypes as mt
from reginventory.client.auth import RegistryAuth
from reginventory.client.credentials import Credentials, resolve_credentials
from reginventory.client.digest import compute_like
from reginventory.client.image_info import ImageInfo, image_info
from reginventory.client.manifest import (
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    Descriptor,
    ImageConfig,
    ImageManifest,
    IndexManifest,
    Manifest,
    Schema1Manifest,
    parse_image_config,
    parse_manifest,
    schema1_payload,
    select_platform,
)
from reginventory.client.platform import Platform, host_platform
from reginventory.client.reference import SHA256_RE, validate_repository
from reginventory.client.transport import (
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_MAX_IN_FLIGHT,
    READ_TIMEOUT_SECONDS,
    RETRY_STATUSES,
    USER_AGENT,
    RateLimiter,
    RetryPolicy,
    TLSOptions,
    make_http_client,
    iter_received,
    make_transport,
    origin,
    resolve_base_url,
    retry_after_seconds,
)
from reginventory.errors import (
    DigestMismatchError,
    ForbiddenError,
    ManifestError,
    NotFoundError,
    PlatformNotFoundError,
    RateLimitedError,
    RegistryError,
    RegistryUnavailableError,
    UnauthorizedError,
    UnsupportedError,
)

#: ECR refuses page sizes over 1000, and distribution too (PAGINATION_NUMBER_INVALID).
PAGE_SIZE = 1000
#: Error bodies are read up to this size: enough for any JSON error, not for a hostile stream.
MAX_ERROR_BYTES = 64 * 1024
#: A server hint longer than this is not waited for: the request fails with RateLimitedError.
MAX_RETRY_AFTER_SECONDS = 60.0
_LINK_RE = re.compile(r'<([^>]*)>\s*;[^,]*rel="?next"?')
#: Headers of a manifest request. Bodies are read raw (digests are of the bytes as stored), so
#: no compression is asked for.
MANIFEST_HEADERS = {"Accept": mt.ACCEPT, "Accept-Encoding": "identity", "User-Agent": USER_AGENT}
#: Headers of a catalog or tag list page (JSON, read raw).
LIST_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": USER_AGENT}
#: The httpx client's timeouts, as aiohttp takes them (``connect`` includes waiting for the pool).
_LEAN_TIMEOUT = aiohttp.ClientTimeout(
    sock_connect=CONNECT_TIMEOUT_SECONDS, sock_read=READ_TIMEOUT_SECONDS, connect=READ_TIMEOUT_SECONDS
)


@dataclass(frozen=True)
class ManifestHead:
    """What a HEAD (or a GET) says about a manifest without parsing it."""

    digest: str
    media_type: str
    size: int


def next_link(response: httpx.Response | LeanResponse) -> str | None:
    """The ``rel="next"`` URL of a paged answer, resolved against the request URL, verbatim;
    a path when it stays on the request's host."""
    header = response.headers.get("link")
    if not header:
        return None
    match = _LINK_RE.search(header)
    if not match:
        return None
    request_url = httpx.URL(str(response.request.url))
    url = request_url.join(match.group(1))
    if (url.scheme, url.netloc) == (request_url.scheme, request_url.netloc):
        return url.raw_path.decode("ascii")
    return str(url)


def redact(url: httpx.URL | str) -> str:
    """A URL fit for a message: no user info, no query (upload states and tokens live there)."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


class LeanRequest(NamedTuple):
    method: str
    url: str


class LeanResponse:
    """A response of the lean manifest path: aiohttp's, seen through the few ``httpx.Response``
    attributes the client reads (status, headers, reason, request, raw body, close)."""

    __slots__ = ("_raw", "request")

    def __init__(self, raw: aiohttp.ClientResponse, request: LeanRequest) -> None:
        self._raw = raw
        self.request = request

    @property
    def status_code(self) -> int:
        return self._raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._raw.headers

    @property
    def reason_phrase(self) -> str:
        return self._raw.reason or ""

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return iter_received(self._raw)

    async def aclose(self) -> None:
        self._raw.release()


#: A streamed response: httpx's, or the lean path's.
AnyResponse = Union[httpx.Response, LeanResponse]
R = TypeVar("R", bound=AnyResponse)


def _error_codes(body: bytes) -> tuple[list[str], str | None]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [], None
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return [], None
    codes = [str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")]
    messages = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
    return codes, "; ".join(messages) or None


class RegistryClient:
    """Async operations against one registry. Use ``async with`` or call :meth:`aclose`."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        username: str | None = None,
        password: str | None = None,
        use_docker_config: bool = True,
        tls: TLSOptions = TLSOptions(),
        plain_http: bool = False,
        allow_insecure: bool = False,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        rate: float | None = None,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.base_url, self.host = resolve_base_url(registry, plain_http=plain_http)
        if credentials is None:
            credentials = resolve_credentials(self.host, username, password, use_docker_config=use_docker_config)
        self.auth = RegistryAuth(credentials, allow_insecure=allow_insecure)
        self.tls = tls
        self.retry = retry
        self.max_in_flight = max_in_flight
        self._transport = make_transport(tls, max_in_flight=max_in_flight)
        self._http = make_http_client(
            self.base_url, tls, max_in_flight=max_in_flight, auth=self.auth, transport=self._transport
        )
        self._base = httpx.URL(self.base_url)
        #: Reads take the lean path until the registry redirects one (see _lean_send).
        self._lean = True
        self._token_http = make_http_client(self.base_url, tls, max_in_flight=4)
        self.auth.bind(self._token_http.send)
        self._slots = asyncio.Semaphore(max_in_flight)
        self.limiter = RateLimiter(rate)
        #: Requests sent (retries and auth round trips included), and of those, retries.
        self.requests = 0
        self.retries = 0

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._token_http.aclose()

    # -- the request loop -------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        repository: str | None = None,
        reference: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send a request with retries; return the streamed response (status in ``ok``) or raise.

        The caller reads the body (:meth:`read`) or closes the response.
        """
        context = {"registry": self.host, "repository": repository, "reference": reference}

        def attempt() -> Awaitable[httpx.Response]:
            request = self._http.build_request(
                method, url, headers=headers, content=content, params=params, extensions=extensions
            )
            return self._http.send(request, stream=True)

        response = await self._retrying(attempt, url, context)
        if response.status_code not in ok:
            await self.raise_for(response, **context)
        return response

    async def _manifest_request(
        self, method: str, repository: str, reference: str, *, if_none_match: str | None = None
    ) -> AnyResponse:
        """HEAD or GET a manifest (:meth:`_lean_request`); ``if_none_match`` makes the request
        conditional: a 304 is then an answer too."""
        validate_repository(repository)
        headers = MANIFEST_HEADERS if if_none_match is None else {**MANIFEST_HEADERS, "If-None-Match": if_none_match}
        ok = (200, 304) if if_none_match else (200,)
        return await self._lean_request(
            method, f"/v2/{repository}/manifests/{reference}", headers, ok, repository=repository, reference=reference
        )

    async def _lean_request(
        self, method: str, path: str, headers: Mapping[str, str], ok: tuple[int, ...] = (200,), **context: Any
    ) -> AnyResponse:
        """A read of the registry's own host (``path`` from ``/v2/``) with retries, by the lean
        path where it can serve (one aiohttp request: no httpx request, auth flow or response
        objects), else through httpx.

        The lean path sends what the auth already knows (see
        :meth:`RegistryAuth.known_authorization`) and never follows a redirect: on a 401 or a
        redirect, the same attempt goes through httpx, whose auth flow fetches tokens and whose
        redirects drop ``Authorization`` across hosts (the first request is counted too).
        """
        context = {"registry": self.host, **context}
        scope_path = path.partition("?")[0]

        async def attempt() -> AnyResponse:
            if self._lean:
                known, authorization = self.auth.known_authorization(self._base, scope_path, method)
                if known:
                    answer = await self._lean_send(method, path, headers, authorization)
                    if answer is not None:
                        return answer
            request = self._http.build_request(method, path, headers=headers)
            return await self._http.send(request, stream=True)

        response = await self._retrying(attempt, path, context)
        if response.status_code not in ok:
            await self.raise_for(response, **context)
        return response

    async def _lean_send(
        self, method: str, path: str, headers: Mapping[str, str], authorization: str | None
    ) -> LeanResponse | None:
        """One request over the transport's aiohttp session; None (after counting the request)
        when the answer is a 401 or a redirect, which only the httpx path handles."""
        if authorization is not None:
            headers = {**headers, "Authorization": authorization}
        url = self.base_url + path
        with map_aiohttp_exceptions():
            raw = await self._transport.session().request(
                method, url, headers=headers, allow_redirects=False, auto_decompress=False, timeout=_LEAN_TIMEOUT
            )
        status = raw.status
        if status != 401 and not (300 <= status < 400 and status != 304):
            return LeanResponse(raw, LeanRequest(method, url))
        self.requests += 1
        if status == 401:
            self.auth.refused(raw.headers.get("www-authenticate"), authorization)
        else:
            self._lean = False  # this registry redirects reads: httpx follows them
        raw.release()
        return None

    async def _retrying(self, attempt: Callable[[], Awaitable[R]], url: str | httpx.URL, context: dict[str, Any]) -> R:
        """The request loop: rate limit, bounded requests in flight, retries on connection
        errors and on 408/429/5xx (honouring ``Retry-After``); returns the last response."""
        for n in range(1, self.retry.attempts + 1):
            await self.limiter.acquire()
            try:
                async with self._slots:
                    response = await attempt()
            except httpx.TransportError as exc:
                self.requests += 1
                if n == self.retry.attempts:
                    raise RegistryUnavailableError(
                        f"cannot reach {redact(self._base.join(url))}: {exc or type(exc).__name__}", **context
                    ) from None
                self.retries += 1
                await asyncio.sleep(self.retry.backoff(n))
                continue
            self.requests += 1
            hint = retry_after_seconds(response.headers)
            if response.status_code in RETRY_STATUSES and n < self.retry.attempts:
                await response.aclose()
                if hint is not None and hint > MAX_RETRY_AFTER_SECONDS:
                    raise RateLimitedError(
                        f"registry asks to wait {hint:.0f} s before retrying", retry_after=hint,
                        status=response.status_code, **context,
                    )
                wait = hint if hint is not None else self.retry.backoff(n)
                if response.status_code == 429:
                    self.limiter.pause(wait)
                self.retries += 1
                await asyncio.sleep(wait)
                continue
            if hint is not None and response.status_code < 400:
                self.limiter.pause(min(hint, MAX_RETRY_AFTER_SECONDS))
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def read(self, response: AnyResponse, limit: int, what: str = "body") -> bytes:
        """Read a streamed body, refusing more than ``limit`` bytes; always closes the response."""
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise ManifestError(f"{what} of {declared} bytes exceeds the {limit}-byte limit", registry=self.host)
        chunks: list[bytes] = []
        total = 0
        try:
            async for chunk in response.aiter_raw():
                total += len(chunk)
                if total > limit:
                    raise ManifestError(f"{what} exceeds the {limit}-byte limit", registry=self.host)
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(
                f"{what} from {redact(response.request.url)} was cut short: {exc}", registry=self.host
            ) from None
        finally:
            await response.aclose()
        body = b"".join(chunks)
        if declared and declared.isdigit() and response.request.method != "HEAD" and len(body) != int(declared):
            raise RegistryUnavailableError(
                f"{what} from {redact(response.request.url)} is truncated: {len(body)} of {declared} bytes",
                registry=self.host,
            )
        return body

    async def raise_for(self, response: AnyResponse, **context: Any) -> None:
        """Raise the exception that matches an unsuccessful response."""
        body = b""
        if response.request.method != "HEAD":
            try:
                body = await self.read(response, MAX_ERROR_BYTES, "error body")
            except RegistryError:
                body = b""
        else:
            await response.aclose()
        codes, detail = _error_codes(body)
        status = response.status_code
        url = redact(response.request.url)
        message = f"{response.request.method} {url}: {detail or response.reason_phrase or 'error'}"
        kwargs = dict(context, status=status, codes=codes, detail=detail)
        if status == 401:
            raise UnauthorizedError(f"unauthorized: {message}", **kwargs)
        if status == 403 or "DENIED" in codes:
            raise ForbiddenError(f"forbidden: {message}", **kwargs)
        if status == 404:
            raise NotFoundError(f"not found: {message}", **kwargs)
        if status == 405 or "UNSUPPORTED" in codes:
            raise UnsupportedError(f"unsupported: {message}", **kwargs)
        if status == 429:
            raise RateLimitedError(
                f"rate limited: {message}", retry_after=retry_after_seconds(response.headers), **kwargs
            )
        if status >= 500:
            raise RegistryUnavailableError(f"server error: {message}", **kwargs)
        raise RegistryError(message, **kwargs)

    # -- reading ------------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when ``/v2/`` answers 200 with our credentials (the seed's ``authping``)."""
        try:
            response = await self.send("GET", "/v2/")
        except (UnauthorizedError, ForbiddenError, NotFoundError):
            return False
        await self.read(response, MAX_ERROR_BYTES)
        return True

    async def _pages(self, first: str, key: str, **context: Any) -> AsyncIterator[list[str]]:
        url: str | None = first
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            if url.startswith("/"):
                response: AnyResponse = await self._lean_request("GET", url, LIST_HEADERS, **context)
            else:  # a next page on another host
                response = await self.send("GET", url, **context)
            body = await self.read(response, MAX_MANIFEST_BYTES * 4, "list")
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise RegistryError(f"GET {redact(response.request.url)}: answer is not JSON", registry=self.host, **context) from None
            items = data.get(key) if isinstance(data, dict) else None
            yield [str(x) for x in items or []]
            url = next_link(response)

    async def catalog_pages(self, page_size: int = PAGE_SIZE) -> AsyncIterator[list[str]]:
        """Repository names, page by page, following ``Link`` to the end."""
        async for page in self._pages(f"/v2/_catalog?n={min(page_size, PAGE_SIZE)}", "repositories"):
            yield page

    async def catalog(self, page_size: int = PAGE_SIZE) -> list[str]:
        """Every repository name in the catalog."""
        return [name async for page in self.catalog_pages(page_size) for name in page]

    async def list_tags(self, repository: str, page_size: int = PAGE_SIZE) -> list[str]:
        """Every tag of a repository, following ``Link`` to the end."""
        validate_repository(repository)
        url = f"/v2/{repository}/tags/list?n={min(page_size, PAGE_SIZE)}"
        return [tag async for page in self._pages(url, "tags", repository=repository) for tag in page]

    async def head_manifest(self, repository: str, reference: str, known: ManifestHead | None = None) -> ManifestHead:
        """Digest, media type and size of a manifest by HEAD (GET when the digest header is absent).

        With ``known`` (what an earlier HEAD said), the HEAD is conditional (``If-None-Match``
        with its digest, the ETag distribution gives manifests): a 304 confirms that the
        reference still names that manifest, and ``known`` is returned. Distribution answers
        it from the tag link alone, without reading the manifest: a cheaper request.
        """
        etag = f'"{known.digest}"' if known is not None else None
        response = await self._manifest_request("HEAD", repository, reference, if_none_match=etag)
        await response.aclose()
        digest = response.headers.get("docker-content-digest")
        if known is not None and response.status_code == 304:
            if digest and digest != known.digest:
                raise DigestMismatchError(
                    f"HEAD answered 304 with digest {digest}, not {known.digest}",
                    registry=self.host, repository=repository, reference=reference,
                )
            return known
        if not digest:
            manifest = await self.get_manifest(repository, reference)
            return ManifestHead(manifest.digest, manifest.media_type, len(manifest.raw))
        if SHA256_RE.match(reference) and digest != reference:
            raise DigestMismatchError(
                f"HEAD answered digest {digest}", registry=self.host, repository=repository, reference=reference
            )
        return ManifestHead(
            digest, mt.normalize(response.headers.get("content-type")), int(response.headers.get("content-length") or 0)
        )

    async def get_manifest(self, repository: str, reference: str) -> Manifest:
        """Fetch and parse a manifest with the full Accept list; verify it against its digest."""
        context = {"registry": self.host, "repository": repository, "reference": reference}
        response = await self._manifest_request("GET", repository, reference)
        try:
            raw = await self.read(response, MAX_MANIFEST_BYTES, "manifest")
            manifest = parse_manifest(raw, response.headers.get("content-type"))
        except ManifestError as exc:
            raise ManifestError(exc.message, **context) from None
        announced = response.headers.get("docker-content-digest")
        expected = reference if SHA256_RE.match(reference) else announced
        if expected:
            content = schema1_payload(raw) if isinstance(manifest, Schema1Manifest) else raw
            actual = compute_like(expected, content)
            if actual != expected:
                raise DigestMismatchError(f"manifest bytes hash to {actual}, not {expected}", **context)
        return manifest

    async def get_blob(self, repository: str, digest: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
        """A small blob (a config), read whole and verified against its digest."""
        validate_repository(repository)
        response = await self.send(
            "GET", f"/v2/{repository}/blobs/{digest}", repository=repository, reference=digest,
            headers={"Accept-Encoding": "identity"},
        )
        data = await self.read(response, limit, "blob")
        actual = compute_like(digest, data)
        if actual != digest:
            raise DigestMismatchError(
                f"blob bytes hash to {actual}", registry=self.host, repository=repository, reference=digest
            )
        return data

    async def head_blob(self, repository: str, digest: str) -> int | None:
        """The size of a blob present in the repository, or None when it is not there."""
        try:
            response = await self.send("HEAD", f"/v2/{repository}/blobs/{digest}", repository=repository, reference=digest)
        except NotFoundError:
            return None
        await response.aclose()
        return int(response.headers.get("content-length") or 0)

    def known_authorization(self, url: httpx.URL, method: str) -> tuple[bool, str | None]:
        """(known, value): the ``Authorization`` a ``method`` request to ``url`` carries now, with
        no I/O (see :meth:`RegistryAuth.known_authorization`); none for another host."""
        if origin(url) != origin(self._base):
            return True, None
        return self.auth.known_authorization(self._base, urllib.parse.unquote(url.path), method)

    async def authorization(self, url: httpx.URL, method: str) -> str | None:
        """The ``Authorization`` a ``method`` request to ``url`` needs now, fetching a token if
        need be (see :meth:`RegistryAuth.authorize`); none for another host."""
        known, value = self.known_authorization(url, method)
        if known:
            return value
        request = self._http.build_request(method, url)
        await self.auth.authorize(request)
        return request.headers.get("authorization")

    async def blocking_blob_get(self, repository: str, digest: str) -> bulk.HttpSource:
        """What a worker thread needs to GET a blob itself (see :mod:`reginventory.client.bulk`),
        within the rate limit, with the token it needs fetched here."""
        url = self._base.join(f"/v2/{repository}/blobs/{digest}")
        authorization = await self.authorization(url, "GET")
        await self.limiter.acquire()
        self.requests += 1
        return bulk.HttpSource(str(url), authorization, self.tls)

    async def stream_blob(
        self, repository: str, digest: str, *, offset: int = 0, chunk_size: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream a blob's bytes from ``offset`` (HTTP Range), as received unless ``chunk_size``.

        The caller verifies the digest.
        """
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        response = await self.send(
            "GET", f"/v2/{repository}/blobs/{digest}", repository=repository, reference=digest,
            headers=headers, ok=(200, 206),
        )
        try:
            if offset and response.status_code == 200:
                skip = offset  # the registry ignored Range: drop what we already have
            else:
                skip = 0
            async for chunk in response.aiter_raw(chunk_size):
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                yield chunk
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(
                f"blob download cut short: {exc}", registry=self.host, repository=repository, reference=digest
            ) from None
        finally:
            await response.aclose()

    async def get_config(self, repository: str, manifest: ImageManifest) -> ImageConfig | None:
        """The parsed image config of an image manifest (None for artifacts without an image config)."""
        if manifest.config is None or manifest.config.media_type not in (mt.DOCKER_CONFIG, mt.OCI_CONFIG, ""):
            return None
        return parse_image_config(await self.get_blob(repository, manifest.config.digest))

    async def referrers(self, repository: str, digest: str, artifact_type: str | None = None) -> list[Descriptor] | None:
        """Referrers of a manifest by the OCI referrers API; None when the registry lacks it."""
        params = {"artifactType": artifact_type} if artifact_type else None
        try:
            response = await self.send(
                "GET", f"/v2/{repository}/referrers/{digest}", repository=repository, reference=digest,
                headers={"Accept": mt.OCI_INDEX}, params=params,
            )
        except (NotFoundError, UnsupportedError):
            return None  # a registry with the API never answers 404: use the tag fallback
        if mt.normalize(response.headers.get("content-type")) != mt.OCI_INDEX:
            await response.aclose()
            return None
        found: list[Descriptor] = []
        while True:
            raw = await self.read(response, MAX_MANIFEST_BYTES, "referrers index")
            index = parse_manifest(raw, mt.OCI_INDEX)
            assert isinstance(index, IndexManifest)
            found.extend(index.manifests)
            link = next_link(response)
            if not link:
                return found
            response = await self.send("GET", link, repository=repository, reference=digest, headers={"Accept": mt.OCI_INDEX})

    async def resolve_image(
        self, repository: str, reference: str, platform: Platform | None
    ) -> tuple[Manifest, Manifest]:
        """(top manifest, image manifest): for an index, the child for ``platform`` is fetched."""
        top = await self.get_manifest(repository, reference)
        if isinstance(top, IndexManifest):
            try:
                child = select_platform(top, platform or host_platform())
            except PlatformNotFoundError as exc:
                raise PlatformNotFoundError(
                    exc.message, available=exc.available, registry=self.host, repository=repository, reference=reference
                ) from None
            return top, await self.get_manifest(repository, child.digest)
        return top, top


    async def describe_image(self, repository: str, reference: str, platform: Platform | None = None) -> ImageInfo:
        """Metadata of one image; from an index, of the child for ``platform`` (default: this machine)."""
        top, image = await self.resolve_image(repository, reference, platform)
        config = await self.get_config(repository, image) if isinstance(image, ImageManifest) else None
        index = top if isinstance(top, IndexManifest) else None
        return image_info(self.host, repository, reference, image, config, index)

"""Registry authentication as one httpx ``Auth``: anonymous, Basic, and the bearer-token flow.

The flow for a request (``async_auth_flow``):

1. Attach what is already known for this host: Basic credentials, or a cached bearer token for
   the request's scope (``repository:<name>:pull`` for reads, ``pull,push`` for writes,
   ``delete`` for deletes, ``registry:catalog:*`` for the catalog).
2. On a 401, read the ``WWW-Authenticate`` challenge. Basic: send credentials and retry. Bearer:
   get a token from the realm for the scopes needed (the request's and the challenge's, which
   covers ``insufficient_scope``), cache it per (realm, service, scopes), and retry once.

Tokens come from ``GET realm?service=&scope=`` with Basic credentials (or none: an anonymous
token), or, once a refresh token is known (a docker ``identitytoken`` or one the server handed
out), from the OAuth2 ``POST realm`` with ``grant_type=refresh_token``. Passwords never travel over
plain HTTP to a host that is not loopback unless ``allow_insecure`` is set.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import AsyncGenerator, Awaitable, Callable, Iterable

import httpx

from reginventory.client.credentials import ANONYMOUS, Credentials
from reginventory.errors import InsecureRequestError, UnauthorizedError

#: Tokens are renewed this many seconds before they expire.
TOKEN_EXPIRY_SLACK_SECONDS = 10
#: The token spec says a token without ``expires_in`` lasts 60 seconds.
DEFAULT_TOKEN_LIFETIME_SECONDS = 60
CLIENT_ID = "reginventory"
#: Set this request extension to a list of extra scopes (e.g. the source of a blob mount).
EXTRA_SCOPES = "reginventory.scopes"

_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_RESOURCE_SUFFIX_RE = re.compile(r"/(manifests|blobs|tags|referrers)/")


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str  # "basic" or "bearer"
    params: dict[str, str]

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> list[str]:
        return self.params.get("scope", "").split() if self.params.get("scope") else []


def parse_challenge(header: str | None) -> Challenge | None:
    """Parse ``Bearer realm="...",service="...",scope="..."`` or ``Basic realm="..."``."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM_RE.finditer(rest)}
    params = {k: v.replace('\\"', '"') for k, v in params.items()}
    return Challenge(scheme.lower(), params)


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (with or without a port)."""
    name = host
    if name.startswith("["):
        name = name[1 : name.index("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def ensure_secure(url: httpx.URL, allow_insecure: bool, what: str) -> None:
    """Refuse to send a secret over plain HTTP to a host that is not loopback."""
    if url.scheme == "http" and not allow_insecure and not is_loopback(url.host):
        raise InsecureRequestError(
            f"refusing to send {what} over plain HTTP to {url.host}; use HTTPS or allow insecure explicitly",
            registry=url.netloc.decode(),
        )


def scopes_for(request: httpx.Request) -> list[str]:
    """The token scopes a registry request needs, from its path and method."""
    return scopes_for_path(urllib.parse.unquote(request.url.path), request.method, request.extensions.get(EXTRA_SCOPES, ()))


def scopes_for_path(path: str, method: str, extra: Iterable[str] = ()) -> list[str]:
    """The token scopes of a request to ``path`` (unquoted) by ``method``, plus ``extra``."""
    scopes: list[str] = list(extra)
    if path.rstrip("/") == "/v2/_catalog":
        return ["registry:catalog:*", *scopes]
    if not path.startswith("/v2/"):
        return scopes
    matches = list(_RESOURCE_SUFFIX_RE.finditer(path))
    if not matches:
        return scopes
    name = path[len("/v2/") : matches[-1].start()]
    method = method.upper()
    if method in ("GET", "HEAD"):
        actions = "pull"
    elif method == "DELETE":
        actions = "delete"
    else:
        actions = "pull,push"
    return [f"repository:{name}:{actions}", *scopes]


def merge_scopes(scopes: list[str]) -> tuple[str, ...]:
    """Union the actions of scopes on the same resource; sorted, for use as a cache key."""
    merged: dict[str, set[str]] = {}
    for scope in scopes:
        resource, _, actions = scope.rpartition(":")
        if not resource:
            continue
        merged.setdefault(resource, set()).update(a for a in actions.split(",") if a)
    return tuple(sorted(f"{resource}:{','.join(sorted(actions))}" for resource, actions in merged.items()))


@dataclass
class Token:
    value: str
    expires_at: float

    @property
    def valid(self) -> bool:
        return time.monotonic() < self.expires_at - TOKEN_EXPIRY_SLACK_SECONDS


def basic_header(credentials: Credentials) -> str:
    """The ``Authorization`` value for HTTP Basic."""
    pair = f"{credentials.username or ''}:{credentials.password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode()


TokenFetcher = Callable[[httpx.Request], Awaitable[httpx.Response]]


class RegistryAuth(httpx.Auth):
    """Anonymous, Basic and bearer-token authentication for one registry host."""

    def __init__(self, credentials: Credentials = ANONYMOUS, *, allow_insecure: bool = False) -> None:
        self.credentials = credentials
        self.allow_insecure = allow_insecure
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, str, tuple[str, ...]], Token] = {}
        self._locks: dict[tuple[str, str, tuple[str, ...]], asyncio.Lock] = {}
        self._refresh_token = credentials.identity_token
        self._send: TokenFetcher | None = None
        self.token_requests = 0

    def bind(self, send: TokenFetcher) -> None:
        """Give the auth a way to send token requests (a client without this auth)."""
        self._send = send

    def __repr__(self) -> str:
        return f"RegistryAuth({self.credentials!r})"

    def sync_auth_flow(self, request: httpx.Request):  # type: ignore[override]
        raise RuntimeError("RegistryAuth is used with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        scopes = scopes_for(request)
        await self._apply(request, scopes, fetch=True)
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("www-authenticate"))
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            return
        already_sent = "authorization" in request.headers
        self._challenge = challenge
        if challenge.scheme == "basic" and (self.credentials.anonymous or already_sent):
            return  # nothing new to try: the caller sees the 401
        await self._apply(request, [*scopes, *challenge.scopes], fetch=True, force=already_sent)
        yield request

    def known_authorization(self, url: httpx.URL, path: str, method: str) -> tuple[bool, str | None]:
        """(known, value): the ``Authorization`` a request to ``path`` on ``url``'s host would
        carry now, without any I/O; ``known`` is False when a bearer token must be fetched first
        (the request then goes through :meth:`async_auth_flow`)."""
        challenge = self._challenge
        if challenge is None:
            return True, None
        if challenge.scheme == "basic":
            if self.credentials.anonymous:
                return True, None
            ensure_secure(url, self.allow_insecure, "a password")
            return True, basic_header(self.credentials)
        key = (challenge.realm or "", challenge.service or "", merge_scopes(scopes_for_path(path, method)))
        token = self._tokens.get(key)
        if token is None or not token.valid:
            return False, None
        return True, f"Bearer {token.value}"

    async def authorize(self, request: httpx.Request) -> None:
        """Give ``request`` the ``Authorization`` it needs now, fetching a token if the one for
        its scope is missing or about to expire (no request is sent to the registry)."""
        await self._apply(request, scopes_for(request), fetch=True)

    def refused(self, challenge_header: str | None, sent: str | None) -> None:
        """A request sent with ``sent`` (see :meth:`known_authorization`) got a 401: learn the
        challenge, and forget the bearer token that was refused, so that the auth flow that
        retries the request fetches a new one instead of sending it again."""
        challenge = parse_challenge(challenge_header)
        if challenge is not None and challenge.scheme in ("basic", "bearer"):
            self._challenge = challenge
        if sent and sent.startswith("Bearer "):
            value = sent[len("Bearer "):]
            for key, token in list(self._tokens.items()):
                if token.value == value:
                    del self._tokens[key]

    async def _apply(self, request: httpx.Request, scopes: list[str], *, fetch: bool, force: bool = False) -> None:
        challenge = self._challenge
        if challenge is None:
            return
        if challenge.scheme == "basic":
            if not self.credentials.anonymous:
                ensure_secure(request.url, self.allow_insecure, "a password")
                request.headers["Authorization"] = basic_header(self.credentials)
            return
        key = (challenge.realm or "", challenge.service or "", merge_scopes(scopes))
        token = self._tokens.get(key)
        if (token is None or not token.valid or force) and fetch:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                token = self._tokens.get(key)
                stale = force and token is not None and request.headers.get("authorization") == f"Bearer {token.value}"
                if token is None or not token.valid or stale:
                    token = await self._fetch_token(challenge, key[2])
                    self._tokens[key] = token
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token.value}"

    async def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> Token:
        if self._send is None:
            raise RuntimeError("RegistryAuth.bind() was not called")
        if not challenge.realm:
            raise UnauthorizedError("bearer challenge without a realm")
        realm = httpx.URL(challenge.realm)
        self.token_requests += 1
        response = None
        if self._refresh_token:
            ensure_secure(realm, self.allow_insecure, "a refresh token")
            form = {
                "grant_type": "refresh_token", "refresh_token": self._refresh_token, "client_id": CLIENT_ID,
                "service": challenge.service or "", "scope": " ".join(scopes),
            }
            response = await self._send(httpx.Request("POST", realm, data=form))
            if response.status_code in (404, 405, 400) and self.credentials.password:
                response = None  # the realm has no OAuth2 endpoint: fall back to GET
        if response is None:
            params = [("service", challenge.service or "")] if challenge.service else []
            params += [("scope", s) for s in scopes]
            headers = {}
            if not self.credentials.anonymous and self.credentials.password is not None:
                ensure_secure(realm, self.allow_insecure, "a password")
                headers["Authorization"] = basic_header(self.credentials)
                params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
            response = await self._send(httpx.Request("GET", realm.copy_merge_params(params), headers=headers))
        if response.status_code in (401, 403):
            raise UnauthorizedError(
                f"token server {realm.host} refused the credentials for scope {' '.join(scopes) or '(none)'}",
                status=response.status_code,
            )
        if response.status_code != 200:
            raise UnauthorizedError(f"token server {realm.host} answered HTTP {response.status_code}", status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            raise UnauthorizedError(f"token server {realm.host} answered something that is not JSON") from None
        value = body.get("token") or body.get("access_token")
        if not value:
            raise UnauthorizedError(f"token server {realm.host} answered without a token")
        if body.get("refresh_token"):
            self._refresh_token = body["refresh_token"]
        lifetime = int(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
        return Token(value=value, expires_at=time.monotonic() + lifetime)

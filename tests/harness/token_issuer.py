"""A docker token-spec authorization server for tests (GET and OAuth2 POST ``/token``).

Signs RS256 JWTs with its own RSA key. The self-signed certificate is written to
``cert_path`` (the registry's ``rootcertbundle``) and named in the JWT header as
``x5c`` (default) or as the libtrust ``kid`` (``key_id_mode="kid"``).
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable

import jwt

from .pki import KeyPair, libtrust_kid, make_signing_cert, x5c_value

#: acl(username or None, resource type, resource name) -> allowed actions
Acl = Callable[[Any, str, str], Iterable[str]]

DEFAULT_SERVICE = "reginventory-test-registry"
DEFAULT_ISSUER = "reginventory-test-issuer"


def default_acl(username: str | None, rtype: str, name: str) -> set[str]:
    """Anonymous: ``pull`` on repositories; known user: pull/push/delete and ``registry:catalog:*``."""
    if rtype.startswith("repository"):
        return {"pull"} if username is None else {"pull", "push", "delete"}
    if rtype == "registry" and name == "catalog" and username is not None:
        return {"*"}
    return set()


@dataclass(frozen=True)
class Scope:
    """A parsed ``type:name:actions`` scope."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        rtype, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        return cls(rtype, name, tuple(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


@dataclass(frozen=True)
class TokenRequest:
    """One request the issuer saw (recorded whatever the outcome)."""

    method: str
    path: str
    scopes: tuple[str, ...]
    username: str | None
    grant_type: str | None
    service: str | None
    status: int
    access: tuple[dict[str, Any], ...] = ()
    offline: bool = False
    time: float = field(default_factory=time.time)


class _Reject(Exception):
    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(description or error)
        self.status, self.error, self.description = status, error, description


class TokenIssuer:
    """Threaded token server on 127.0.0.1; ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        users: dict[str, str] | None = None,
        acl: Acl | None = None,
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        expires_in: int = 300,
        key_id_mode: str = "x5c",
    ) -> None:
        self.directory = Path(directory or tempfile.mkdtemp(prefix="harness-issuer-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.users: dict[str, str] = dict(users if users is not None else {"alice": "alice-secret"})
        self.acl: Acl = acl or default_acl
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.key_id_mode = key_id_mode
        self.signing: KeyPair = make_signing_cert(self.directory)
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._refresh_tokens: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    @property
    def cert_path(self) -> Path:
        """PEM certificate to use as the registry's ``rootcertbundle``."""
        return self.signing.cert_path

    @property
    def port(self) -> int:
        assert self._server is not None, "issuer not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def start(self) -> TokenIssuer:
        """Bind a free port and serve in a daemon thread."""
        if self._server is None:
            handler = type("Handler", (_Handler,), {"issuer": self})
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, name="token-issuer", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- introspection
    @property
    def requests(self) -> list[TokenRequest]:
        """A copy of every recorded request, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def count(self, scope: str | None = None, *, username: str | None | object = ..., ok_only: bool = True) -> int:
        """How many (successful) token requests included ``scope`` (all if None) for ``username``."""
        n = 0
        for r in self.requests:
            if ok_only and r.status != 200:
                continue
            if scope is not None and scope not in r.scopes:
                continue
            if username is not ... and r.username != username:
                continue
            n += 1
        return n

    def _record(self, req: TokenRequest) -> None:
        with self._lock:
            self._requests.append(req)

    # -- token logic
    def authenticate(self, username: str | None, password: str | None) -> str | None:
        """Return the username, None for anonymous; raise 401 on bad credentials."""
        if username is None:
            return None
        if self.users.get(username) != password:
            raise _Reject(401, "unauthorized", "invalid username or password")
        return username

    def grant(self, username: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """Access entries: requested ∩ allowed actions per scope (``*`` allowed grants all)."""
        out: list[dict[str, Any]] = []
        for text in scopes:
            sc = Scope.parse(text)
            allowed = set(self.acl(username, sc.type, sc.name))
            if "*" in allowed:
                actions = list(sc.actions)
            else:
                actions = [a for a in sc.actions if a in allowed]
            out.append({"type": sc.type, "name": sc.name, "actions": actions})
        return out

    def make_token(self, username: str | None, access: list[dict[str, Any]], *, expires_in: int | None = None) -> str:
        """Sign a registry token (RS256, ``x5c`` or libtrust ``kid`` header)."""
        now = int(time.time())
        ttl = self.expires_in if expires_in is None else expires_in
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            "aud": self.service,
            "exp": now + ttl,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": access,
        }
        if self.key_id_mode == "kid":
            headers: dict[str, Any] = {"kid": libtrust_kid(self.signing.cert)}
        else:
            headers = {"x5c": [x5c_value(self.signing.cert)]}
        return jwt.encode(claims, self.signing.key, algorithm="RS256", headers=headers)  # type: ignore[arg-type]

    def issue(self, username: str | None, scopes: list[str], *, offline: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        access = self.grant(username, scopes)
        token = self.make_token(username, access)
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if scopes:
            body["scope"] = " ".join(scopes)
        if offline and username is not None:
            refresh = secrets.token_urlsafe(24)
            with self._lock:
                self._refresh_tokens[refresh] = username
            body["refresh_token"] = refresh
        return body, access

    def refresh_user(self, token: str) -> str:
        with self._lock:
            user = self._refresh_tokens.get(token)
        if user is None:
            raise _Reject(401, "invalid_grant", "unknown refresh token")
        return user


def _split_scopes(values: list[str]) -> list[str]:
    return [s for v in values for s in v.split(" ") if s]


class _Handler(BaseHTTPRequestHandler):
    issuer: TokenIssuer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _basic(self) -> tuple[str | None, str | None]:
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None, None
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            raise _Reject(400, "invalid_request", "bad basic auth header") from None
        return user, pw

    def _send(self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str, params: dict[str, list[str]]) -> None:
        iss = self.issuer
        path = urllib.parse.urlsplit(self.path).path
        scopes = _split_scopes(params.get("scope", []))
        service = (params.get("service") or [None])[0]
        grant_type = (params.get("grant_type") or [None])[0]
        username: str | None = None
        status = 200
        access: list[dict[str, Any]] = []
        offline = False
        try:
            if path.rstrip("/") != "/token":
                raise _Reject(404, "not_found", path)
            if service is not None and service != iss.service:
                raise _Reject(400, "invalid_request", f"unknown service {service!r}")
            if method == "GET":
                user, pw = self._basic()
                username = user
                offline = (params.get("offline_token") or ["false"])[0] == "true"
                username = iss.authenticate(user, pw)
            else:
                if not (params.get("client_id") or [""])[0]:
                    raise _Reject(400, "invalid_request", "client_id is required")
                offline = (params.get("access_type") or [""])[0] == "offline"
                if grant_type == "password":
                    username = (params.get("username") or [None])[0]
                    pw = (params.get("password") or [None])[0]
                    if username is None:
                        raise _Reject(400, "invalid_request", "username is required")
                    username = iss.authenticate(username, pw)
                elif grant_type == "refresh_token":
                    username = iss.refresh_user((params.get("refresh_token") or [""])[0])
                else:
                    raise _Reject(400, "unsupported_grant_type", str(grant_type))
            body, access = iss.issue(username, scopes, offline=offline)
            self._send(200, body)
        except _Reject as rej:
            status = rej.status
            extra = {"WWW-Authenticate": 'Basic realm="token"'} if status == 401 else None
            self._send(status, {"error": rej.error, "error_description": rej.description,
                                "errors": [{"code": "UNAUTHORIZED" if status == 401 else "DENIED",
                                            "message": rej.description or rej.error}]}, extra)
        finally:
            iss._record(TokenRequest(method, path, tuple(scopes), username, grant_type if method == "POST" else None,
                                     service, status, tuple(access), offline))

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET", urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        self._handle("POST", form)

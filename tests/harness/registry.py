"""A real CNCF distribution 2.8 registry (``docker-registry serve``) run as a subprocess.

Variants (``kind``): ``anonymous``, ``basic`` (htpasswd), ``tls`` (harness CA; optionally
requiring client certificates) and ``token`` (JWT bearer tokens from a ``TokenIssuer``).
Every instance owns a temp directory with ``config.yml``, ``registry.log`` and
``storage/``; it listens on ``127.0.0.1:<free port>`` and keeps that port across
``restart()`` and ``garbage_collect()``.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Generator, Mapping

import httpx

from .pki import KeyPair, issue_cert, make_ca
from .token_issuer import TokenIssuer

REGISTRY_BIN = "/usr/bin/docker-registry"
KINDS = ("anonymous", "basic", "tls", "token")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

_ALL: list[RegistryServer] = []
_ALL_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    """Do not leave registry processes behind when the interpreter exits."""
    for server in all_servers():
        server.stop()


atexit.register(_stop_all_at_exit)


def all_servers() -> list[RegistryServer]:
    """Every ``RegistryServer`` started in this process (for log reporting)."""
    with _ALL_LOCK:
        return list(_ALL)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (may race; ``start`` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def to_yaml(obj: Any, indent: int = 0) -> str:
    """Tiny YAML emitter for nested dicts/lists of scalars (strings JSON-quoted)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if isinstance(v, Mapping) and v:
                lines.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (Mapping, list)) and v:
                inner = to_yaml(v, indent + 2).lstrip()
                lines.append(f"{pad}- {inner}")
            else:
                lines.append(f"{pad}- {_scalar(v)}")
    return "\n".join(lines)


def _scalar(v: Any) -> str:
    if isinstance(v, Mapping):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(v)


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into a copy of ``base``; a ``None`` value deletes the key."""
    out = dict(base)
    for k, v in extra.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


class ChallengeAuth(httpx.Auth):
    """httpx auth: Basic on demand, or Bearer tokens fetched from the challenge realm.

    Tokens are cached per scope string; a 401 with a Bearer challenge fetches one
    (with the Basic credentials if given) and retries once.
    """

    def __init__(self, username: str | None, password: str | None, *, verify: Any = True) -> None:
        self.username, self.password, self.verify = username, password, verify
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic" and self.username is not None:
            creds = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            request.headers["Authorization"] = f"Basic {creds}"
            yield request
            return
        if scheme.lower() != "bearer":
            return
        params = parse_challenge(params_text)
        scope = params.get("scope", "")
        with self._lock:
            token = self._tokens.get(scope)
        if token is None:
            query: dict[str, str] = {"service": params.get("service", "")}
            if scope:
                query["scope"] = scope
            auth = (self.username, self.password or "") if self.username is not None else None
            r = httpx.get(params["realm"], params=query, auth=auth, verify=self.verify, timeout=10)
            r.raise_for_status()
            token = r.json().get("token") or r.json()["access_token"]
            with self._lock:
                self._tokens[scope] = token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def parse_challenge(text: str) -> dict[str, str]:
    """Parse ``realm="..",service="..",scope=".."`` (quoted values may hold commas)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().strip(",").strip()
        if eq + 1 < len(text) and text[eq + 1] == '"':
            end = text.find('"', eq + 2)
            end = len(text) if end < 0 else end
            out[key] = text[eq + 2 : end]
            i = end + 1
        else:
            end = text.find(",", eq)
            end = len(text) if end < 0 else end
            out[key] = text[eq + 1 : end].strip()
            i = end
        while i < len(text) and text[i] in ", ":
            i += 1
    return out


class RegistryError(RuntimeError):
    """The registry subprocess failed to start or to collect garbage."""


class RegistryServer:
    """One ``docker-registry serve`` process with its own storage, config and log."""

    def __init__(
        self,
        kind: str = "anonymous",
        *,
        directory: Path | None = None,
        delete_enabled: bool = True,
        username: str = "alice",
        password: str = "alice-secret",
        token_issuer: TokenIssuer | None = None,
        require_client_cert: bool = False,
        extra_config: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if kind == "token" and token_issuer is None:
            raise ValueError("kind='token' needs a token_issuer")
        self.kind = kind
        self.name = name or kind
        self.directory = Path(directory or tempfile.mkdtemp(prefix=f"harness-registry-{kind}-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.root = self.directory / "storage"
        self.root.mkdir(exist_ok=True)
        self.config_path = self.directory / "config.yml"
        self.log_path = self.directory / "registry.log"
        self.delete_enabled = delete_enabled
        self.require_client_cert = require_client_cert
        self.extra_config = dict(extra_config or {})
        self.token_issuer = token_issuer
        self.username: str | None = None
        self.password: str | None = None
        if kind == "basic":
            self.username, self.password = username, password
        elif kind == "token":
            assert token_issuer is not None
            self.username = username if username in token_issuer.users else next(iter(token_issuer.users), None)
            self.password = token_issuer.users.get(self.username) if self.username else None
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ca: KeyPair | None = None
        self.server_cert: KeyPair | None = None
        self.client_cert: KeyPair | None = None
        self.htpasswd_path: Path | None = None
        self._setup_auth()
        self.write_config()

    # -- construction helpers
    @classmethod
    def anonymous(cls, **kw: Any) -> RegistryServer:
        return cls("anonymous", **kw)

    @classmethod
    def basic(cls, **kw: Any) -> RegistryServer:
        return cls("basic", **kw)

    @classmethod
    def tls(cls, **kw: Any) -> RegistryServer:
        return cls("tls", **kw)

    @classmethod
    def token(cls, token_issuer: TokenIssuer, **kw: Any) -> RegistryServer:
        return cls("token", token_issuer=token_issuer, **kw)

    def _setup_auth(self) -> None:
        if self.kind == "basic":
            assert self.username is not None and self.password is not None
            out = subprocess.run(
                ["htpasswd", "-Bbn", self.username, self.password], check=True, capture_output=True
            ).stdout
            self.htpasswd_path = self.directory / "htpasswd"
            self.htpasswd_path.write_bytes(out)
        if self.kind == "tls":
            pki = self.directory / "pki"
            self.ca = make_ca(pki)
            self.server_cert = issue_cert(self.ca, pki, "server")
            # skopeo/containers cert dir: *.crt = CAs, *.cert + *.key = client pair.
            self.cert_dir.mkdir(exist_ok=True)
            shutil.copy(self.ca.cert_path, self.cert_dir / "ca.crt")
            self.client_cert = issue_cert(self.ca, self.client_cert_dir, "client", server=False, cert_suffix=".cert")
            shutil.copy(self.ca.cert_path, self.client_cert_dir / "ca.crt")

    @property
    def cert_dir(self) -> Path:
        """Directory with ``ca.crt`` only (skopeo ``--*-cert-dir``)."""
        return self.directory / "certs.d"

    @property
    def client_cert_dir(self) -> Path:
        """Directory with ``ca.crt``, ``client.cert`` and ``client.key`` (client-cert auth)."""
        return self.directory / "certs-client.d"

    @property
    def ca_path(self) -> Path | None:
        """PEM of the CA that signed the server certificate (TLS variant only)."""
        return self.ca.cert_path if self.ca else None

    @property
    def tls(self) -> bool:
        return self.kind == "tls"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def config(self) -> dict[str, Any]:
        """The distribution configuration as a dict (written to ``config_path``)."""
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root)},
                "delete": {"enabled": self.delete_enabled},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                "secret": "reginventory-harness-secret",
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.kind == "basic":
            cfg["auth"] = {"htpasswd": {"realm": "reginventory-basic", "path": str(self.htpasswd_path)}}
        if self.kind == "tls":
            assert self.server_cert is not None and self.ca is not None
            tls: dict[str, Any] = {
                "certificate": str(self.server_cert.cert_path),
                "key": str(self.server_cert.key_path),
            }
            if self.require_client_cert:
                tls["clientcas"] = [str(self.ca.cert_path)]
            cfg["http"]["tls"] = tls
        if self.kind == "token":
            iss = self.token_issuer
            assert iss is not None
            cfg["auth"] = {
                "token": {
                    "realm": iss.realm,
                    "service": iss.service,
                    "issuer": iss.issuer,
                    "rootcertbundle": str(iss.cert_path),
                }
            }
        return deep_merge(cfg, self.extra_config)

    def write_config(self) -> None:
        self.config_path.write_text(to_yaml(self.config()) + "\n")

    # -- process control
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> RegistryServer:
        """Start the process and wait until ``GET /v2/`` answers 200 or 401."""
        if self.running:
            return self
        if self.kind == "token" and self.token_issuer is not None:
            self.token_issuer.start()
        for attempt in range(3):
            self.write_config()
            with open(self.log_path, "ab") as log:
                log.write(f"--- harness: starting {self.name} on {self.host}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    [REGISTRY_BIN, "serve", str(self.config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            with _ALL_LOCK:
                if self not in _ALL:
                    _ALL.append(self)
            try:
                self._wait_ready(timeout)
                return self
            except RegistryError:
                self.stop()
                if "address already in use" in self.log_tail(20) and attempt < 2:
                    self.port = free_port()
                    continue
                raise
        raise RegistryError("unreachable")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: str = ""
        with httpx.Client(verify=self.ssl_context(client_cert=self.require_client_cert), timeout=2, trust_env=False) as c:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RegistryError(f"registry exited early:\n{self.log_tail(30)}")
                try:
                    r = c.get(f"{self.url}/v2/")
                    if r.status_code in (200, 401):
                        return
                    last = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.05)
        raise RegistryError(f"registry not ready after {timeout}s ({last}):\n{self.log_tail(30)}")

    def stop(self) -> None:
        """SIGTERM the process (by pid), then SIGKILL after a grace period."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            pass

    def restart(self) -> RegistryServer:
        """Stop and start again on the same port and storage."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and forget this server (keeps files for post-mortem)."""
        self.stop()
        with _ALL_LOCK:
            if self in _ALL:
                _ALL.remove(self)

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def garbage_collect(self, delete_untagged: bool = False, dry_run: bool = False) -> str:
        """Run ``docker-registry garbage-collect`` with the server stopped, then restart it.

        The server is stopped first because collecting while it serves can corrupt
        uploads and its blob cache may keep answering for deleted blobs. It is
        started again (same port) only if it was running. Returns the command output.
        """
        was_running = self.running
        self.stop()
        cmd = [REGISTRY_BIN, "garbage-collect", str(self.config_path)]
        if delete_untagged:
            cmd.append("--delete-untagged=true")
        if dry_run:
            cmd.append("--dry-run=true")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        output = proc.stdout + proc.stderr
        with open(self.log_path, "a") as log:
            log.write(f"--- harness: {' '.join(cmd)} -> {proc.returncode}\n{output}")
        if was_running:
            self.start()
        if proc.returncode != 0:
            raise RegistryError(f"garbage-collect failed ({proc.returncode}):\n{output}")
        return output

    # -- inspection
    def blob_bytes(self) -> int:
        """Total size of ``data`` files under ``<root>/docker/registry/v2/blobs/``."""
        blobs = self.root / "docker" / "registry" / "v2" / "blobs"
        return sum(p.stat().st_size for p in blobs.rglob("data") if p.is_file()) if blobs.exists() else 0

    def blob_digests(self) -> set[str]:
        """Digests of every blob stored (manifests included)."""
        blobs = self.root / "docker" / "registry" / "v2" / "blobs"
        return {f"{p.parent.parent.parent.name}:{p.parent.name}" for p in blobs.rglob("data")} if blobs.exists() else set()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_tail(self, n: int = 50, since: int = 0) -> str:
        """The last ``n`` lines of the log (only bytes after offset ``since``)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(since)
            data = f.read().decode(errors="replace")
        return "\n".join(data.splitlines()[-n:])

    # -- clients
    def ssl_context(self, *, client_cert: bool = False) -> ssl.SSLContext | bool:
        """An SSL context trusting the harness CA (TLS variant) or True."""
        if not self.tls or self.ca is None:
            return True
        ctx = ssl.create_default_context(cafile=str(self.ca.cert_path))
        if client_cert and self.client_cert is not None:
            ctx.load_cert_chain(str(self.client_cert.cert_path), str(self.client_cert.key_path))
        return ctx

    def http_client(self, *, authenticated: bool = True, client_cert: bool | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client on ``url`` with CA trust and (optionally) credentials.

        Extra keyword ``scopes`` is accepted and ignored (tokens follow challenges).
        """
        kwargs.pop("scopes", None)
        use_cert = self.require_client_cert if client_cert is None else client_cert
        auth: httpx.Auth | None = None
        if authenticated and self.kind == "basic":
            auth = httpx.BasicAuth(self.username or "", self.password or "")
        elif authenticated:
            auth = ChallengeAuth(self.username, self.password)
        return httpx.Client(
            base_url=self.url,
            verify=self.ssl_context(client_cert=use_cert),
            auth=auth,
            timeout=kwargs.pop("timeout", 30),
            trust_env=False,
            **kwargs,
        )

    def skopeo_args(self, direction: str = "") -> list[str]:
        """skopeo flags to reach this registry; ``direction`` is ``src``, ``dest`` or ``""``."""
        p = f"--{direction}-" if direction else "--"
        args = [f"{p}tls-verify={'true' if self.tls else 'false'}"]
        if self.tls:
            cert_dir = self.client_cert_dir if self.require_client_cert else self.cert_dir
            args.append(f"{p}cert-dir={cert_dir}")
        if self.username is not None:
            args.append(f"{p}creds={self.username}:{self.password}")
        else:
            args.append(f"{p}no-creds")
        return args

    def __repr__(self) -> str:
        return f"RegistryServer(kind={self.kind!r}, url={self.url!r}, running={self.running})"

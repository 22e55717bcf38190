"""A scripted HTTP server on loopback, for faults the real registry cannot produce.

Each route is ``(method, path) -> handler``; a handler gets the request and returns a
``Reply`` (status, headers, body, and optionally a body cut short). Every request is recorded
with its headers, so tests can prove what was (not) sent. Used only for 429 storms, truncated
bodies, wrong digests, hostile redirects and similar misbehaviour.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

__all__ = ["FakeRegistry", "Reply", "Seen"]


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncate_to: int | None = None  # send only this many body bytes, then close
    chunked: bool = False  # send the body with Transfer-Encoding: chunked (no Content-Length)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Seen], Reply]


class FakeRegistry:
    """A threaded loopback HTTP server with scripted routes; ``host`` may be any 127.x address."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with fake._lock:
                    fake.seen.append(seen)
                handler = fake.routes.get((self.command, self.path.split("?")[0])) or fake.routes.get((self.command, self.path))
                reply = handler(seen) if handler else Reply(404, {"Content-Type": "application/json"},
                                                             b'{"errors":[{"code":"NAME_UNKNOWN","message":"no route"}]}')
                self.send_response(reply.status)
                framing = {"Transfer-Encoding": "chunked"} if reply.chunked else {"Content-Length": str(len(reply.body))}
                headers = {**framing, **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    body = reply.body if reply.truncate_to is None else reply.body[: reply.truncate_to]
                    if reply.chunked:
                        for start in range(0, len(body), 1 << 20):
                            piece = body[start : start + (1 << 20)]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.wfile.write(body)
                if reply.truncate_to is not None:
                    self.wfile.flush()
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer((host, 0), RequestHandler)
        self._server.daemon_threads = True
        self.host = f"{host}:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def route(self, method: str, path: str, handler: Handler | Reply) -> None:
        """Serve ``handler`` (or always the same Reply) for a method and path (query ignored)."""
        self.routes[(method, path)] = handler if callable(handler) else (lambda _seen, r=handler: r)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path.split("?")[0] == path]

    def __enter__(self) -> FakeRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

"""Helpers of the write-path tests: a loopback proxy that cuts or slows blob downloads, and more."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import httpx
from reginventory.client.registry_client import RegistryClient

T = TypeVar("T")


class CuttingProxy:
    """A reverse proxy to a real registry for GET/HEAD that cuts (or throttles) blob bodies.

    ``cut_after``: each blob response is closed after this many body bytes (the registry's
    Content-Length is kept, so the client sees a truncated body). ``delay``: seconds slept per
    64 KiB of blob body. ``ranges`` records the Range header of every blob GET.
    """

    def __init__(self, upstream: str, *, cut_after: int | None = None, delay: float = 0.0) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.delay = delay
        self.ranges: list[str | None] = []
        self.bytes_sent = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _forward(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                blob = "/blobs/" in self.path and self.command == "GET"
                if blob:
                    proxy.ranges.append(self.headers.get("Range"))
                with httpx.Client(timeout=30) as client, client.stream(
                    self.command, proxy.upstream + self.path, headers=headers
                ) as response:
                    self.send_response(response.status_code)
                    for key, value in response.headers.raw:
                        if key.lower() not in (b"transfer-encoding", b"connection"):
                            self.send_header(key.decode(), value.decode())
                    cut = blob and proxy.cut_after is not None
                    if cut:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    sent = 0
                    for piece in response.iter_raw(64 * 1024):
                        if cut and sent + len(piece) > proxy.cut_after:  # type: ignore[operator]
                            piece = piece[: proxy.cut_after - sent]  # type: ignore[operator]
                            self.wfile.write(piece)
                            proxy.bytes_sent += len(piece)
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        self.wfile.write(piece)
                        sent += len(piece)
                        proxy.bytes_sent += len(piece)
                        if blob and proxy.delay:
                            self.wfile.flush()
                            time.sleep(proxy.delay)

            do_GET = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def run(coroutine_factory: Callable[..., Awaitable[T]], *urls: str, **client_options: Any) -> T:
    """Run ``coroutine_factory(*clients)`` with one RegistryClient per URL (no docker config)."""

    async def main() -> T:
        clients = [RegistryClient(url, use_docker_config=False, **client_options) for url in urls]
        try:
            return await coroutine_factory(*clients)
        finally:
            for client in clients:
                await client.aclose()

    return asyncio.run(main())


def access_log(server: Any, method: str, pattern: str = "") -> list[tuple[str, int, int]]:
    """(path, status, bytes) of access-log lines of ``server`` for ``method`` whose path matches."""
    found = []
    for match in re.finditer(rf'"{method} (\S+) HTTP/1\.1" (\d+) (\d+)', server.log_text()):
        if re.search(pattern, match.group(1)):
            found.append((match.group(1), int(match.group(2)), int(match.group(3))))
    return found


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
